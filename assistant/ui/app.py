"""The terminal chat app: a sidebar of conversations and a streaming chat view.

The app is a shell over the application layer: every change to a
conversation goes through ``ChatSession`` (send, answer again, writing
actions, persona, notes switch), exactly as the CLI's does. The one decision
to know: nothing that touches the database, a file or the model runs on the
event loop. Such work runs in a thread worker started by ``background``; it
reports back through ``call_from_thread`` (results) or posted messages
(streamed replies), and an error becomes its one sentence inside the worker,
so even a crash log is written off the event loop.

The first frame is drawn before anything slow happens: the database opens,
then the model loads, then the notes sync, each in a worker once the screen
is up.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message as TextualMessage
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Label, OptionList, TextArea
from textual.worker import Worker, WorkerState

from assistant.chat.session import ChatSession, ConversationState
from assistant.domain import Citation, Conversation, Message, Role
from assistant.ui.screens import ConfirmDeleteScreen, HelpScreen, RenameScreen, RetrievalScreen
from assistant.ui.widgets import (
    ChatView,
    ConversationList,
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
    from assistant.writing.slash import SlashCommand
    from assistant.writing.templates import PromptLibrary

T = TypeVar("T")
STOPPING_NOTICE = "stopping…"
BUSY_NOTICE = "A reply is still being written; press Esc to stop it first."


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
    ``stored`` the reply as it is on disk (the truth: cancelled, error...)."""

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


class AssistantApp(App[None]):
    """``AssistantApp(runtime, conversation_id=None)``; ``assistant`` runs it."""

    CSS_PATH = "assistant.tcss"
    TITLE = "assistant"
    BINDINGS = [
        Binding("escape", "stop", "Stop"),
        Binding("ctrl+n", "new_conversation", "New"),
        Binding("ctrl+r", "regenerate", "Regenerate"),
        Binding("ctrl+o", "copy_reply", "Copy reply"),
        Binding("ctrl+g", "copy_code", "Copy code", show=False),
        Binding("f2", "rename", "Rename"),
        Binding("f8", "delete", "Delete"),
        Binding("f5", "toggle_notes", "Notes"),
        # F6, F7 and Ctrl+E belong to the input (select line, select all, end)
        Binding("f3", "focus_sources", "Sources", show=False),
        Binding("f9", "retrieval", "Retrieval", show=False),
        Binding("f4", "open_writing", "Writing", show=False),
        Binding("ctrl+t", "open_compose", "Compose", show=False),
        Binding("f1", "help", "Keys"),
        Binding("question_mark", "help", "Keys", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    streaming: reactive[bool] = reactive(False)
    """True while a reply streams: the input is locked and Esc stops the reply."""

    def __init__(
        self, runtime: Runtime, conversation_id: int | None = None, *, sync_notes: bool = True
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.session: ChatSession = runtime.session(ConversationState(conversation_id))
        """The conversation in front of the user: the one typed state both shells use."""
        self.first_screen_at: float | None = None
        """Wall-clock time of the first frame (read by bench/startup.py)."""
        self.database_ready = False
        self.sync_notes_at_start = sync_notes
        self._library: PromptLibrary | None = None
        self._cancel: threading.Event | None = None
        self._reply_view: MessageView | None = None
        self._code_presses = 0
        self._notes_cancel = threading.Event()
        self._notes_index_text = ""
        self._selected_reply: MessageView | None = None

    @property
    def state(self) -> ConversationState:
        return self.session.state

    @property
    def conversation_id(self) -> int | None:
        return self.session.state.conversation_id

    # ------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="sidebar"):
                yield Label("Conversations", id="sidebar-title")
                yield ConversationList(id="conversations")
            with Vertical(id="chat"):
                yield ChatView(id="messages")
                yield SourcesPanel(id="sources")
                yield PromptInput(id="prompt")
                yield SlashOptions(id="slash")
        yield StatusLine(id="status")
        yield Footer()

    # The chat screen is the bottom of the stack; modals sit above it.
    @property
    def prompt(self) -> PromptInput:
        return self.screen_stack[0].query_one(PromptInput)

    @property
    def chat_view(self) -> ChatView:
        return self.screen_stack[0].query_one(ChatView)

    @property
    def sidebar(self) -> ConversationList:
        return self.screen_stack[0].query_one(ConversationList)

    @property
    def status(self) -> StatusLine:
        return self.screen_stack[0].query_one(StatusLine)

    @property
    def sources(self) -> SourcesPanel:
        return self.screen_stack[0].query_one(SourcesPanel)

    @property
    def slash_options(self) -> SlashOptions:
        return self.screen_stack[0].query_one(SlashOptions)

    def on_mount(self) -> None:
        self.status.model_text = f"{self.runtime.model_label()} · loading…"
        self.slash_options.display = False
        self.prompt.focus()

    def on_ready(self) -> None:
        self.first_screen_at = time.time()
        # The model loads once the history is on screen: run side by side, the
        # two would share one interpreter lock and both arrive later.
        self.open_database()

    def on_unmount(self) -> None:
        self._notes_cancel.set()
        if self._cancel is not None:
            self._cancel.set()

    def watch_streaming(self, streaming: bool) -> None:
        prompt = self.prompt
        prompt.read_only = streaming
        prompt.set_class(streaming, "-locked")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
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

    def open_database(self) -> None:
        """Open the database, read the sidebar and the conversation to show,
        read the prompt templates; then (see on_worker_state_changed) load the
        model."""
        wanted = self.conversation_id

        def job() -> tuple[list[Conversation], list[Message], list[str]]:
            from assistant.errors import NotFound

            problems: list[str] = []
            conversations = self.runtime.repo.list_conversations()
            messages: list[Message] = []
            if wanted is not None:
                try:
                    messages = self.session.open(wanted)
                except NotFound as exc:  # deleted meanwhile, by another instance
                    self.session.open(None)
                    problems.append(str(exc))
            try:
                self._library = self.runtime.library()
            except Exception as exc:  # a broken template: chat still works
                problems.append(sentence(exc))
            return conversations, messages, problems

        async def done(result: tuple[list[Conversation], list[Message], list[str]]) -> None:
            conversations, messages, problems = result
            self.database_ready = True
            await self.sidebar.show(conversations, self.conversation_id)
            if messages:
                await self.chat_view.show(messages)
            self.after_switch()
            for problem in problems:
                self.show_error(problem)

        self.background(job, done, group="database")

    def load_model(self) -> None:
        def job() -> tuple[str, int]:
            model = self.runtime.model_handle.get()
            return model.name, model.context_size

        def done(result: tuple[str, int]) -> None:
            self.status.model_text = result[0]

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

        def progress(p: SyncProgress) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= 0.25:
                last = now
                done = f"{p.files_done}/{p.files_total} files" if p.files_total else "scanning"
                self.post_message(NotesState(f"notes syncing {done}"))

        def run() -> None:
            try:
                notes = self.runtime.notes
                notices: list[str] = []
                if notes.offer_samples() is not None:
                    notices.append("No notes folder yet: the sample notes are indexed for you.")
                self.post_message(NotesState("notes syncing"))
                report = notes.sync(progress, self._notes_cancel)
                status = notes.status()
            except Exception as exc:
                error = f"The notes could not be synced: {sentence(exc)}"
                self.post_message(NotesState("notes index failed", error=error))
                return
            text = f"notes {status.files} files, {status.chunks} passages"
            if status.skipped:
                text += f", {len(status.skipped)} skipped"
            self.post_message(NotesState(text, notices + report.messages + status.messages))

        self.run_worker(run, thread=True, group="notes", exit_on_error=False)

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
            self.load_model()
        elif worker.group == "model" and self.sync_notes_at_start:
            self.sync_notes()
        if event.state == WorkerState.ERROR:
            self.log.error(f"worker {worker.name} failed", worker.error)

    def show_error(self, text: str) -> None:
        self.status.notice_text = text
        self.notify(text, title="Error", severity="error", timeout=12, markup=False)

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
            if event.citations:
                self.sources.show(list(event.citations))
            plan = event.plan
            if plan is not None:
                self.status.show_context(plan.prompt_tokens, plan.context_size)
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

    async def on_reply_ended(self, message: ReplyEnded) -> None:
        view, self._reply_view = self._reply_view, None
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
        if self.screen is self.screen_stack[0]:
            self.prompt.focus()

    # --------------------------------------------------------- sending
    @on(PromptInput.Submitted)
    async def send(self, event: PromptInput.Submitted) -> None:
        from assistant.writing.slash import is_slash

        text = event.text
        if self.streaming or not text.strip():
            return
        self.slash_options.show([])
        self.prompt.completing = False
        if is_slash(text.strip()):
            await self.run_slash(text.strip())
            return
        if text.startswith("//"):
            text = text[1:]  # "//" sends a message that starts with "/"
        self.prompt.clear()
        await self.chat_view.add(MessageView(Role.USER, text))
        await self._start_reply(lambda cancel: self.session.send(text, cancel))

    async def _start_reply(self, start: Callable[[threading.Event], Iterator[ChatEvent]]) -> None:
        """Show an empty reply, then stream ``start(cancel)``'s events into it
        from a worker."""
        from assistant.chat.events import ReplyStarted

        view = await self.chat_view.add(MessageView(Role.ASSISTANT))
        view.set_footer(
            "waiting for the model…" if self.runtime.model_handle.loaded else "loading the model…",
            "streaming",
        )
        self._reply_view = view
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
            elif command.name == "persona":
                self.set_persona(command.argument)
            return
        text = command.text
        if command.uses_last_reply:
            reply = self._last_reply()
            text = reply.shown_text if reply is not None else ""
            if not text.strip():
                self.notify(
                    "There is no reply to work on yet: type the text after the command.",
                    markup=False,
                )
                return
        self.prompt.clear()
        await self.chat_view.add(MessageView(Role.USER, line))
        await self._start_reply(self._action_stream(line, command, text))

    def _action_stream(
        self, line: str, command: SlashCommand, text: str
    ) -> Callable[[threading.Event], Iterator[ChatEvent]]:
        return lambda cancel: self.session.run_action(line, command, text, cancel)

    def set_persona(self, name: str) -> None:
        """``/persona NAME`` sets the conversation's system prompt; ``/persona``
        alone goes back to the default one. Like the notes switch, it applies
        to the next message at once and is stored in a worker."""
        library = self.library()
        persona = library.persona(name).name if name and library is not None else None
        self.state.persona = persona
        if self.conversation_id is not None:
            self.background(lambda: self.session.set_persona(persona))
        self.notify(
            f"Persona “{persona}” for this conversation."
            if persona
            else "Back to the default persona.",
            markup=False,
        )

    @on(TextArea.Changed, "#prompt")
    def prompt_changed(self, event: TextArea.Changed) -> None:
        from assistant.writing.slash import complete_slash, is_slash

        text = event.text_area.text
        candidates: list[str] = []
        library = self.library()
        if library is not None and is_slash(text) and "\n" not in text and not self.streaming:
            candidates = complete_slash(text, library)
            candidates = [c for c in candidates if c != text.rstrip()][:8]
        self.slash_options.show(candidates)
        self.prompt.completing = bool(candidates)

    @on(PromptInput.Completion)
    def completion_key(self, event: PromptInput.Completion) -> None:
        options = self.slash_options
        if event.key == "tab":
            choice = options.choice
            if choice is not None:
                prompt = self.prompt
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

    def action_toggle_notes(self) -> None:
        self.set_notes(not self.state.use_notes)

    def update_notes_status(self) -> None:
        parts = []
        if self.state.use_notes:
            parts.append("using notes")
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
        suspended; the file is checked in a worker first."""
        path, line = citation.abs_path, citation.start_line or 1

        def check() -> list[str] | str:
            if not path or not os.path.isfile(path):
                return f"The source file is no longer there: {path or '(unknown)'}"
            try:
                editor = shlex.split(os.environ.get("EDITOR") or "vi")
            except ValueError:
                editor = []
            if not editor or shutil.which(editor[0]) is None:
                name = editor[0] if editor else os.environ.get("EDITOR", "")
                return f"The editor “{name}” was not found; set $EDITOR to your editor."
            return [*editor, f"+{line}", path]

        def run(argv: list[str] | str) -> None:
            if isinstance(argv, str):
                self.show_error(argv)
            else:
                self._run_editor(argv, f"{path}:{line}")

        self.background(check, run)

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

        def search(query: str) -> list[Citation]:
            hits = self.runtime.notes.search(query, k=10)
            return [citation(n, hit) for n, hit in enumerate(hits, start=1)]

        self.push_screen(RetrievalScreen(passages, search))

    def action_stop(self) -> None:
        if self._cancel is not None and not self._cancel.is_set():
            self._cancel.set()
            self.status.notice_text = STOPPING_NOTICE

    async def action_regenerate(self) -> None:
        if self.streaming:
            self.notify(BUSY_NOTICE, markup=False)
            return
        views = self.chat_view.views
        last_user = max((i for i, v in enumerate(views) if v.role == Role.USER), default=None)
        if self.conversation_id is None or last_user is None:
            self.notify("There is no message to answer again yet.", markup=False)
            return
        for view in views[last_user + 1 :]:
            await view.remove()
        await self._start_reply(lambda cancel: self.session.regenerate(cancel))

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
        """Read the conversation list in a worker, then show it."""
        if not self.database_ready:
            return None

        async def show(conversations: list[Conversation]) -> None:
            await self.sidebar.show(conversations, self.conversation_id)

        return self.background(self.runtime.repo.list_conversations, show, group="sidebar")

    @on(ConversationList.Selected)
    def open_selected(self, event: ConversationList.Selected) -> None:
        item = event.item
        conversation = getattr(item, "conversation", None)
        if conversation is None or conversation.id == self.conversation_id:
            return
        if self.streaming:
            self.notify(BUSY_NOTICE, markup=False)
            self.sidebar.select_id(self.conversation_id)
            return
        self.open_conversation(conversation.id)

    def open_conversation(self, conversation_id: int | None) -> Worker[None]:
        """Read the conversation in a worker, then show it."""

        async def show(messages: list[Message]) -> None:
            await self.chat_view.show(messages)
            self.after_switch()

        return self.background(lambda: self.session.open(conversation_id), show, group="open")

    def after_switch(self) -> None:
        """The screen follows the conversation now in ``state``."""
        self._code_presses = 0
        self.status.notice_text = ""
        self.status.context_text = ""
        self.pick_reply(None)
        self.update_notes_status()
        self.sidebar.select_id(self.conversation_id)

    async def action_new_conversation(self) -> None:
        if self.streaming:
            self.notify(BUSY_NOTICE, markup=False)
            return
        self.session.open(None)  # no database work for a conversation not yet stored
        await self.chat_view.show([])
        self.after_switch()
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

    # ------------------------------------------------------ other screens
    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_open_writing(self) -> None:
        """Open the writing screen, or go back from it."""
        from assistant.ui.writing_screen import WritingScreen

        if isinstance(self.screen, WritingScreen):
            self.pop_screen()
            return
        self.push_screen(WritingScreen(lambda: self.runtime.chat))

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
            self._cancel.set()  # the reply ends as cancelled, with its text kept
        self.exit()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "New conversation", "Start an empty conversation", self.action_new_conversation
        )
        yield SystemCommand("Regenerate", "Answer the last message again", self.action_regenerate)
        yield SystemCommand("Copy last reply", "Copy it to the clipboard", self.action_copy_reply)
        yield SystemCommand(
            "Copy code block", "Copy a code block of the last reply", self.action_copy_code
        )
        yield SystemCommand("Rename conversation", "Give it a new title", self.action_rename)
        yield SystemCommand("Delete conversation", "Asks first", self.action_delete)
        yield SystemCommand(
            "Use my notes (toggle)", "Answer from your notes, or not", self.action_toggle_notes
        )
        yield SystemCommand(
            "Retrieval view", "Keyword rank, vector rank and score", self.action_retrieval
        )
        yield SystemCommand(
            "Open source", "The selected source in $EDITOR", self.action_open_source
        )
        yield SystemCommand("Show keys", "Every key of the app", self.action_help)
        yield SystemCommand("Writing", "Open the writing screen", self.action_open_writing)
        yield SystemCommand(
            "Compose", "Write a new piece from a brief (Ctrl+T)", self.action_open_compose
        )
