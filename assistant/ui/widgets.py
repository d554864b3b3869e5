"""The widgets of the conversation on the chat screen: message views, tool
call entries and the chat view (the message box, footer, status line,
sources and slash completions are in ``panels.py``, the sidebar in
``sidebar.py``).

Every string that came from the model or the database passes through
``assistant.textsafe.sanitize`` and is shown as plain content (never as
markup), so control bytes and ``[markup]`` in a reply are displayed, not obeyed.

The chat view shows one branch of the conversation (a ``Thread``); a message
with other versions carries a marker ("‹ 2/3 ›"), and the view can be focused
to pick a message and act on it (move between its versions, edit, answer
again, fork, copy). Long branches are drawn from the end: only the last
``WINDOW`` messages are mounted until the user scrolls to the top.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from markdown_it import MarkdownIt
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message as TextualMessage
from textual.widgets import Label, Markdown, Static
from textual.widgets.markdown import MarkdownFence, MarkdownStream

from assistant.domain import Citation, Message, MessageStatus, Role, Thread, ToolCall, plural
from assistant.textsafe import one_line, sanitize


class Later:
    """Work for a worker, made only when the worker runs it: a coroutine
    handed to an exclusive worker that is replaced before it starts was
    never awaited (Python warned about each such one)."""

    def __init__(self, make: Callable[[], Awaitable[None]]) -> None:
        self._make = make

    def __await__(self) -> Generator[Any, None, None]:
        return self._make().__await__()


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


# Characters without which a text has no Markdown to draw (emphasis, code,
# headings, quotes, links, tables, lists, HTML, breaks).
_MAYBE_MARKDOWN = re.compile(
    r"[*_`#>\[\]|~<\\]|^\s*(?:[-+]|\d+[.)])\s|^ {4}|^\t|^={3,}|^-{3,}", re.M
)


def needs_markdown(text: str) -> bool:
    """True when drawing ``text`` as Markdown would differ from its prose:
    it has more than paragraphs of plain words."""
    if not _MAYBE_MARKDOWN.search(text):
        return False
    tokens = MarkdownIt("commonmark").parse(text)
    for token in tokens:
        if token.type not in ("paragraph_open", "paragraph_close", "inline"):
            return True
        if any(child.type not in ("text", "softbreak") for child in token.children or []):
            return True
    return False


def prose(text: str) -> str:
    """Paragraphs as Markdown draws them: lines of a paragraph joined, one
    empty line between paragraphs."""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip())]
    return "\n\n".join(p for p in paragraphs if p)


def stopped_note(message: Message) -> str:
    """The one word for a reply that ended early, and why when it is known."""
    if message.finish_reason is None:
        return "stopped — the app closed during this reply; the partial reply is kept"
    return "stopped — the partial reply is kept"


def reply_footer(message: Message) -> tuple[str, str]:
    """The line under a reply and its CSS class: stats, plus the status when
    the reply did not end normally."""
    parts: list[str] = []
    if message.completion_tokens:
        parts.append(f"{message.completion_tokens} tokens")
    if message.tokens_per_second:
        parts.append(f"{message.tokens_per_second:.1f} tok/s")
    if message.memories:  # which ones: marked → on the memory screen
        parts.append(f"given {plural(len(message.memories), 'memory', 'memories')} (F7)")
    kind = "stats"
    if message.status == MessageStatus.ERROR:
        parts.append(f"error: {message.error or 'the model failed'}")
        kind = "error"
    elif message.status == MessageStatus.STOPPED:
        parts.append(stopped_note(message))
        kind = "stopped"
    elif message.status == MessageStatus.STREAMING:
        parts.append("writing…")
        kind = "streaming"
    elif message.finish_reason == "length":
        parts.append("cut at the token limit")
        kind = "cut"
    return " · ".join(parts), kind


PENDING_NOTE = "pending — sent when the reply ends (Up in an empty box takes it back)"


class MessageHead(Static):
    """Who wrote the message and, on the right, its place among its versions
    (``‹ 2/3 ›``, only when there are several). A click on the left or right
    half of the marker shows the previous or next version. One widget, not
    three: a long branch mounts faster."""

    def __init__(self, who: str, place: int = 1, count: int = 1) -> None:
        super().__init__("", classes="head")
        self.who = who
        self.place, self.count = place, count

    @property
    def marker(self) -> str:
        return f"‹ {self.place}/{self.count} ›" if self.count > 1 else ""

    def set_position(self, place: int, count: int) -> None:
        self.place, self.count = place, count
        self.refresh()

    def set_who(self, who: str) -> None:
        self.who = who
        self.refresh()

    def render(self) -> Content:
        marker = self.marker
        width = self.content_region.width or self.size.width
        who = sanitize(self.who)
        if not marker:
            return Content.styled(who, "bold")
        room = max(1, width - len(marker) - 1)
        if len(who) > room:
            who = who[: max(0, room - 1)] + "…"
        return Content.assemble(
            (who, "bold"), " " * max(1, width - len(who) - len(marker)), (marker, "bold $accent")
        )

    def on_click(self, event: events.Click) -> None:
        marker = self.marker
        width = self.content_region.width or self.size.width
        start = width - len(marker)
        if not marker or event.x < start:
            return
        event.stop()
        view = next((a for a in self.ancestors if isinstance(a, MessageView)), None)
        if view is not None:
            step = -1 if event.x < start + len(marker) // 2 else 1
            self.post_message(MessageView.StepBranch(view, step))


class MessageView(Vertical):
    """One message: who wrote it (and its place among its versions), the
    text, and for replies a line with its token count, speed and any status
    other than complete."""

    class Picked(TextualMessage):
        """A message was clicked: it becomes the selected one (a reply's
        sources are shown)."""

        def __init__(self, view: MessageView) -> None:
            super().__init__()
            self.view = view

    class StepBranch(TextualMessage):
        """Show the previous (-1) or next (+1) version of this message."""

        def __init__(self, view: MessageView, step: int) -> None:
            super().__init__()
            self.view = view
            self.step = step

    def __init__(self, role: Role, text: str = "", message: Message | None = None) -> None:
        super().__init__(classes=f"message {role}")
        self.role = role
        self.message = message
        self.message_id: int | None = message.id if message else None
        self._text = text
        self._stream: MarkdownStream | None = None
        self._safe = SafeStreamText()
        self.branch = (1, 1)
        # A stored reply is drawn as plain text first (one cheap widget) and
        # as Markdown once it is on screen (``format``), if it has any: prose
        # stays plain, drawn the same. A new reply streams into Markdown.
        self.formatted = role != Role.ASSISTANT or message is None or not needs_markdown(text)
        self._markdown = role == Role.ASSISTANT and message is None

    @property
    def shown_text(self) -> str:
        """The text as displayed (sanitised)."""
        if self._markdown:
            return self.query_one(ReplyMarkdown).source
        return sanitize(self._text)

    @property
    def text(self) -> str:
        """The text as written (for editing, copying)."""
        if self.message is not None and self.message.status != MessageStatus.STREAMING:
            return self.message.content
        if self.role == Role.ASSISTANT:
            return self.shown_text
        return self._text

    def _who(self) -> str:
        who = "You" if self.role == Role.USER else "Assistant"
        if self.role == Role.ASSISTANT and self.message and self.message.model:
            who = f"Assistant · {self.message.model}"
        return who

    def compose(self) -> ComposeResult:
        yield MessageHead(self._who(), *self.branch)
        if self.role == Role.USER:
            yield Static(plain(self._text), classes="body")
        elif self._markdown:
            yield ReplyMarkdown(sanitize(self._text))
        else:
            yield Static(plain(prose(self._text)), classes="reply-plain")
        footer, kind = reply_footer(self.message) if self.message else ("", "stats")
        yield Label(plain(footer), classes=f"footer {kind}")

    def on_mount(self) -> None:
        self.query_one(".footer", Label).display = bool(
            self.message and reply_footer(self.message)[0]
        )

    async def format(self) -> None:
        """Draw a stored reply as Markdown (it was plain text until now)."""
        if self.formatted:
            return
        self.formatted = self._markdown = True
        placeholder = self.query_one(".reply-plain", Static)
        await self.mount(ReplyMarkdown(sanitize(self._text)), before=placeholder)
        await placeholder.remove()

    async def reuse(self, message: Message, branch: tuple[int, int]) -> bool:
        """Show ``message`` in this view, drawn before for another message of
        the same role (a branch switch keeps its widgets). False when it
        cannot (another role, or a reply being written)."""
        if not self.accepts(message) or self._stream is not None:
            return False
        self.message, self.message_id, self._text = message, message.id, message.content
        self.query_one(MessageHead).set_who(self._who())
        if self.role == Role.USER:
            self.query_one(".body", Static).update(plain(message.content))
        elif self._markdown:  # back to plain text until it is on screen
            self._markdown = False
            markdown = self.query_one(ReplyMarkdown)
            await self.mount(
                Static(plain(prose(message.content)), classes="reply-plain"), before=markdown
            )
            await markdown.remove()
        else:
            self.query_one(".reply-plain", Static).update(plain(prose(message.content)))
        self.formatted = self.role != Role.ASSISTANT or not needs_markdown(message.content)
        self.set_footer(*reply_footer(message))
        self.set_branch(*branch)
        self.remove_class("-selected", "-found", "-pending")
        return True

    def accepts(self, message: Message) -> bool:
        """Whether ``reuse`` can show ``message`` in this view (a tool entry
        and a step that only asks for tools have views of their own)."""
        return message.role == self.role and not calls_only(message)

    def set_branch(self, place: int, count: int) -> None:
        self.branch = (place, count)
        for head in self.query(MessageHead):
            head.set_position(place, count)

    @property
    def marker_text(self) -> str:
        """``‹ 2/3 ›`` when the message has other versions, else ''."""
        return self.query_one(MessageHead).marker

    def on_click(self) -> None:
        self.post_message(self.Picked(self))

    @property
    def citations(self) -> list[Citation]:
        return list(self.message.citations) if self.message else []

    def set_footer(self, text: str, kind: str) -> None:
        footer = self.query_one(".footer", Label)
        footer.update(plain(text))
        footer.set_classes(f"footer {kind}")
        footer.display = bool(text)

    def set_pending(self, pending: bool) -> None:
        self.set_class(pending, "-pending")
        self.set_footer(PENDING_NOTE if pending else "", "pending" if pending else "stats")

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
            try:
                await self._stream.stop()
            except asyncio.CancelledError:
                # the stream's task was cancelled before it first ran (a reply
                # that ended with no text at once); only our own cancel goes on
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
            self._stream = None

    def show_final(self, message: Message) -> None:
        self.message = message
        self.message_id = message.id
        if message.model:
            self.query_one(MessageHead).set_who(f"Assistant · {message.model}")
        self.set_footer(*reply_footer(message))


# --------------------------------------------------------------- tool calls
TOOL_VIEW_CHARS = 4000  # of a tool's result drawn when its entry is opened
TOOL_VIEW_LINES = 40
TOOL_SUMMARY_CHARS = 60


def calls_only(message: Message) -> bool:
    """A step of a reply that only asks for tools (no text of its own)."""
    asks = message.role == Role.ASSISTANT and bool(message.tool_calls)
    return asks and not message.content.strip()


def call_summary(call: ToolCall) -> str:
    """The call on one line: a command as typed, else the tool's arguments."""
    command = call.arguments.get("command")
    if call.name == "run_command" and isinstance(command, str):
        text = f"$ {command}"
    else:
        text = call.arguments_json() if call.arguments else ""
    text = one_line(text)
    return text if len(text) <= TOOL_SUMMARY_CHARS else text[: TOOL_SUMMARY_CHARS - 1] + "…"


def result_summary(message: Message) -> str:
    """How the call ended, in a few words."""
    outcome = message.finish_reason or ""
    if message.status == MessageStatus.STREAMING:
        return "not finished (the app closed)" if message.finish_reason is None else "running…"
    if outcome == "ok":
        lines = message.content.count("\n") + 1 if message.content else 0
        return f"ok · {lines} line{'s' if lines != 1 else ''}"
    if outcome in ("denied", "stopped", "refused"):
        return outcome
    first = one_line(message.content.splitlines()[0]) if message.content else ""
    return f"{outcome or 'ended'}: {first[:TOOL_SUMMARY_CHARS]}" if first else outcome


def capped(text: str, chars: int = TOOL_VIEW_CHARS, lines: int = TOOL_VIEW_LINES) -> str:
    """At most ``lines`` lines and ``chars`` characters of ``text``, the cut said."""
    kept = "\n".join(text.splitlines()[:lines])[:chars]
    left = len(text) - len(kept)
    if left > 0:
        kept += f"\n[… {left} more characters; c on the picked entry copies all of it]"
    return kept


class ToolCallView(MessageView):
    """A tool call and its result, collapsed to one line (the tool, the call
    and how it ended); a click, or Enter on the picked entry, opens it on
    the arguments and the result. The result is untrusted: shown as plain
    text (control bytes visible, no markup) and cut to a screenful."""

    def __init__(
        self, message: Message | None = None, call: ToolCall | None = None, source: str = ""
    ) -> None:
        super().__init__(Role.TOOL, message.content if message else "", message)
        self.add_class("tool")
        self.call = call or (message.tool_call if message else None)
        self.source = source
        self.state = result_summary(message) if message else "running…"
        self.expanded = False

    def _who(self) -> str:
        name = self.call.name if self.call else "tool"
        arrow = "▾" if self.expanded else "▸"
        where = f" ({self.source})" if self.source not in ("", "built-in") else ""
        summary = call_summary(self.call) if self.call else ""
        # how it ended before the call: a narrow screen cuts the call, not that
        return " · ".join(p for p in (f"{arrow} {name}{where}", self.state, summary) if p)

    def compose(self) -> ComposeResult:
        yield MessageHead(self._who(), *self.branch)
        yield Static(classes="tool-detail")
        yield Label(classes="footer stats")

    def on_mount(self) -> None:
        self.query_one(".tool-detail", Static).display = False
        self.query_one(".footer", Label).display = False

    def _detail(self) -> Content:
        arguments = ""
        if self.call is not None:
            import json

            arguments = json.dumps(dict(self.call.arguments), ensure_ascii=False, indent=2)
        result = self._text if self.message is not None else "(not finished yet)"
        return plain(f"arguments:\n{capped(arguments)}\n\nresult:\n{capped(result)}")

    def _redraw(self) -> None:
        self.query_one(MessageHead).set_who(self._who())
        detail = self.query_one(".tool-detail", Static)
        if self.expanded:
            detail.update(self._detail())
        detail.display = self.expanded

    def toggle(self) -> None:
        self.expanded = not self.expanded
        self._redraw()
        if self.expanded:  # opened: the entry and what it shows come on screen
            self.call_after_refresh(self._bring_into_view)

    def _bring_into_view(self) -> None:
        chat = self.parent
        if not isinstance(chat, VerticalScroll):
            return
        if chat.max_scroll_y > 0:
            self.scroll_visible(top=True, animate=False, immediate=True)
        else:  # it all fits: drawn at the bottom, as any short branch
            chat.anchor()

    def on_click(self) -> None:
        self.toggle()
        super().on_click()

    def set_state(self, state: str) -> None:
        """What the call is doing (waiting for approval, running)."""
        self.state = state
        self._redraw()

    def show_result(self, message: Message) -> None:
        """The call ended: its stored result."""
        self.message, self.message_id, self._text = message, message.id, message.content
        self.call = message.tool_call or self.call
        self.state = result_summary(message)
        self._redraw()

    def accepts(self, message: Message) -> bool:
        return message.role == Role.TOOL

    async def reuse(self, message: Message, branch: tuple[int, int]) -> bool:
        if not self.accepts(message):
            return False
        self.expanded = False
        self.call, self.source = message.tool_call, ""
        self.show_result(message)
        self.set_branch(*branch)
        self.remove_class("-selected", "-found", "-pending")
        return True


class ToolStepView(MessageView):
    """A step of a reply that only asks for tools: one line naming them
    (the calls themselves follow as ``ToolCallView`` entries)."""

    def __init__(self, message: Message) -> None:
        super().__init__(Role.ASSISTANT, "", message)
        self.add_class("tool-step")

    def _who(self) -> str:
        message = self.message
        names = ", ".join(c.name for c in message.tool_calls) if message else ""
        model = f" · {message.model}" if message and message.model else ""
        return f"Assistant{model} · calls {names}"

    def compose(self) -> ComposeResult:
        yield MessageHead(self._who(), *self.branch)
        yield Label(classes="footer stats")

    def on_mount(self) -> None:
        self.query_one(".footer", Label).display = False

    def accepts(self, message: Message) -> bool:
        return calls_only(message)

    async def reuse(self, message: Message, branch: tuple[int, int]) -> bool:
        if not self.accepts(message):
            return False
        self.message, self.message_id, self._text = message, message.id, ""
        self.query_one(MessageHead).set_who(self._who())
        self.set_branch(*branch)
        self.remove_class("-selected", "-found", "-pending")
        return True

    def show_final(self, message: Message) -> None:
        self.message, self.message_id = message, message.id
        self.query_one(MessageHead).set_who(self._who())


def message_view(message: Message) -> MessageView:
    """The widget a stored message is drawn with."""
    if message.role == Role.TOOL:
        return ToolCallView(message)
    if calls_only(message):
        return ToolStepView(message)
    return MessageView(message.role, message.content, message)


class NoteView(Static):
    """A line from the app itself in the chat (e.g. /help); never stored."""

    def __init__(self, text: str) -> None:
        super().__init__(plain(text), classes="note")


class EarlierMessages(Static):
    """Stands for the messages of a long branch not drawn yet; reaching the
    top of the chat, Home or a click draws them."""

    def __init__(self, count: int) -> None:
        super().__init__(
            plain(f"↑ {count} earlier messages (Home or click shows them)"), classes="earlier"
        )
        self.count = count

    def on_click(self) -> None:
        chat = next((a for a in self.ancestors if isinstance(a, ChatView)), None)
        if chat is not None:
            self.app.run_worker(Later(chat.show_earlier), exclusive=True, group="earlier")


class LaterMessages(Static):
    """Stands for the later messages of a branch opened further up (a search
    hit); reaching the bottom, End or a click draws them."""

    def __init__(self, count: int) -> None:
        super().__init__(classes="later")
        self.set_count(count)

    def set_count(self, count: int) -> None:
        self.count = count
        self.update(plain(f"↓ {count} later messages (End or click shows them)"))

    def on_click(self) -> None:
        chat = next((a for a in self.ancestors if isinstance(a, ChatView)), None)
        if chat is not None:
            self.app.run_worker(Later(chat.show_later), exclusive=True, group="later")


class ChatView(VerticalScroll, can_focus=True):
    """The branch of the open conversation in front of the user, oldest
    first; sticks to the bottom while a reply streams unless the user
    scrolls up. Focused (Tab, or Ctrl+Up from the message box), Up and Down
    pick a message and keys act on it."""

    EMPTY_TEXT = "Ask anything. Enter sends, Shift+Enter or Ctrl+J adds a line, F1 lists every key."
    WINDOW = 8  # at most this many messages are drawn when a branch is opened
    CHUNK = 24  # earlier messages drawn each time the top is reached

    BINDINGS = [
        Binding("up,k", "pick(-1)", "Previous", show=False),
        Binding("down,j", "pick(1)", "Next", show=False),
        Binding("left,[", "branch(-1)", "Prev version"),
        Binding("right,]", "branch(1)", "Next version"),
        Binding("e", "act('edit')", "Edit"),
        Binding("r", "act('regenerate')", "Answer again"),
        Binding("f", "act('fork')", "Fork"),
        Binding("c", "act('copy')", "Copy"),
        Binding("enter", "act('sources')", "Sources", show=False),
        Binding("home", "top", "Top", show=False),
        Binding("end", "bottom", "Bottom", show=False),
        Binding("escape", "act('leave')", "Back", show=False),
    ]

    class Act(TextualMessage):
        """The user asked for ``action`` on ``view`` (None: no message picked)."""

        def __init__(self, action: str, view: MessageView | None) -> None:
            super().__init__()
            self.action = action
            self.view = view

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.selected: MessageView | None = None
        self._earlier: list[Message] = []
        self._later: list[Message] = []
        self._thread: Thread | None = None
        self._drawing = False

    def compose(self) -> ComposeResult:
        yield Static(self.EMPTY_TEXT, id="empty", markup=False)

    @property
    def views(self) -> list[MessageView]:
        return list(self.query(MessageView))

    def view_for(self, message_id: int) -> MessageView | None:
        return next((v for v in self.views if v.message_id == message_id), None)

    def _view(self, message: Message, thread: Thread | None) -> MessageView:
        view = message_view(message)
        if thread is not None:
            view.set_branch(*thread.position(message.id))
        return view

    async def show(self, thread: Thread | None, focus: int | None = None) -> None:
        """Draw ``thread`` (None: an empty, new conversation): its last
        ``WINDOW`` messages, or, with ``focus`` (a message to bring on screen
        and mark), a window that starts just above it; the rest is drawn when
        the user scrolls to it. Views already drawn are used again for the
        new messages where they can be (a branch switch redraws little), and
        replies are plain text until they are on screen (``_format_visible``)."""
        self.selected = None
        self._thread = thread
        self._drawing = True  # scrolls while it is drawn are not the user's
        messages = [m for m in thread.messages if m.role != Role.SYSTEM] if thread else []
        start = len(messages) - self._screenful(messages[::-1])
        at = next((i for i, m in enumerate(messages) if m.id == focus), None)
        end = len(messages)
        if at is not None and at < start:  # from just above it, a screenful down
            start = max(0, at - 1)
            end = start + self._screenful(messages[start:])
        old = self.views
        if old and start > 0 and messages[start].role != old[0].role:
            start -= 1  # the same role first: every view can be used again
        self._earlier, self._later = messages[:start], messages[end:]
        shown = messages[start:end]
        await self.remove_children(".note, .earlier, .later")
        kept = 0
        for view, message in zip(old, shown, strict=False):
            if not await view.reuse(message, self._position(message)):
                break
            kept += 1
        if old[kept:]:
            await self.remove_children(old[kept:])
        widgets: list[Static | MessageView] = [self._view(m, thread) for m in shown[kept:]]
        if self._later:
            widgets.append(LaterMessages(len(self._later)))
        if widgets:
            await self.mount_all(widgets)
        if self._earlier:
            first = self.views[0] if shown else None
            marker = EarlierMessages(len(self._earlier))
            await (self.mount(marker, before=first) if first else self.mount(marker))
        self.query_one("#empty").display = not shown
        if at is None:
            self.scroll_end(animate=False, immediate=True)
            self.anchor()
        else:
            self.anchor(False)  # the message in question stays where it is brought
        self.call_after_refresh(self._after_show, focus if at is not None else None)

    def _screenful(self, messages: list[Message]) -> int:
        """How many of ``messages``, taken in that order, fill the view (their
        height estimated from their text), one more for good measure, at most
        ``WINDOW``: only what can be seen is drawn; scrolling draws more."""
        width = max(20, (self.scrollable_content_region.width or 80) - 4)
        room = self.scrollable_content_region.height or 24
        taken = count = 0
        for message in messages:
            if count >= self.WINDOW or taken > room:
                break
            lines = sum(1 + len(line) // width for line in message.content.splitlines() or [""])
            if message.role == Role.TOOL or calls_only(message):
                lines = 0  # one line, collapsed
            taken += lines + 3  # the head, the footer and the space above
            count += 1
        return max(count, min(2, len(messages)))

    def _position(self, message: Message) -> tuple[int, int]:
        return self._thread.position(message.id) if self._thread is not None else (1, 1)

    def _after_show(self, focus: int | None) -> None:
        self.run_worker(Later(lambda: self._settle(focus)), exclusive=True, group="chat-format")

    async def _settle(self, focus: int | None) -> None:
        """Once laid out: the message in question on screen and marked, and
        the replies on screen drawn as Markdown."""
        try:
            await self._bring(focus)
        finally:
            self._drawing = False

    async def _bring(self, focus: int | None) -> None:
        view = self.view_for(focus) if focus is not None else None
        if view is not None:
            self.select(view)
            view.add_class("-found")
            self.set_timer(3.0, lambda: view.remove_class("-found"))
        await self._format_visible()
        if view is None:
            return
        if self.max_scroll_y > 0:
            self.scroll_to_widget(view, animate=False, immediate=True, top=True)
        else:  # it all fits: drawn at the bottom, as any short branch
            self.scroll_end(animate=False, immediate=True)
            self.anchor()
        self.call_after_refresh(self._format_soon)  # what the scroll brought on screen

    async def _format_visible(self) -> None:
        """Draw as Markdown the stored replies now on screen (the last first)."""
        top, bottom = self.scroll_y, self.scroll_y + self.scrollable_content_region.height
        for view in reversed(self.views):
            if view.formatted:
                continue
            y = view.virtual_region.y
            if y < bottom and y + view.virtual_region.height > top:
                await view.format()

    async def bring(self, message_id: int) -> None:
        """Show message ``message_id`` (drawing earlier ones if need be),
        selected and marked."""
        view = self.view_for(message_id)
        while view is None and self._earlier:
            await self.show_earlier()
            view = self.view_for(message_id)
        if view is not None:
            self.call_after_refresh(self._after_show, message_id)

    async def show_later(self, everything: bool = False) -> None:
        """Draw the next ``CHUNK`` later messages (or all of them) below."""
        if not self._later:
            return
        take = len(self._later) if everything else self.CHUNK
        later, self._later = self._later[:take], self._later[take:]
        marker = self.query(LaterMessages)
        views = [self._view(m, self._thread) for m in later]
        if marker:
            await self.mount_all(views, before=marker.first())
            if self._later:
                marker.first().set_count(len(self._later))
            else:
                await marker.remove()
        else:
            await self.mount_all(views)
        self.call_after_refresh(self._format_soon)

    async def show_earlier(self, everything: bool = False) -> None:
        """Draw the next ``CHUNK`` earlier messages of the branch (or all of
        them) above the ones shown, keeping what is on screen where it is."""
        if not self._earlier:
            return
        take = len(self._earlier) if everything else self.CHUNK
        earlier, self._earlier = self._earlier[-take:], self._earlier[:-take]
        first = self.views[0] if self.views else None
        views = [self._view(m, self._thread) for m in earlier]
        height, offset = self.virtual_size.height, self.scroll_y
        if first is not None:
            await self.mount_all(views, before=first)
        else:
            await self.mount_all(views)
        for marker in self.query(EarlierMessages):
            if self._earlier:
                marker.count = len(self._earlier)
                marker.update(
                    plain(f"↑ {marker.count} earlier messages (Home or click shows them)")
                )
            else:
                await marker.remove()

        def keep_place() -> None:
            if not everything:
                added = self.virtual_size.height - height
                self.scroll_to(y=offset + added, animate=False, immediate=True)
            self._format_soon()

        self.call_after_refresh(keep_place)

    def _format_soon(self) -> None:
        self.run_worker(Later(self._format_visible), exclusive=True, group="chat-format-scroll")

    def update_markers(self, thread: Thread) -> None:
        """New sibling counts (after an answer again or an edit), in place."""
        self._thread = thread
        for view in self.views:
            if view.message_id is not None:
                view.set_branch(*thread.position(view.message_id))

    async def add(self, view: MessageView) -> MessageView:
        await self.show_later(everything=True)  # a new message goes after all of them
        self.query_one("#empty").display = False
        await self.mount(view)
        self.anchor()
        return view

    async def add_note(self, text: str) -> NoteView:
        await self.show_later(everything=True)
        note = NoteView(text)
        self.query_one("#empty").display = False
        await self.mount(note)
        self.anchor()
        return note

    def select(self, view: MessageView | None, *, scroll: bool = True) -> None:
        if self.selected is not None and self.selected is not view:
            self.selected.remove_class("-selected")
        self.selected = view
        if view is not None:
            view.add_class("-selected")
            if scroll:
                self.release_anchor()
                self.scroll_to_widget(view, animate=False, immediate=True, top=True)

    def on_focus(self) -> None:
        views = self.views
        if self.selected is not None and self.selected in views:
            self.selected.add_class("-selected")
        elif views:
            self.select(views[-1])

    def on_blur(self) -> None:
        if self.selected is not None:
            self.selected.remove_class("-selected")

    def action_pick(self, step: int) -> None:
        views = self.views
        if not views:
            return
        if self.selected is None or self.selected not in views:
            self.select(views[-1])
            return
        place = views.index(self.selected) + step
        if place < 0 and self._earlier:
            self.run_worker(Later(self.show_earlier), exclusive=True, group="earlier")
            return
        self.select(views[max(0, min(len(views) - 1, place))])

    def action_branch(self, step: int) -> None:
        if self.selected is not None:
            self.post_message(MessageView.StepBranch(self.selected, step))

    def action_act(self, action: str) -> None:
        self.post_message(self.Act(action, self.selected))

    async def action_top(self) -> None:
        """Home: the first message of the branch, whole, at the top."""
        await self.show_earlier(everything=True)
        self.release_anchor()
        views = self.views
        if views:
            self.select(views[0], scroll=False)
        self.scroll_home(animate=False, immediate=True)

    async def action_bottom(self) -> None:
        await self.show_later(everything=True)
        views = self.views
        if views:
            self.select(views[-1], scroll=False)
        self.scroll_end(animate=False, immediate=True)
        self.anchor()

    def page(self, step: int) -> None:
        """PageUp / PageDown from the message box."""
        self.release_anchor()
        if step < 0:
            if self.scroll_y <= 0 and self._earlier:
                self.run_worker(Later(self.show_earlier), exclusive=True, group="earlier")
            self.scroll_page_up(animate=False)
        else:
            self.scroll_page_down(animate=False)
            if self.scroll_y >= self.max_scroll_y:
                if self._later:
                    self.run_worker(Later(self.show_later), exclusive=True, group="later")
                else:
                    self.anchor()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self._drawing:
            return
        if new_value <= 0 and old_value > 0 and self._earlier:
            self.run_worker(Later(self.show_earlier), exclusive=True, group="earlier")
        elif new_value >= self.max_scroll_y > old_value and self._later:
            self.run_worker(Later(self.show_later), exclusive=True, group="later")
        if new_value != old_value and self.is_mounted:
            self._format_soon()
