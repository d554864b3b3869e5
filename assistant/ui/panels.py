"""The widgets around the conversation on the chat screen: the message box,
the footer of keys, the status line, the sources panel and the slash
completions (the conversation's own widgets are in ``widgets.py``).

As there, every string from the model, the database or a file is shown as
plain content: control bytes and ``[markup]`` are displayed, not obeyed.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message as TextualMessage
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from assistant.domain import Citation
from assistant.textsafe import one_line, sanitize
from assistant.ui.widgets import plain


class PromptInput(TextArea):
    """The message box. Enter sends (or queues, while a reply streams),
    Shift+Enter and Ctrl+J insert a new line; Up and Down in an empty box (or
    one showing a recalled message) go through your earlier messages;
    PageUp/PageDown scroll the chat. It is never locked: what you type while a
    reply streams stays."""

    class Submitted(TextualMessage):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Completion(TextualMessage):
        """Tab, Up or Down while slash completions are shown."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    class Page(TextualMessage):
        """PageUp (-1) or PageDown (+1): the chat scrolls."""

        def __init__(self, step: int) -> None:
            super().__init__()
            self.step = step

    class Recall(TextualMessage):
        """Up in an empty box: the app may give back a pending message first."""

    def __init__(self, id: str | None = None) -> None:
        super().__init__(
            soft_wrap=True,
            tab_behavior="focus",
            show_line_numbers=False,
            highlight_cursor_line=False,
            placeholder="Message (Enter sends, Shift+Enter new line)",
            id=id,
        )
        self.recall_list: list[str] = []
        """Your earlier messages in this conversation, oldest first (set by the app)."""
        self._recall: int | None = None  # index into history while recalling
        self._draft = ""

    completing: bool = False
    """Set by the app while the slash completion list is shown."""

    def reset_recall(self) -> None:
        self._recall = None
        self._draft = ""

    def _recalling(self) -> bool:
        return self._recall is not None and self.text == self.recall_list[self._recall]

    def recall(self, step: int) -> bool:
        """Move through ``recall_list``; False when there is nowhere to go."""
        if not self.recall_list:
            return False
        if not self._recalling():
            if self.text.strip() or step > 0:
                return False
            self._draft, self._recall = self.text, len(self.recall_list)
        assert self._recall is not None
        place = self._recall + step
        if place < 0:
            return True  # at the oldest: stay
        if place >= len(self.recall_list):
            self._recall = None
            self.load_text(self._draft)
        else:
            self._recall = place
            self.load_text(self.recall_list[place])
        self.move_cursor(self.document.end)
        return True

    async def _on_key(self, event: events.Key) -> None:
        if self.completing and event.key in ("tab", "up", "down"):
            event.stop()
            event.prevent_default()
            self.post_message(self.Completion(event.key))
            return
        if event.key in ("pageup", "pagedown"):
            event.stop()
            event.prevent_default()
            self.post_message(self.Page(-1 if event.key == "pageup" else 1))
            return
        if event.key == "up" and self.cursor_location[0] == 0:
            if not self.text.strip() and not self._recalling():
                event.stop()
                event.prevent_default()
                self.post_message(self.Recall())
                return
            if self._recalling() and self.recall(-1):
                event.stop()
                event.prevent_default()
                return
        if (
            event.key == "down"
            and self._recalling()
            and self.cursor_location[0] == self.document.line_count - 1
            and self.recall(1)
        ):
            event.stop()
            event.prevent_default()
            return
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self.text))
            return
        if event.key in ("shift+enter", "ctrl+j"):
            event.stop()
            event.prevent_default()
            start, end = self.selection
            self._replace_via_keyboard("\n", start, end)
            return
        await super()._on_key(event)


class KeysFooter(Footer):
    """The footer, rebuilt at most once a frame however many times the keys
    change in it, rather than once per change: at start-up the focus
    settles in three steps, and Textual's footer rebuilt its keys three
    times before the sidebar could be drawn (twice now). The rebuild reads
    the keys as they are when it runs. The chat screen mounts it after the
    sidebar's first page: its keys are a widget each, styled one by one,
    and cost a third of the first frame (bench.history: sidebar first paint
    median 146 -> 102 ms on 2,000 conversations, warm)."""

    _redraw_due = False

    def bindings_changed(self, screen: Screen[object]) -> None:
        if self._redraw_due:
            return
        self._redraw_due = screen.app.app_focus and self.is_attached and screen is self.screen
        super().bindings_changed(screen)

    async def recompose(self) -> None:
        self._redraw_due = False
        await super().recompose()

    def on_mount(self) -> None:
        super().on_mount()
        # mounted after the first page of the sidebar (ChatScreen): the
        # screen's keys were announced before it listened
        self.bindings_changed(self.screen)


class StatusLine(Static):
    """The latest notice (first, so it is never the part cut off), model,
    persona, notes and speed of the last reply on the left; how full the
    context window is on the right, always whole (the left part is cut first
    when the line is too narrow)."""

    model_text: reactive[str] = reactive("")
    """The model in use, or what is happening to it (loading, failed)."""
    persona_text: reactive[str] = reactive("")
    """The persona of this conversation, when it has one."""
    speed_text: reactive[str] = reactive("")
    """Tokens per second of the last reply."""
    context_text: reactive[str] = reactive("")
    """How full the context window is: the last prompt plus its reply."""
    notice_text: reactive[str] = reactive("")
    """The latest notice, e.g. how many earlier messages were left out to fit."""
    notes_text: reactive[str] = reactive("")
    """Whether replies use the notes, and the state of the notes index."""

    def render(self) -> Content:
        parts = [
            self.notice_text,
            self.model_text,
            self.persona_text,
            self.notes_text,
            self.speed_text,
        ]
        left = "  │  ".join(p for p in parts if p)
        right = self.context_text
        width = max(0, self.content_region.width or self.size.width)
        if not right:
            return plain(left)
        room = width - len(right) - 2
        if room <= 0:
            return plain(right[:width])
        if len(left) > room:
            left = left[: max(0, room - 1)] + "…"
        return plain(left.ljust(room) + "  " + right)

    def show_context(self, used_tokens: int, context_size: int, memory_tokens: int = 0) -> None:
        """``used_tokens``: the prompt and the reply, as the next message would
        find them; ``memory_tokens``: of those, the memories given."""
        share = used_tokens / context_size if context_size else 0.0
        memory = f", memories {memory_tokens}" if memory_tokens else ""
        self.context_text = f"context {used_tokens}/{context_size} ({share:.0%}{memory})"
        self.set_class(share >= 0.8, "-context-full")

    def clear_context(self) -> None:
        self.context_text = ""
        self.remove_class("-context-full")


# ------------------------------------------------------------ notes, slash
def citation_label(citation: Citation) -> str:
    """``[1] collection/notes/a.md:3-9 (page 2) — Heading``, on one line and
    sanitised: the same words as the CLI and the exports."""
    return one_line(citation.label)


class SourcesPanel(Vertical):
    """The citations of the selected reply; Enter or e opens one (text files
    in $EDITOR at the line, PDF and DOCX as the cited passage); Esc goes back
    to the message box."""

    BINDINGS = [
        Binding("e", "open_selected", "Open"),
        Binding("escape", "leave", "Back", show=False),
    ]

    class OpenSource(TextualMessage):
        def __init__(self, citation: Citation) -> None:
            super().__init__()
            self.citation = citation

    class Leave(TextualMessage):
        """Esc in the sources: back to the message box."""

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.citations: list[Citation] = []

    def compose(self) -> ComposeResult:
        yield Label("Sources", id="sources-title")
        yield OptionList(id="sources-list")

    def on_mount(self) -> None:
        self.display = False

    def show(self, citations: list[Citation]) -> None:
        self.citations = list(citations)
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(Option(Content(citation_label(c))) for c in self.citations)
        if self.citations:
            options.highlighted = 0
        self.display = bool(self.citations)

    @property
    def selected(self) -> Citation | None:
        index = self.query_one(OptionList).highlighted
        if not self.citations:
            return None
        return self.citations[index if index is not None else 0]

    def action_open_selected(self) -> None:
        if self.selected is not None:
            self.post_message(self.OpenSource(self.selected))

    def action_leave(self) -> None:
        self.post_message(self.Leave())

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.OpenSource(self.citations[event.option_index]))


class SlashOptions(OptionList):
    """Completions for a slash command being typed, each with what it does;
    Tab takes the highlighted one."""

    can_focus = False

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.values: list[str] = []

    def show(self, candidates: list[tuple[str, str]]) -> None:
        """``candidates``: (the completed line, its description)."""
        self.values = [value for value, _ in candidates]
        self.clear_options()
        self.add_options(
            Option(Content(sanitize(f"{value}  — {about}" if about else value)))
            for value, about in candidates
        )
        self.display = bool(candidates)
        if candidates:
            self.highlighted = 0

    @property
    def choice(self) -> str | None:
        index = self.highlighted
        if index is None or not self.display or not 0 <= index < len(self.values):
            return None
        return self.values[index]
