"""The terminal chat app: a sidebar of conversations and a streaming chat view.

The app is a shell over the application layer: every change to a
conversation goes through ``ChatSession`` (send, answer again, edit, move
between branches, fork, writing actions, persona, notes switch), exactly as
the CLI's does. The one decision to know: nothing that touches the database,
a file or the model runs on the event loop. Such work runs in a thread worker
started by ``background``; it reports back through ``call_from_thread``
(results) or posted messages (streamed replies), and an error becomes its one
sentence inside the worker, so even a crash log is written off the event loop.

The message box is never locked: what is typed while a reply streams stays,
and Enter then queues the message (shown as pending) until the reply ends.

The first frame is drawn before anything slow happens: the database opens,
then the model loads, then the notes sync, each in a worker once the screen
is up. The sidebar (``sidebar.py``) reads one page of conversations at a time.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.command import CommandPalette
from textual.containers import Horizontal, Vertical
from textual.message import Message as TextualMessage
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Label, OptionList, TextArea
from textual.worker import Worker, WorkerState

from assistant.chat.session import ChatSession, ConversationState
from assistant.domain import Citation, Conversation, Memory, Message, Role, Thread
from assistant.ui.model_picker import (
    ModelLoading,
    ModelPickerScreen,
    ModelSwitched,
    PickerEntry,
    gather_entries,
    start_switch,
)
from assistant.ui.screens import (
    ConfirmDeleteScreen,
    ConfirmScreen,
    ExportScreen,
    HelpScreen,
    Passage,
    PassageScreen,
    RenameScreen,
    RetrievalScreen,
)
from assistant.ui.search import ConversationSearch
from assistant.ui.sidebar import PAGE, ConversationList, Sidebar
from assistant.ui.widgets import (
    ChatView,
    MessageView,
    PromptInput,
    SlashOptions,
    SourcesPanel,
    StatusLine,
    code_blocks,
)

if TYPE_CHECKING:
    from assistant.chat.events import ChatEvent
    from assistant.notes.sync import SyncProgress
    from assistant.runtime import Runtime
    from assistant.store.repository import SearchHit
    from assistant.writing.slash import SlashCommand
    from assistant.writing.templates import PromptLibrary

T = TypeVar("T")
STOPPING_NOTICE = "stopping…"
BUSY_NOTICE = "A reply is still being written; press Esc to stop it first."
EDIT_NOTE = "Editing: Enter sends a new version (the old one stays), Esc cancels."
NARROW = 60  # below this width the sidebar hides itself (Ctrl+B shows it)
# Documents $EDITOR would open as bytes: their cited passage is shown instead.
BINARY_SOURCES = frozenset({".pdf", ".docx"})
# Actions of the chat screen: off while another screen (writing, a modal) is on top.
CHAT_ACTIONS = frozenset(
    {
        "stop",
        "leave",
        "new_conversation",
        "regenerate",
        "copy_reply",
        "copy_code",
        "export",
        "rename",
        "delete",
        "toggle_notes",
        "focus_sources",
        "retrieval",
        "filter",
        "toggle_sidebar",
        "pick_messages",
        "branch",
    }
)


def sentence(error: BaseException) -> str:
    """The one sentence for ``error`` (call it in a worker: a bug's writes a crash log)."""
    from assistant.crashlog import describe_error

    return describe_error(error)


class ChatEventArrived(TextualMessage):
    """A ReplyStarted, TextPiece, ReplyProgress or ReplyDone from the chat service."""

    def __init__(self, event: ChatEvent) -> None:
        super().__init__()
        self.event = event


class ReplyEnded(TextualMessage):
    """The reply worker is done; ``error`` is the sentence when it failed, and
    ``stored`` the reply as it is on disk (the truth: stopped, error...)."""

    def __init__(self, error: str | None, stored: Message | None) -> None:
        super().__init__()
        self.error = error
        self.stored = stored


class NotesState(TextualMessage):
    """What the notes index is doing: syncing, ready, or what went wrong."""

    def __init__(
        self, text: str, notices: list[str] | None = None, error: str | None = None
    ) -> None:
        super().__init__()
        self.text = text
        self.notices = notices or []
        self.error = error


def slug(title: str) -> str:
    words = re.findall(r"\w+", title.lower())
    return "-".join(words)[:48] or "conversation"


class AssistantApp(App[None]):
    """``AssistantApp(runtime, conversation_id=None)``; ``assistant`` runs it."""

    CSS_PATH = "assistant.tcss"
    TITLE = "assistant"
    COMMANDS = App.COMMANDS | {ConversationSearch}
    NOTES_POLL_SECONDS = 3.0
    """How often the app looks for notes changed by another process."""
    BINDINGS = [
        # Esc stops a streaming reply; otherwise it goes back to the message
        # box (and leaves an edit)
        Binding("escape", "stop", "Stop"),
        Binding("escape", "leave", "Back", show=False),
        Binding("ctrl+n", "new_conversation", "New"),
        Binding("ctrl+r", "regenerate", "Answer again"),
        Binding("ctrl+o", "copy_reply", "Copy reply"),
        Binding("ctrl+g", "copy_code", "Copy code", show=False),
        Binding("f2", "rename", "Rename"),
        Binding("f8", "delete", "Delete"),
        Binding("f5", "toggle_notes", "Notes"),
        # F6, F7 and Ctrl+E belong to the input (select line, select all, end)
        Binding("f3", "focus_sources", "Sources", show=False),
        Binding("f9", "retrieval", "Retrieval", show=False),
        Binding("f4", "open_writing", "Writing", show=False),
        Binding("ctrl+l", "pick_model", "Model", show=False),
        Binding("ctrl+s", "export", "Export", show=False),
        Binding("ctrl+f", "filter", "Filter", show=False),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", show=False),
        Binding("ctrl+up", "pick_messages", "Messages", show=False),
        Binding("alt+left", "branch(-1)", "Prev version", show=False),
        Binding("alt+right", "branch(1)", "Next version", show=False),
        Binding("ctrl+t", "open_compose", "Compose", show=False),
        Binding("f1", "help", "Keys"),
        Binding("question_mark", "help", "Keys", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    streaming: reactive[bool] = reactive(False)
    """True while a reply streams: Esc stops it and Enter queues."""

    def __init__(
        self, runtime: Runtime, conversation_id: int | None = None, *, sync_notes: bool = True
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.session: ChatSession = runtime.session(ConversationState(conversation_id))
        """The conversation in front of the user: the one typed state both shells use."""
        self.first_screen_at: float | None = None
        """Wall-clock time of the first frame (read by bench/startup.py)."""
        self.sidebar_ready_at: float | None = None
        """Wall-clock time the sidebar first showed conversations (bench/history.py)."""
        self.database_ready = False
        self.sync_notes_at_start = sync_notes
        self._library: PromptLibrary | None = None
        self._cancel: threading.Event | None = None
        self._reply_view: MessageView | None = None
        self._code_presses = 0
        self._notes_cancel = threading.Event()
        self._notes_index_text = ""
        self._notes_fingerprint: tuple[object, ...] | None = None
        self._notes_polling = False
        self._selected_reply: MessageView | None = None
        self._queue: list[tuple[str, MessageView]] = []
        """Messages typed while a reply streamed, sent in order when it ends."""
        self._editing: MessageView | None = None
        """The message being edited (its new version goes in the box)."""
        self._pending_user_view: MessageView | None = None
        """The message the streaming reply answers (gets its id when stored)."""
        self._context_size: int | None = None
        self._mention_base: str | None = None  # text before an @path being completed

    @property
    def state(self) -> ConversationState:
        return self.session.state

    @property
    def conversation_id(self) -> int | None:
        return self.session.state.conversation_id

    # ------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield Sidebar(id="sidebar")
            with Vertical(id="chat"):
                yield ChatView(id="messages")
                yield SourcesPanel(id="sources")
                yield Label(EDIT_NOTE, id="prompt-mode")
                yield PromptInput(id="prompt")
                yield SlashOptions(id="slash")
        yield StatusLine(id="status")
        yield Footer()

    # The chat screen is the bottom of the stack; modals sit above it.
    @property
    def main_screen(self) -> Screen[Any]:
        return self.screen_stack[0]

    @property
    def chat_screen_on_top(self) -> bool:
        """True when the chat screen is the one in front (a command palette
        opened over it does not count)."""
        stack = [s for s in self.screen_stack if not isinstance(s, CommandPalette)]
        return len(stack) == 1

    @property
    def prompt(self) -> PromptInput:
        return self.main_screen.query_one(PromptInput)

    @property
    def chat_view(self) -> ChatView:
        return self.main_screen.query_one(ChatView)

    @property
    def sidebar_box(self) -> Sidebar:
        return self.main_screen.query_one(Sidebar)

    @property
    def sidebar(self) -> ConversationList:
        return self.main_screen.query_one(ConversationList)

    @property
    def status(self) -> StatusLine:
        return self.main_screen.query_one(StatusLine)

    @property
    def sources(self) -> SourcesPanel:
        return self.main_screen.query_one(SourcesPanel)

    @property
    def slash_options(self) -> SlashOptions:
        return self.main_screen.query_one(SlashOptions)

    @property
    def mode_label(self) -> Label:
        return self.main_screen.query_one("#prompt-mode", Label)

    def on_mount(self) -> None:
        self.status.model_text = f"{self.runtime.model_label()} · loading…"
        self.slash_options.display = False
        self.mode_label.display = False
        self.prompt.focus()
        self._fit_sidebar(self.size.width)

    def on_ready(self) -> None:
        self.first_screen_at = time.time()
        # The model loads once the history is on screen: run side by side, the
        # two would share one interpreter lock and both arrive later.
        self.open_database()

    def on_unmount(self) -> None:
        self._notes_cancel.set()
        if self._cancel is not None:
            self._cancel.set()

    def on_resize(self, event: events.Resize) -> None:
        self._fit_sidebar(event.size.width)

    def _fit_sidebar(self, width: int) -> None:
        box = self.sidebar_box
        if box.hidden_by_user is None:
            box.display = width >= NARROW

    def watch_streaming(self, streaming: bool) -> None:
        self.prompt.set_class(streaming, "-streaming")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in CHAT_ACTIONS and len(self.screen_stack) > 1:
            return False  # the writing screen or a modal is on top
        if action == "stop":
            return self.streaming
        if action == "focus_sources":
            return bool(self.sources.citations)
        if action == "regenerate" and self.streaming:
            return None  # shown, greyed out
        return True

    # ----------------------------------------------------------- workers
    def background(
        self,
        job: Callable[[], T],
        done: Callable[[T], Awaitable[None] | None] | None = None,
        *,
        group: str = "store",
        failed: str = "",
    ) -> Worker[None]:
        """Run ``job`` in a thread worker, then ``done(result)`` on the event
        loop; an error is shown as its sentence (prefixed with ``failed``)."""

        def run() -> None:
            try:
                result = job()
            except Exception as exc:
                self._from_thread(self.show_error, failed + sentence(exc))
                return
            if done is not None:
                self._from_thread(done, result)

        return self.run_worker(run, thread=True, group=group, exit_on_error=False)

    def _from_thread(self, callback: Callable[..., Any], *args: Any) -> None:
        try:
            self.call_from_thread(callback, *args)
        except RuntimeError:  # the app is closing; nothing left to show
            pass

    def _first_page(self, limit: int = PAGE) -> tuple[list[Conversation], bool]:
        """The first ``limit`` conversations, and whether there are more."""
        page = self.runtime.repo.list_conversations(limit + 1, counts=False)
        return page[:limit], len(page) > limit

    def open_database(self) -> None:
        """Open the database, read the first page of the sidebar and the
        conversation to show, read the prompt templates; then (see
        on_worker_state_changed) load the model."""
        wanted = self.conversation_id

        def job() -> tuple[tuple[list[Conversation], bool], Thread | None, list[str]]:
            from assistant.errors import NotFound

            problems: list[str] = []
            page = self._first_page()
            thread: Thread | None = None
            if wanted is not None:
                try:
                    thread = self.session.open(wanted)
                except NotFound as exc:  # deleted meanwhile, by another instance
                    self.session.open(None)
                    problems.append(str(exc))
            problems.extend(self.runtime.warnings)  # a damaged database, still read
            return page, thread, problems

        async def done(
            result: tuple[tuple[list[Conversation], bool], Thread | None, list[str]],
        ) -> None:
            (conversations, more), thread, problems = result
            self.database_ready = True
            self.sidebar.show(conversations, self.conversation_id, more)
            self.sidebar_ready_at = time.time()
            await self.chat_view.show(thread)
            self.after_switch(thread)
            for problem in problems:
                self.show_error(problem)
            self.set_interval(self.NOTES_POLL_SECONDS, self.poll_notes)

        self.background(job, done, group="database")

    def load_library(self) -> None:
        """The prompt templates (slash commands), read after the sidebar is up."""

        def job() -> PromptLibrary:
            return self.runtime.library()

        def done(library: PromptLibrary) -> None:
            self._library = library
            for problem in library.problems:  # broken user files, left out
                self.notify(
                    problem, title="Prompt templates", severity="warning", timeout=12, markup=False
                )

        self.background(job, done, group="library")

    def load_model(self) -> None:
        def job() -> tuple[str, int, str | None]:
            model = self.runtime.model_handle.get()
            return model.name, model.context_size, getattr(model, "fit_notice", None)

        def done(result: tuple[str, int, str | None]) -> None:
            self.status.model_text = result[0]
            self._context_size = result[1]
            if result[2]:  # it will not fit: say what would
                self.notify(result[2], title="Memory", severity="warning", markup=False)

        def failed(exc_text: str) -> None:
            self.status.model_text = f"{self.runtime.model_label()} · not loaded"
            self.show_error(exc_text)

        def run() -> None:
            try:
                result = job()
            except Exception as exc:
                self._from_thread(failed, sentence(exc))
                return
            self._from_thread(done, result)

        self.run_worker(run, thread=True, group="model", exit_on_error=False)

    def sync_notes(self) -> None:
        """Offer the sample notes when no folder is registered, then sync."""
        last = 0.0

        told: list[str] = []

        def progress(p: SyncProgress) -> None:
            nonlocal last
            if p.notice:  # a rebuild or repair is announced before it starts
                told.append(p.notice)
                self.post_message(NotesState("notes syncing", [p.notice]))
            now = time.monotonic()
            if now - last >= 0.25:
                last = now
                done = f"{p.files_done}/{p.files_total} files" if p.files_total else "scanning"
                if p.chunks_total:
                    done += f", {p.chunks_done}/{p.chunks_total} passages embedded"
                self.post_message(NotesState(f"notes syncing {done}"))

        def run() -> None:
            try:
                if not self.runtime.db.writable:  # read-only or damaged: already said
                    self.post_message(NotesState("notes not synced (database read-only)"))
                    return
                notes = self.runtime.notes
                notices: list[str] = []
                if notes.offer_samples() is not None:
                    notices.append("No notes folder yet: the sample notes are indexed for you.")
                self.post_message(NotesState("notes syncing"))
                report = notes.sync(progress, self._notes_cancel)
                status = notes.status()
                self._notes_fingerprint = notes.fingerprint()
            except Exception as exc:
                error = f"The notes could not be synced: {sentence(exc)}"
                self.post_message(NotesState("notes index failed", error=error))
                return
            later = [m for m in report.messages if m not in told]
            self.post_message(
                NotesState(self._notes_summary(status), notices + later + status.messages)
            )

        self.run_worker(run, thread=True, group="notes", exit_on_error=False)

    @staticmethod
    def _notes_summary(status: Any) -> str:
        text = f"notes {status.files} files, {status.chunks} passages"
        if status.skipped:
            text += f", {len(status.skipped)} skipped"
        return text

    def poll_notes(self) -> None:
        """Notice notes added or synced by another process (the CLI): the
        status line and the next search follow without a restart."""
        if self._notes_polling or not self.database_ready:
            return
        self._notes_polling = True

        def run() -> None:
            try:
                notes = self.runtime.notes
                if notes.syncing:
                    return
                fingerprint = notes.fingerprint()
                if fingerprint == self._notes_fingerprint:
                    return
                first = self._notes_fingerprint is None
                self._notes_fingerprint = fingerprint
                notes.reload_if_changed()
                if first and not fingerprint[0]:
                    return  # no notes at all, as at start: nothing to say
                status = notes.status()
                self.post_message(NotesState(self._notes_summary(status), status.messages))
            except Exception as exc:
                self.post_message(NotesState("notes index failed", error=sentence(exc)))
            finally:
                self._notes_polling = False

        self.run_worker(run, thread=True, group="notes-poll", exit_on_error=False)

    @on(Worker.StateChanged)
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Start-up steps follow each other; a worker that died of a bug (its
        own handler failed) is logged, never fatal."""
        worker = event.worker
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        if worker.group == "database":
            if not self.database_ready:  # the database could not be opened
                self.session.state.conversation_id = None
            self.load_library()
            self.load_model()
        elif worker.group == "model" and self.sync_notes_at_start:
            self.sync_notes()
        if event.state == WorkerState.ERROR:
            self.log.error(f"worker {worker.name} failed", worker.error)

    def show_error(self, text: str) -> None:
        self.status.notice_text = text
        self.notify(text, title="Error", severity="error", timeout=8, markup=False)

    # ------------------------------------------------------ from workers
    def on_notes_state(self, message: NotesState) -> None:
        self._notes_index_text = message.text
        self.update_notes_status()
        for notice in message.notices:
            self.notify(notice, title="Notes", markup=False)
        if message.error is not None:
            self.show_error(message.error)

    async def on_chat_event_arrived(self, message: ChatEventArrived) -> None:
        from assistant.chat.events import ReplyDone, ReplyProgress, ReplyStarted
        from assistant.llm.base import TextPiece

        event = message.event
        view = self._reply_view
        if view is None:
            return
        if isinstance(event, TextPiece):
            await view.append(event.text)
        elif isinstance(event, ReplyStarted):
            view.message_id = event.reply_message_id
            view.begin_stream(f"{event.action}…" if event.action else "writing…")
            user = self._pending_user_view
            if user is not None and event.user_message_id is not None:
                user.message_id = event.user_message_id
            if event.citations:
                self.sources.show(list(event.citations))
            plan = event.plan
            if plan is not None:
                self._context_size = plan.context_size
                self.status.show_context(plan.prompt_tokens, plan.context_size, plan.memory_tokens)
            if plan is not None and plan.dropped_turns:
                self.status.notice_text = (
                    f"{plan.dropped_turns} earlier messages ({plan.dropped_tokens} tokens) "
                    "left out to fit the context window"
                )
            else:
                self.status.notice_text = ""
        elif isinstance(event, ReplyProgress):
            if event.parts > 1:
                view.set_footer(f"part {event.part} of {event.parts}…", "streaming")
        elif isinstance(event, ReplyDone):
            await view.end_stream()
            view.show_final(event.message)
            self.pick_reply(None)
            speed = event.message.tokens_per_second
            self.status.speed_text = f"last reply {speed:.1f} tok/s" if speed else ""
            plan = event.plan
            if plan is not None:
                # what the next message will find: the prompt and this reply
                used = plan.prompt_tokens + (event.message.completion_tokens or 0)
                self.status.show_context(used, plan.context_size, plan.memory_tokens)

    async def on_reply_ended(self, message: ReplyEnded) -> None:
        view, self._reply_view = self._reply_view, None
        self._pending_user_view = None
        self._cancel = None
        if view is not None:
            await view.end_stream()
            if message.stored is not None and (view.message is None or message.error):
                view.show_final(message.stored)  # the stored row is the truth
            elif view.message_id is None and message.error is not None:
                view.set_footer(f"error: {message.error}", "error")
        self.streaming = False
        self.pick_reply(None)
        self._code_presses = 0
        if self.status.notice_text == STOPPING_NOTICE:
            self.status.notice_text = ""
        if message.error is not None:
            self.show_error(message.error)
        self.refresh_sidebar()
        self.refresh_markers()
        if self._queue:
            await self.send_queued()

    async def send_queued(self) -> None:
        """Send the first queued message. It goes through the box, so a slash
        command with a mistake stays there to fix; what the user is typing
        meanwhile is kept."""
        text, pending = self._queue.pop(0)
        await pending.remove()
        draft = self.prompt.text
        self.prompt.load_text(text)
        await self.submit(text)
        if draft:
            left = self.prompt.text  # the queued line, when it could not be sent
            self.prompt.load_text(f"{left}\n{draft}" if left else draft)
            self.prompt.move_cursor(self.prompt.document.end)

    def refresh_markers(self) -> None:
        """Read the branch again (in a worker) so the markers ("2/3") and the
        recall list follow an answer again or an edit."""
        if self.conversation_id is None:
            return
        wanted = self.conversation_id

        def show(thread: Thread | None) -> None:
            if thread is not None and thread.conversation.id == self.conversation_id:
                self.chat_view.update_markers(thread)
                self._set_recall(thread)

        self.background(lambda: self.session.chat.thread(wanted), show, group="markers")

    def _set_recall(self, thread: Thread | None) -> None:
        messages = thread.messages if thread is not None else []
        history = [m.content for m in messages if m.role == Role.USER and m.content.strip()]
        self.prompt.recall_list = list(dict.fromkeys(reversed(history)))[::-1]
        self.prompt.reset_recall()

    # --------------------------------------------------------- sending
    @on(PromptInput.Submitted)
    async def prompt_submitted(self, event: PromptInput.Submitted) -> None:
        text = event.text
        if not text.strip():
            return
        self.slash_options.show([])
        self.prompt.completing = False
        if self._editing is not None:
            if self.streaming:
                self.notify(BUSY_NOTICE, markup=False)
                return
            await self.send_edit(self._editing, text)
            return
        if self.streaming:
            await self.queue(text)
            return
        await self.submit(text)

    async def queue(self, text: str) -> None:
        """Keep ``text`` to send when the reply ends, shown as pending."""
        self.prompt.clear()
        self.prompt.reset_recall()
        view = MessageView(Role.USER, text)
        await self.chat_view.add(view)
        view.set_pending(True)
        self._queue.append((text, view))

    @on(PromptInput.Recall)
    async def recall(self, event: PromptInput.Recall) -> None:
        """Up in an empty box: a pending message comes back first, then
        earlier messages of the conversation."""
        if self._queue:
            text, view = self._queue.pop()
            await view.remove()
            self.prompt.load_text(text)
            self.prompt.move_cursor(self.prompt.document.end)
            return
        self.prompt.recall(-1)

    @on(PromptInput.Page)
    def page(self, event: PromptInput.Page) -> None:
        self.chat_view.page(event.step)

    async def submit(self, text: str) -> None:
        """Send ``text`` now: a message, or a slash command."""
        from assistant.writing.slash import is_slash

        if is_slash(text.strip()):
            await self.run_slash(text.strip())
            return
        if text.startswith("//"):
            text = text[1:]  # "//" sends a message that starts with "/"
        self.prompt.clear()
        self._remember(text)
        user = await self.chat_view.add(MessageView(Role.USER, text))
        await self._start_reply(lambda cancel: self.session.send(text, cancel), user)

    def _remember(self, text: str) -> None:
        history = [h for h in self.prompt.recall_list if h != text]
        self.prompt.recall_list = history + [text]
        self.prompt.reset_recall()

    async def send_edit(self, original: MessageView, text: str) -> None:
        """Send ``text`` as a new version of ``original``: the branch from
        that message down makes way for the new one."""
        message_id = original.message_id
        self._leave_edit()
        if message_id is None:
            return
        self.prompt.clear()
        self._remember(text)
        views = self.chat_view.views
        if original in views:
            for view in views[views.index(original) :]:
                await view.remove()
        user = await self.chat_view.add(MessageView(Role.USER, text))
        await self._start_reply(lambda cancel: self.session.edit(message_id, text, cancel), user)

    def start_edit(self, view: MessageView) -> None:
        if view.role != Role.USER or view.message_id is None:
            self.notify("Only your own messages can be edited; r answers a reply again.")
            return
        if self.streaming:
            self.notify(BUSY_NOTICE, markup=False)
            return
        self._editing = view
        self.mode_label.display = True
        self.prompt.load_text(view.text)
        self.prompt.move_cursor(self.prompt.document.end)
        self.prompt.add_class("-editing")
        self.prompt.focus()

    def _leave_edit(self) -> None:
        self._editing = None
        self.mode_label.display = False
        self.prompt.remove_class("-editing")

    async def _start_reply(
        self,
        start: Callable[[threading.Event], Iterator[ChatEvent]],
        user: MessageView | None = None,
    ) -> None:
        """Show an empty reply, then stream ``start(cancel)``'s events into it
        from a worker."""
        from assistant.chat.events import ReplyStarted

        view = await self.chat_view.add(MessageView(Role.ASSISTANT))
        view.set_footer(
            "waiting for the model…" if self.runtime.model_handle.loaded else "loading the model…",
            "streaming",
        )
        self._reply_view = view
        self._pending_user_view = user
        cancel = self._cancel = threading.Event()
        self.streaming = True

        def run() -> None:
            reply_id: int | None = None
            error: str | None = None
            stored: Message | None = None
            try:
                for event in start(cancel):
                    if isinstance(event, ReplyStarted):
                        reply_id = event.reply_message_id
                    self.post_message(ChatEventArrived(event))
            except Exception as exc:
                error = sentence(exc)
                if reply_id is not None:
                    try:
                        stored = self.runtime.repo.get_message(reply_id)
                    except Exception:  # the row went away with its conversation
                        stored = None
            self.post_message(ReplyEnded(error, stored))

        self.run_worker(run, thread=True, group="reply", exit_on_error=False)

    # ---------------------------------------------------- slash commands
    def library(self) -> PromptLibrary | None:
        """The prompt templates, once the start-up worker has read them."""
        return self._library

    async def run_slash(self, line: str) -> None:
        """Run one slash command; a mistake is a notice and the line stays to fix."""
        from assistant.errors import AssistantError
        from assistant.writing.slash import help_lines, parse_slash

        library = self.library()
        if library is None:
            self.notify("The prompt templates are not loaded yet.", markup=False)
            return
        try:
            command = parse_slash(line, library)
        except AssistantError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        if command.kind == "control" and command.name == "remember":
            self.remember(command.argument)
            return
        if command.kind == "control":
            self.prompt.clear()
            if command.name == "help":
                await self.chat_view.add_note(
                    "Slash commands (they apply to the text after them, or to the last "
                    "reply):\n" + "\n".join(help_lines(library))
                )
            elif command.name == "new":
                await self.action_new_conversation()
            elif command.name == "notes":
                self.set_notes(command.argument == "on")
            elif command.name == "memory":
                self.set_memory(command.argument)
            elif command.name == "persona":
                if command.argument:
                    self.set_persona(command.argument)
                else:
                    await self.chat_view.add_note(self.persona_note(library))
            return
        text = command.text
        if command.uses_last_reply:
            reply = self._last_reply()
            text = reply.text if reply is not None else ""
            if not text.strip():
                self.notify(
                    "There is no reply to work on yet: type the text after the command.",
                    markup=False,
                )
                return
        self.prompt.clear()
        self._remember(line)
        user = await self.chat_view.add(MessageView(Role.USER, line))
        await self._start_reply(self._action_stream(line, command, text), user)

    def persona_note(self, library: PromptLibrary) -> str:
        current = self.state.persona or "default"
        names = ", ".join(sorted(library.personas)) or "none"
        return (
            f"Persona in use: {current}. Personas: {names}. "
            "/persona NAME switches, /persona default goes back to the default system prompt."
        )

    def _action_stream(
        self, line: str, command: SlashCommand, text: str
    ) -> Callable[[threading.Event], Iterator[ChatEvent]]:
        return lambda cancel: self.session.run_action(line, command, text, cancel)

    def set_persona(self, name: str) -> None:
        """``/persona NAME`` sets the conversation's system prompt;
        ``/persona default`` goes back to the default one. Like the notes
        switch, it applies to the next message at once and is stored in a
        worker."""
        from assistant.writing.slash import DEFAULT_PERSONA

        library = self.library()
        wanted = None if name == DEFAULT_PERSONA else name
        persona = library.persona(wanted).name if wanted and library is not None else None
        self.state.persona = persona
        self.update_persona_status()
        if self.conversation_id is not None:
            self.background(lambda: self.session.set_persona(persona))
        self.notify(
            f"Persona “{persona}” for this conversation."
            if persona
            else "Back to the default persona.",
            markup=False,
        )

    def update_persona_status(self) -> None:
        persona = self.state.persona
        self.status.persona_text = f"persona {persona}" if persona else ""

    @on(TextArea.Changed, "#prompt")
    def prompt_changed(self, event: TextArea.Changed) -> None:
        from assistant.writing.slash import is_slash, slash_choices

        text = event.text_area.text
        candidates: list[tuple[str, str]] = []
        library = self.library()
        if library is not None and is_slash(text) and "\n" not in text:
            candidates = slash_choices(text, library)
            candidates = [c for c in candidates if c[0] != text.rstrip()][:8]
        self.slash_options.show(candidates)
        self.prompt.completing = bool(candidates)
        self._mention_base = None
        if not candidates and not self.streaming:
            self.complete_mention(text)

    def complete_mention(self, text: str) -> None:
        """``@path`` completion: files and folders matching the word being
        typed, listed in a worker (the disk is not read on the event loop)."""
        import re

        from assistant.chat.attachments import complete_path

        typed = re.search(r'(?:^|\s)@("?)([^\s"]*)$', text)
        if typed is None:
            return
        prefix, base = typed.group(2), text[: typed.start(1) - 1]

        def show(candidates: list[str]) -> None:
            if self.prompt.text != text:  # typed on meanwhile
                return
            self._mention_base = base
            self.slash_options.show([(path, "") for path in candidates])
            self.prompt.completing = bool(candidates)

        self.background(lambda: complete_path(prefix), show, group="complete")

    @on(PromptInput.Completion)
    def completion_key(self, event: PromptInput.Completion) -> None:
        options = self.slash_options
        if event.key == "tab":
            choice = options.choice
            if choice is not None:
                prompt = self.prompt
                if self._mention_base is not None:  # an @path: complete the last word
                    folder = choice.rstrip('"').endswith("/")
                    prompt.text = self._mention_base + choice + ("" if folder else " ")
                else:
                    prompt.text = choice + " "
                prompt.move_cursor(prompt.document.end)
        elif event.key == "up":
            options.action_cursor_up()
        else:
            options.action_cursor_down()

    # ------------------------------------------------------------ notes
    def set_notes(self, on: bool) -> None:
        """The switch takes effect at once (the next message uses it) and is
        stored with the conversation in a worker."""
        self.state.use_notes = on
        self.update_notes_status()
        self.notify(
            "Replies in this conversation use your notes."
            if on
            else "Replies no longer use your notes.",
            markup=False,
        )
        if self.conversation_id is not None:
            self.background(lambda: self.session.set_notes(on))

    def remember(self, text: str) -> None:
        """``/remember TEXT``: kept as a memory in a worker. A text that cannot
        be a memory (too long) is a notice and stays in the box to fix."""
        from assistant.chat.memory import clean_text
        from assistant.errors import AssistantError

        try:
            clean_text(text)
        except AssistantError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        self.prompt.clear()

        def done(result: tuple[Memory, bool]) -> None:
            memory, created = result
            self.notify(
                f"Remembered as memory {memory.id}."
                if created
                else f"Memory {memory.id} already says that; nothing was added.",
                title="Memory",
                markup=False,
            )

        self.background(lambda: self.session.remember(text), done, failed="Not remembered: ")

    def set_memory(self, mode: str) -> None:
        """``/memory on|off|private``: at once for the next message, stored
        with the conversation in a worker."""
        from assistant.domain import MemoryMode

        chosen = MemoryMode(mode)
        self.state.memory = chosen
        self.update_notes_status()
        self.notify(
            {
                MemoryMode.ON: "Replies in this conversation are given your memories.",
                MemoryMode.OFF: "Replies in this conversation are given no memories.",
                MemoryMode.PRIVATE: "This conversation is private: memories are neither "
                "used nor proposed here.",
            }[chosen],
            markup=False,
        )
        if self.conversation_id is not None:
            self.background(lambda: self.session.set_memory(chosen))

    def action_toggle_notes(self) -> None:
        self.set_notes(not self.state.use_notes)

    def update_notes_status(self) -> None:
        parts = []
        if self.state.use_notes:
            parts.append("using notes")
        if self.state.memory != "on":
            parts.append(f"memory {self.state.memory}")
        if self._notes_index_text:
            parts.append(self._notes_index_text)
        self.status.notes_text = " · ".join(parts)

    def pick_reply(self, view: MessageView | None) -> None:
        """Show the sources of ``view`` (None: the last reply)."""
        self._selected_reply = view
        target = view or self._last_reply()
        self.sources.show(target.citations if target is not None else [])
        self.refresh_bindings()

    def on_message_view_picked(self, message: MessageView.Picked) -> None:
        self.chat_view.select(message.view, scroll=False)
        if message.view.role == Role.ASSISTANT:
            self.pick_reply(message.view)

    def action_focus_sources(self) -> None:
        self.sources.query_one(OptionList).focus()

    def action_open_source(self) -> None:
        citation = self.sources.selected
        if citation is None:
            self.notify("The selected reply cites no notes.", markup=False)
            return
        self.open_in_editor(citation)

    def on_sources_panel_open_source(self, message: SourcesPanel.OpenSource) -> None:
        self.open_in_editor(message.citation)

    def open_in_editor(self, citation: Citation) -> None:
        """Run ``$EDITOR +LINE FILE`` (``vi`` by default) with the app
        suspended; a PDF or DOCX (bytes to an editor) shows the cited passage
        instead, with a way to open the file in the system's viewer. The file
        is checked in a worker first."""
        path, line = citation.abs_path, citation.start_line or 1

        def check() -> list[str] | str | tuple[str, str]:
            if not path or not os.path.isfile(path):
                return f"The source file is no longer there: {path or '(unknown)'}"
            if Path(path).suffix.lower() in BINARY_SOURCES or _looks_binary(path):
                return ("passage", self._passage_text(citation))
            try:
                editor = shlex.split(os.environ.get("EDITOR") or "vi")
            except ValueError:
                editor = []
            if not editor or shutil.which(editor[0]) is None:
                name = editor[0] if editor else os.environ.get("EDITOR", "")
                return f"The editor “{name}” was not found; set $EDITOR to your editor."
            return [*editor, f"+{line}", path]

        def run(argv: list[str] | str | tuple[str, str]) -> None:
            if isinstance(argv, str):
                self.show_error(argv)
            elif isinstance(argv, tuple):
                self.show_passage(citation, argv[1])
            else:
                self._run_editor(argv, f"{path}:{line}")

        self.background(check, run)

    def _passage_text(self, citation: Citation) -> str:
        """The cited passage as the index holds it (called in a worker)."""
        if citation.chunk_id is not None:
            rows = self.runtime.notes.repo.chunk_texts([citation.chunk_id])
            if rows:
                _, heading, body = rows[0]
                return f"{heading}\n\n{body}" if heading and heading not in body else body
        return "The passage is no longer in the notes index; sync the notes and ask again."

    def show_passage(self, citation: Citation, text: str) -> None:
        viewer = _system_viewer()

        def answered(open_file: bool | None) -> None:
            if open_file and viewer is not None:
                self.background(
                    lambda: subprocess.Popen(
                        [viewer, citation.abs_path],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    ),
                    failed="The file could not be opened: ",
                )

        self.push_screen(PassageScreen(citation.label, text, viewer is not None), answered)

    def _run_editor(self, argv: list[str], where: str) -> None:
        from textual.app import SuspendNotSupported

        try:
            with self.suspend():
                result = subprocess.run(argv, check=False)
        except SuspendNotSupported:
            if not self.is_headless:
                self.show_error(f"This terminal cannot hand over to an editor; open {where}.")
                return
            # no terminal to hand over (headless runs): the editor runs as is
            result = subprocess.run(argv, check=False, stdin=subprocess.DEVNULL)
        except OSError as exc:
            self.show_error(f"The editor could not start: {exc}")
            return
        if result.returncode != 0:
            self.notify(f"The editor exited with status {result.returncode}.", markup=False)

    def action_retrieval(self) -> None:
        from assistant.notes.grounding import citation

        view = self._selected_reply or self._last_reply()
        passages = view.citations if view is not None else []

        def search(query: str) -> list[Passage]:
            hits = self.runtime.notes.search(query, k=10)
            return [
                Passage(citation(n, hit), hit.snippet, tuple(hit.highlights))
                for n, hit in enumerate(hits, start=1)
            ]

        self.push_screen(RetrievalScreen(passages, search))

    def action_stop(self) -> None:
        if self._cancel is not None and not self._cancel.is_set():
            self._cancel.set()
            self.status.notice_text = STOPPING_NOTICE

    def action_leave(self) -> None:
        """Esc when no reply streams: leave an edit, or go back to the box."""
        if self._editing is not None:
            self._leave_edit()
            self.prompt.clear()
        self.prompt.focus()

    def on_sources_panel_leave(self, message: SourcesPanel.Leave) -> None:
        self.prompt.focus()

    def on_sidebar_leave(self, message: Sidebar.Leave) -> None:
        self.prompt.focus()

    async def action_regenerate(self, message_id: int | None = None) -> None:
        """Answer again: a new reply beside the old one, which stays as a branch."""
        if self.streaming:
            self.notify(BUSY_NOTICE, markup=False)
            return
        views = self.chat_view.views
        if message_id is None:
            last_user = max((i for i, v in enumerate(views) if v.role == Role.USER), default=None)
        else:
            last_user = next((i for i, v in enumerate(views) if v.message_id == message_id), None)
            if last_user is not None and views[last_user].role == Role.ASSISTANT:
                last_user -= 1
        if self.conversation_id is None or last_user is None or last_user < 0:
            self.notify("There is no message to answer again yet.", markup=False)
            return
        target = views[last_user].message_id
        for view in views[last_user + 1 :]:
            await view.remove()
        await self._start_reply(
            lambda cancel: self.session.regenerate(cancel, message_id=target), views[last_user]
        )

    # -------------------------------------------------------- branches
    @on(MessageView.StepBranch)
    def step_branch(self, event: MessageView.StepBranch) -> None:
        self.move_branch(event.view, event.step)

    def move_branch(self, view: MessageView, step: int) -> None:
        """Show the previous or next version of ``view``'s message."""
        place, count = view.branch
        if view.message_id is None or count < 2:
            self.notify("This message has no other version.", markup=False)
            return
        if not 1 <= place + step <= count:
            return
        if self.streaming:
            self.notify(BUSY_NOTICE, markup=False)
            return
        message_id = view.message_id
        index = self.chat_view.views.index(view) if view in self.chat_view.views else None

        async def show(thread: Thread) -> None:
            await self.chat_view.show(thread)
            self.after_switch(thread, keep_notice=True)
            views = self.chat_view.views
            if index is not None and views:
                # the same place in the branch, now holding the other version
                offset = len(views) - len(thread.messages)
                at = views[max(0, min(len(views) - 1, index + offset))]
                self.chat_view.select(at)

        self.background(lambda: self.session.step_branch(message_id, step), show, group="open")

    def action_branch(self, step: int) -> None:
        """Alt+Left/Right: the picked message, else the nearest message above
        the box that has other versions."""
        target = self.chat_view.selected
        if target is None or target.branch[1] < 2:
            target = next((v for v in reversed(self.chat_view.views) if v.branch[1] > 1), None)
        if target is None:
            self.notify("No message here has another version.", markup=False)
            return
        self.move_branch(target, step)

    def action_pick_messages(self) -> None:
        chat = self.chat_view
        if chat.views:
            chat.focus()
            chat.select(chat.views[-1])

    @on(ChatView.Act)
    async def chat_act(self, event: ChatView.Act) -> None:
        view = event.view
        if event.action == "leave":
            self.prompt.focus()
            return
        if view is None:
            return
        if event.action == "edit":
            self.start_edit(view)
        elif event.action == "regenerate":
            if view.message_id is None:
                return
            await self.action_regenerate(view.message_id)
        elif event.action == "fork":
            self.fork(view.message_id)
        elif event.action == "copy":
            self.copy_to_clipboard(view.text)
            self.notify(f"Copied the message ({len(view.text)} characters).", markup=False)
        elif event.action == "sources" and view.role == Role.ASSISTANT:
            self.pick_reply(view)
            if view.citations:
                self.action_focus_sources()

    def fork(self, message_id: int | None = None) -> None:
        """Copy the branch (up to ``message_id``) into a new conversation and open it."""
        if self.conversation_id is None:
            self.notify("There is nothing to fork yet.", markup=False)
            return
        if self.streaming:
            self.notify(BUSY_NOTICE, markup=False)
            return

        async def show(thread: Thread) -> None:
            await self.chat_view.show(thread)
            self.after_switch(thread)
            self.refresh_sidebar()
            self.prompt.focus()
            self.notify(f"Forked into “{thread.conversation.title}”.", markup=False)

        self.background(lambda: self.session.fork(message_id), show, group="open")

    def action_fork(self) -> None:
        self.fork(None)

    # ------------------------------------------------------- clipboard
    def _last_reply(self) -> MessageView | None:
        replies = [v for v in self.chat_view.views if v.role == Role.ASSISTANT]
        return replies[-1] if replies else None

    def action_copy_reply(self) -> None:
        reply = self._last_reply()
        text = reply.shown_text if reply else ""
        if not text.strip():
            self.notify("There is no reply to copy yet.", markup=False)
            return
        self.copy_to_clipboard(text)
        self.notify(f"Copied the last reply ({len(text)} characters).", markup=False)

    def action_copy_code(self) -> None:
        reply = self._last_reply()
        blocks = code_blocks(reply.shown_text) if reply else []
        if not blocks:
            self.notify("The last reply has no code block.", markup=False)
            return
        position = len(blocks) - 1 - (self._code_presses % len(blocks))
        self._code_presses += 1
        self.copy_to_clipboard(blocks[position])
        self.notify(f"Copied code block {position + 1} of {len(blocks)}.", markup=False)

    # --------------------------------------------------- conversations
    def refresh_sidebar(self) -> Worker[None] | None:
        """Read the conversation list in a worker (the filter's results when
        one is typed; else as many as are loaded, at least a page), then show it."""
        if not self.database_ready:
            return None
        words = self.sidebar_box.filter_text
        loaded = max(PAGE, len(self.sidebar.conversations))

        def job() -> tuple[list[Conversation], bool]:
            if words:
                return self.runtime.repo.filter_conversations(words), False
            return self._first_page(loaded)

        def show(result: tuple[list[Conversation], bool]) -> None:
            self.sidebar.show(result[0], self.conversation_id, result[1])

        return self.background(job, show, group="sidebar")

    @on(Sidebar.FilterChanged)
    def filter_changed(self, event: Sidebar.FilterChanged) -> None:
        self.refresh_sidebar()

    @on(ConversationList.NeedMore)
    def more_conversations(self, event: ConversationList.NeedMore) -> None:
        if self.sidebar_box.filter_text:
            return
        after = event.after

        def job() -> tuple[list[Conversation], bool]:
            page = self.runtime.repo.list_conversations(PAGE * 2 + 1, after=after, counts=False)
            return page[: PAGE * 2], len(page) > PAGE * 2

        def show(result: tuple[list[Conversation], bool]) -> None:
            if self.sidebar.conversations and self.sidebar.conversations[-1].id == after.id:
                self.sidebar.extend(*result)

        self.background(job, show, group="sidebar-more")

    def action_filter(self) -> None:
        box = self.sidebar_box
        if not box.display:
            box.display = True
            box.hidden_by_user = False
        box.query_one("#sidebar-filter").focus()

    def action_toggle_sidebar(self) -> None:
        box = self.sidebar_box
        box.display = not box.display
        box.hidden_by_user = not box.display
        if not box.display and (self.focused is None or box in self.focused.ancestors):
            self.prompt.focus()

    @on(ConversationList.Opened)
    def open_selected(self, event: ConversationList.Opened) -> None:
        conversation = event.conversation
        if conversation.id == self.conversation_id:
            self.prompt.focus()
            return
        if self.streaming:
            self.notify(BUSY_NOTICE, markup=False)
            self.sidebar.select_id(self.conversation_id)
            return
        self.open_conversation(conversation.id)

    def open_conversation(
        self, conversation_id: int | None, at_message: int | None = None
    ) -> Worker[None]:
        """Read the conversation (on the branch through ``at_message``) in a
        worker, then show it."""

        async def show(thread: Thread | None) -> None:
            await self.chat_view.show(thread)
            self.after_switch(thread)
            if at_message is not None:
                await self._scroll_to_message(at_message)

        return self.background(
            lambda: self.session.open(conversation_id, at_message), show, group="open"
        )

    async def _scroll_to_message(self, message_id: int) -> None:
        chat = self.chat_view
        view = chat.view_for(message_id)
        if view is None:
            await chat.show_earlier()
            view = chat.view_for(message_id)
        if view is None:
            return
        chat.select(view)
        view.add_class("-found")
        self.set_timer(3.0, lambda: view.remove_class("-found"))

    def search_messages(self, query: str, limit: int) -> list[SearchHit]:
        """The palette's search (called in a thread by ``ConversationSearch``)."""
        return self.runtime.repo.search(query, limit)

    def jump_to_message(self, conversation_id: int, message_id: int) -> None:
        """Open a search hit: its conversation, on the branch holding it."""
        if self.streaming and conversation_id != self.conversation_id:
            self.notify(BUSY_NOTICE, markup=False)
            return
        self.open_conversation(conversation_id, message_id)

    def after_switch(self, thread: Thread | None, *, keep_notice: bool = False) -> None:
        """The screen follows the conversation now in ``state``: the status
        line shows this conversation's last reply, not the previous one's."""
        self._code_presses = 0
        self._leave_edit()
        status = self.status
        status.clear_reply_figures()
        if keep_notice:
            status.notice_text = ""
        last = None
        if thread is not None:
            last = next((m for m in reversed(thread.messages) if m.role == Role.ASSISTANT), None)
        if last is not None:
            if last.tokens_per_second:
                status.speed_text = f"last reply {last.tokens_per_second:.1f} tok/s"
            if last.prompt_tokens is not None and self._context_size:
                used = last.prompt_tokens + (last.completion_tokens or 0)
                status.show_context(used, self._context_size)
        self.pick_reply(None)
        self.update_notes_status()
        self.update_persona_status()
        self._set_recall(thread)
        self.sidebar.select_id(self.conversation_id)
        self.follow_engine()

    async def action_new_conversation(self) -> None:
        if self.streaming:
            self.notify(BUSY_NOTICE, markup=False)
            return
        self.session.open(None)  # no database work for a conversation not yet stored
        await self.chat_view.show(None)
        self.after_switch(None)
        self.prompt.focus()

    @on(ConversationList.Action)
    def sidebar_action(self, event: ConversationList.Action) -> None:
        if event.action == "delete":
            self.ask_delete(event.conversation_id)
        elif event.action == "rename":
            self.ask_rename(event.conversation_id)

    def action_rename(self) -> None:
        target = self.conversation_id or self.sidebar.highlighted_id
        if target is None:
            self.notify("Open a conversation to rename it.", markup=False)
            return
        self.ask_rename(target)

    def action_delete(self) -> None:
        target = self.conversation_id or self.sidebar.highlighted_id
        if target is None:
            self.notify("Open a conversation to delete it.", markup=False)
            return
        self.ask_delete(target)

    def ask_rename(self, conversation_id: int) -> None:
        def ask(conversation: Conversation) -> None:
            def renamed(title: str | None) -> None:
                if title:
                    self.background(
                        lambda: self.session.chat.rename(conversation_id, title), self._refreshed
                    )

            self.push_screen(RenameScreen(conversation.title), renamed)

        self.background(lambda: self.session.chat.conversation(conversation_id), ask)

    def ask_delete(self, conversation_id: int) -> None:
        if self.streaming and conversation_id == self.conversation_id:
            self.notify(BUSY_NOTICE, markup=False)
            return

        def ask(conversation: Conversation) -> None:
            def answered(confirmed: bool | None) -> None:
                if confirmed:
                    self.background(
                        lambda: self.session.chat.delete(conversation_id),
                        lambda _: self._deleted(conversation),
                    )

            self.push_screen(ConfirmDeleteScreen(conversation.title), answered)

        self.background(lambda: self.session.chat.conversation(conversation_id), ask)

    def _refreshed(self, _: object) -> None:
        self.refresh_sidebar()

    async def _deleted(self, conversation: Conversation) -> None:
        if conversation.id == self.conversation_id:
            await self.action_new_conversation()
        self.refresh_sidebar()
        self.notify(f"Deleted “{conversation.title}”.", markup=False)

    # ----------------------------------------------------------- export
    def action_export(self) -> None:
        conversation_id = self.conversation_id
        if conversation_id is None:
            self.notify("Open a conversation to export it.", markup=False)
            return

        def ask(conversation: Conversation) -> None:
            suggested = Path.cwd() / f"{slug(conversation.title)}.md"

            def chosen(path: Path | None) -> None:
                if path is not None:
                    self.export_to(conversation_id, path)

            self.push_screen(ExportScreen(suggested), chosen)

        self.background(lambda: self.session.chat.conversation(conversation_id), ask)

    def export_to(self, conversation_id: int, path: Path, replace: bool = False) -> None:
        """Write the export in a worker; an existing file is replaced only
        after asking."""
        fmt = "json" if path.suffix.lower() == ".json" else "md"

        def job() -> str:
            from assistant.fileio import atomic_write_text

            if path.exists() and not replace:
                return "exists"
            atomic_write_text(path, self.session.chat.export_text(conversation_id, fmt))
            return "written"

        def done(result: str) -> None:
            if result == "written":
                what = "every branch, as JSON" if fmt == "json" else "the current branch"
                self.notify(f"Wrote {path} ({what}).", markup=False)
                return

            def answered(yes: bool | None) -> None:
                if yes:
                    self.export_to(conversation_id, path, replace=True)

            self.push_screen(
                ConfirmScreen("Replace the file?", f"{path} exists.", yes="Replace"), answered
            )

        self.background(job, done, failed="The export failed: ")

    # ------------------------------------------------------ other screens
    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_open_writing(self) -> None:
        """Open the writing screen, or go back from it."""
        from assistant.ui.writing_screen import WritingScreen

        if isinstance(self.screen, WritingScreen):
            self.screen.action_close()
            return
        if len(self.screen_stack) > 1:
            return  # a modal is open
        self.push_screen(WritingScreen(lambda: self.runtime.chat))

    # ------------------------------------------------------------ models
    def action_pick_model(self) -> None:
        """The model picker; the chosen model loads in a worker."""
        if self.streaming:
            self.notify(BUSY_NOTICE, markup=False)
            return

        def chosen(entry: PickerEntry | None) -> None:
            if entry is not None and not entry.current:
                start_switch(self, self.runtime, entry)

        self.push_screen(ModelPickerScreen(lambda: gather_entries(self.runtime)), chosen)

    def follow_engine(self) -> None:
        """A conversation whose replies came from a named engine goes on with
        it (switching to an engine's model loads nothing locally)."""
        engine = self.state.engine
        settings = self.runtime.settings
        if engine is None or engine == self.runtime.current_spec().engine:
            return
        if engine not in settings.engines:
            self.notify(f"This conversation used engine {engine}, no longer in config.toml.")
            return
        spec = self.runtime.model_spec(engine=engine)
        start_switch(self, self.runtime, PickerEntry(engine, "", spec))

    def on_model_loading(self, message: ModelLoading) -> None:
        self.status.model_text = message.text

    def on_model_switched(self, message: ModelSwitched) -> None:
        self.status.model_text = message.name
        if message.error:
            self.show_error(message.error)
            return
        if message.warning:
            self.notify(message.warning, title="Memory", severity="warning", markup=False)
        if message.notice:
            self.notify(message.notice, markup=False)

    def action_search_conversations(self) -> None:
        self.push_screen(
            CommandPalette(providers=[ConversationSearch], placeholder="Search all conversations…")
        )

    def action_open_compose(self) -> None:
        """Open the compose screen, or go back from it."""
        from assistant.ui.compose_screen import ComposeScreen

        if isinstance(self.screen, ComposeScreen):
            self.pop_screen()
            return
        if any(isinstance(screen, ComposeScreen) for screen in self.screen_stack):
            return  # a dialog of the compose screen is open
        self.push_screen(ComposeScreen(lambda: self.runtime.compose))

    async def action_quit(self) -> None:
        if self._cancel is not None:
            self._cancel.set()  # the reply ends as stopped, with its text kept
        self.exit()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if screen is not self.main_screen:
            yield SystemCommand("Show keys", "Every key of the app", self.action_help)
            return
        yield SystemCommand(
            "Search all conversations", "Messages of every branch, best first",
            self.action_search_conversations,
        )  # fmt: skip
        yield SystemCommand(
            "New conversation", "Start an empty conversation", self.action_new_conversation
        )
        yield SystemCommand(
            "Answer again", "A new reply beside the last one (kept)", self.action_regenerate
        )
        yield SystemCommand(
            "Fork conversation", "Copy this branch into a new conversation", self.action_fork
        )
        yield SystemCommand(
            "Export conversation", "Markdown or JSON, with sources", self.action_export
        )
        yield SystemCommand("Copy last reply", "Copy it to the clipboard", self.action_copy_reply)
        yield SystemCommand(
            "Copy code block", "Copy a code block of the last reply", self.action_copy_code
        )
        yield SystemCommand("Rename conversation", "Give it a new title", self.action_rename)
        yield SystemCommand("Delete conversation", "Asks first", self.action_delete)
        yield SystemCommand(
            "Filter conversations", "Titles and text, in the sidebar", self.action_filter
        )
        yield SystemCommand("Show or hide the sidebar", "Ctrl+B", self.action_toggle_sidebar)
        yield SystemCommand(
            "Use my notes (toggle)", "Answer from your notes, or not", self.action_toggle_notes
        )
        yield SystemCommand(
            "Retrieval view", "Keyword rank, vector rank and score", self.action_retrieval
        )
        yield SystemCommand(
            "Open source", "The selected source in $EDITOR", self.action_open_source
        )
        yield SystemCommand(
            "Switch model", "Local models and the engines' models", self.action_pick_model
        )
        yield SystemCommand("Show keys", "Every key of the app", self.action_help)
        yield SystemCommand("Writing", "Open the writing screen", self.action_open_writing)
        yield SystemCommand(
            "Compose", "Write a new piece from a brief (Ctrl+T)", self.action_open_compose
        )


def _looks_binary(path: str) -> bool:
    """A file an editor would show as bytes (called in a worker)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return b"\x00" in head or head.startswith((b"%PDF", b"PK\x03\x04"))


def _system_viewer() -> str | None:
    for name in ("xdg-open", "open"):
        found = shutil.which(name)
        if found:
            return found
    return None
