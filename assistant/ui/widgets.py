"""The widgets of the chat screen: sidebar, message views, input, status line.

Every string that came from the model or the database passes through
``assistant.textsafe.sanitize`` and is shown as plain content (never as
markup), so control bytes and ``[markup]`` in a reply are displayed, not obeyed.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message as TextualMessage
from textual.reactive import reactive
from textual.widgets import Label, ListItem, ListView, Markdown, OptionList, Static, TextArea
from textual.widgets.markdown import MarkdownFence, MarkdownStream
from textual.widgets.option_list import Option

from assistant.domain import Citation, Conversation, Message, MessageStatus, Role
from assistant.textsafe import one_line, sanitize


def plain(text: str) -> Content:
    """Untrusted text as displayable content: control bytes made visible, no markup."""
    return Content(sanitize(text))


def code_blocks(markdown: str) -> list[str]:
    """The fenced and indented code blocks of a Markdown text, in order, without
    their final new line (so a pasted command does not run by itself)."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    return [t.content.rstrip("\n") for t in tokens if t.type in ("fence", "code_block")]


class SafeStreamText:
    """Sanitises a reply piece by piece.

    A CR LF pair split across two pieces must still read as one new line, so a
    trailing carriage return is held back until the next piece decides it.
    """

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        text = self._held + piece
        self._held = ""
        if text.endswith("\r"):
            text, self._held = text[:-1], "\r"
        return sanitize(text)

    def flush(self) -> str:
        text, self._held = self._held, ""
        return sanitize(text)


# ----------------------------------------------------------------- sidebar
class ConversationItem(ListItem):
    def __init__(self, conversation: Conversation) -> None:
        super().__init__(id=f"conversation-{conversation.id}")
        self.conversation = conversation

    def compose(self) -> ComposeResult:
        yield Label(plain(self.conversation.title), classes="title")


class ConversationList(ListView):
    """The conversations, newest first. Enter opens; Delete and r act on the
    highlighted one (the app asks before deleting)."""

    BINDINGS = [
        ("delete", "delete_highlighted", "Delete"),
        ("r", "rename_highlighted", "Rename"),
    ]

    class Action(TextualMessage):
        """The user asked for ``action`` on conversation ``conversation_id``."""

        def __init__(self, action: str, conversation_id: int) -> None:
            super().__init__()
            self.action = action
            self.conversation_id = conversation_id

    @property
    def highlighted_id(self) -> int | None:
        item = self.highlighted_child
        return item.conversation.id if isinstance(item, ConversationItem) else None

    async def show(self, conversations: list[Conversation], current_id: int | None) -> None:
        await self.clear()
        await self.extend(ConversationItem(c) for c in conversations)
        self.select_id(current_id)

    def select_id(self, conversation_id: int | None) -> None:
        for index, item in enumerate(self.children):
            if isinstance(item, ConversationItem) and item.conversation.id == conversation_id:
                self.index = index
                return
        self.index = None

    def on_focus(self) -> None:
        if self.index is None and self.children:
            self.index = 0

    def action_delete_highlighted(self) -> None:
        if self.highlighted_id is not None:
            self.post_message(self.Action("delete", self.highlighted_id))

    def action_rename_highlighted(self) -> None:
        if self.highlighted_id is not None:
            self.post_message(self.Action("rename", self.highlighted_id))


# ------------------------------------------------------------------ messages
class CopyableFence(MarkdownFence):
    """A code block that copies itself to the clipboard when clicked."""

    def on_click(self, event: events.Click) -> None:
        event.stop()
        code = self.code.rstrip("\n")
        self.app.copy_to_clipboard(code)
        lines = code.count("\n") + 1
        self.app.notify(f"Copied the code block ({lines} lines).", markup=False)


class ReplyMarkdown(Markdown):
    """Markdown for model output: code blocks are copyable, links are not
    followed (a click copies the address instead, so a reply cannot open a
    browser on its own)."""

    BLOCKS = {**Markdown.BLOCKS, "fence": CopyableFence, "code_block": CopyableFence}

    def __init__(self, markdown: str = "") -> None:
        super().__init__(markdown, open_links=False)

    def on_markdown_link_clicked(self, event: Markdown.LinkClicked) -> None:
        event.stop()
        href = sanitize(event.href)
        self.app.copy_to_clipboard(href)
        self.app.notify(f"Copied the link {href}", markup=False)


STATUS_NOTES = {
    MessageStatus.CANCELLED: "stopped — the partial reply is kept",
    MessageStatus.INTERRUPTED: "interrupted — the app closed during this reply",
    MessageStatus.STREAMING: "writing…",
}


def reply_footer(message: Message) -> tuple[str, str]:
    """The line under a reply and its CSS class: stats, plus the status when
    the reply did not end normally."""
    parts: list[str] = []
    if message.completion_tokens:
        parts.append(f"{message.completion_tokens} tokens")
    if message.tokens_per_second:
        parts.append(f"{message.tokens_per_second:.1f} tok/s")
    kind = "stats"
    if message.status == MessageStatus.ERROR:
        parts.append(f"error: {message.error or 'the model failed'}")
        kind = "error"
    elif message.status in STATUS_NOTES:
        parts.append(STATUS_NOTES[message.status])
        kind = str(message.status)
    elif message.finish_reason == "length":
        parts.append("cut at the token limit")
        kind = "cut"
    return " · ".join(parts), kind


class MessageView(Vertical):
    """One message: who wrote it, the text, and (for replies) a line with its
    token count, speed and any status other than complete."""

    def __init__(self, role: Role, text: str = "", message: Message | None = None) -> None:
        super().__init__(classes=f"message {role}")
        self.role = role
        self.message = message
        self.message_id: int | None = message.id if message else None
        self._text = text
        self._stream: MarkdownStream | None = None
        self._safe = SafeStreamText()

    @property
    def shown_text(self) -> str:
        """The text as displayed (sanitised)."""
        if self.role == Role.ASSISTANT:
            return self.query_one(ReplyMarkdown).source
        return sanitize(self._text)

    def compose(self) -> ComposeResult:
        who = "You" if self.role == Role.USER else "Assistant"
        if self.role == Role.ASSISTANT and self.message and self.message.model:
            who = f"Assistant · {self.message.model}"
        yield Label(plain(who), classes="who")
        if self.role == Role.ASSISTANT:
            yield ReplyMarkdown(sanitize(self._text))
        else:
            yield Static(plain(self._text), classes="body")
        footer, kind = reply_footer(self.message) if self.message else ("", "stats")
        yield Label(plain(footer), classes=f"footer {kind}")

    def on_mount(self) -> None:
        self.query_one(".footer", Label).display = bool(
            self.message and reply_footer(self.message)[0]
        )

    def on_click(self) -> None:
        if self.role == Role.ASSISTANT:
            self.post_message(self.Picked(self))

    class Picked(TextualMessage):
        """A reply was clicked: the sources panel follows it."""

        def __init__(self, view: MessageView) -> None:
            super().__init__()
            self.view = view

    @property
    def citations(self) -> list[Citation]:
        return list(self.message.citations) if self.message else []

    def set_footer(self, text: str, kind: str) -> None:
        footer = self.query_one(".footer", Label)
        footer.update(plain(text))
        footer.set_classes(f"footer {kind}")
        footer.display = bool(text)

    def begin_stream(self, note: str = "writing…") -> None:
        self._stream = Markdown.get_stream(self.query_one(ReplyMarkdown))
        self.set_footer(note, "streaming")

    async def append(self, piece: str) -> None:
        if self._stream is None:
            self.begin_stream()
        assert self._stream is not None
        await self._stream.write(self._safe.feed(piece))

    async def end_stream(self) -> None:
        if self._stream is not None:
            rest = self._safe.flush()
            if rest:
                await self._stream.write(rest)
            await self._stream.stop()
            self._stream = None

    def show_final(self, message: Message) -> None:
        self.message = message
        self.message_id = message.id
        if message.model:
            self.query_one(".who", Label).update(plain(f"Assistant · {message.model}"))
        self.set_footer(*reply_footer(message))


class NoteView(Static):
    """A line from the app itself in the chat (e.g. /help); never stored."""

    def __init__(self, text: str) -> None:
        super().__init__(plain(text), classes="note")


class ChatView(VerticalScroll):
    """The messages of the open conversation, oldest first; sticks to the
    bottom while a reply streams unless the user scrolls up."""

    EMPTY_TEXT = "Ask anything. Enter sends, Shift+Enter or Ctrl+J adds a line, F1 lists every key."

    def compose(self) -> ComposeResult:
        yield Static(self.EMPTY_TEXT, id="empty", markup=False)

    @property
    def views(self) -> list[MessageView]:
        return list(self.query(MessageView))

    async def show(self, messages: list[Message]) -> None:
        await self.remove_children(".message, .note")
        views = [MessageView(m.role, m.content, m) for m in messages if m.role != Role.SYSTEM]
        self.query_one("#empty").display = not views
        if views:
            await self.mount_all(views)
        self.scroll_end(animate=False, immediate=True)
        self.anchor()

    async def add(self, view: MessageView) -> MessageView:
        self.query_one("#empty").display = False
        await self.mount(view)
        self.anchor()
        return view

    async def add_note(self, text: str) -> NoteView:
        note = NoteView(text)
        self.query_one("#empty").display = False
        await self.mount(note)
        self.anchor()
        return note


class PromptInput(TextArea):
    """The message box: Enter sends, Shift+Enter and Ctrl+J insert a new line."""

    class Submitted(TextualMessage):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, id: str | None = None) -> None:
        super().__init__(
            soft_wrap=True,
            tab_behavior="focus",
            show_line_numbers=False,
            highlight_cursor_line=False,
            placeholder="Message (Enter sends, Shift+Enter new line)",
            id=id,
        )

    class Completion(TextualMessage):
        """Tab, Up or Down while slash completions are shown."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    completing: bool = False
    """Set by the app while the slash completion list is shown."""

    async def _on_key(self, event: events.Key) -> None:
        if self.completing and event.key in ("tab", "up", "down"):
            event.stop()
            event.prevent_default()
            self.post_message(self.Completion(event.key))
            return
        if not self.read_only:
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


class StatusLine(Static):
    """Model, speed of the last reply, context fullness and the latest notice."""

    model_text: reactive[str] = reactive("")
    """The model in use, or what is happening to it (loading, failed)."""
    speed_text: reactive[str] = reactive("")
    """Tokens per second of the last reply."""
    context_text: reactive[str] = reactive("")
    """How full the context window was for the last prompt."""
    notice_text: reactive[str] = reactive("")
    """The latest notice, e.g. how many earlier messages were left out to fit."""
    notes_text: reactive[str] = reactive("")
    """Whether replies use the notes, and the state of the notes index."""

    def render(self) -> Content:
        parts = [
            self.model_text,
            self.notes_text,
            self.speed_text,
            self.context_text,
            self.notice_text,
        ]
        return plain("  │  ".join(p for p in parts if p))

    def show_context(self, prompt_tokens: int, context_size: int) -> None:
        share = prompt_tokens / context_size if context_size else 0.0
        self.context_text = f"context {prompt_tokens}/{context_size} ({share:.0%})"
        self.set_class(share >= 0.8, "-context-full")


# ------------------------------------------------------------ notes, slash
def citation_label(citation: Citation) -> str:
    """``[1] notes/a.md:3-9 — Heading`` (page for PDFs), sanitised."""
    where = citation.location
    if citation.place:
        where += f" ({citation.place})"
    label = f"[{citation.n}] {where}"
    if citation.heading:
        label += f" — {citation.heading}"
    return one_line(label)


class SourcesPanel(Vertical):
    """The citations of the selected reply; Enter or e opens one in $EDITOR."""

    BINDINGS = [("e", "open_selected", "Open in editor")]

    class OpenSource(TextualMessage):
        def __init__(self, citation: Citation) -> None:
            super().__init__()
            self.citation = citation

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

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.OpenSource(self.citations[event.option_index]))


class SlashOptions(OptionList):
    """Completions for a slash command being typed; Tab takes the highlighted one."""

    can_focus = False

    def show(self, candidates: list[str]) -> None:
        self.clear_options()
        self.add_options(Option(Content(sanitize(c))) for c in candidates)
        self.display = bool(candidates)
        if candidates:
            self.highlighted = 0

    @property
    def choice(self) -> str | None:
        index = self.highlighted
        if index is None or not self.display or self.option_count == 0:
            return None
        return str(self.get_option_at_index(index).prompt)
