"""The terminal chat app: a sidebar of conversations and a streaming chat view.

The first frame is drawn before anything slow happens: the database is opened
and the model is loaded in thread workers started once the screen is up, so
start-up never waits for SQLAlchemy, Alembic or llama.cpp. Workers never touch
widgets; they post messages, and every worker's end (success, error, cancel)
is handled in one place, ``on_worker_state_changed``.

Notes and slash commands: the notes index is synced in the background once the
model worker has ended (never before the first frame), and "use my notes" is a
per-conversation switch held for the session. Slash writing actions
(``/translate fr``…) are stored in the conversation like any exchange: the
command line as the user message, the result as the reply, so reopening the
conversation shows them again.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shlex
import shutil
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message as TextualMessage
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Label, OptionList, TextArea
from textual.worker import Worker, WorkerState

from assistant.domain import Conversation, Message, Role
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
    from collections.abc import Iterable

    from assistant.notes.service import NotesService
    from assistant.runtime import Runtime
    from assistant.writing.slash import SlashCommand
    from assistant.writing.templates import PromptLibrary

WRITING_SCREEN_MODULE = "assistant.ui.writing_screen"
STOPPING_NOTICE = "stopping…"
BUSY_NOTICE = "A reply is still being written; press Esc to stop it first."


class ChatEventArrived(TextualMessage):
    """A ReplyStarted, TextPiece or ReplyDone from the chat service."""

    def __init__(self, event: object) -> None:
        super().__init__()
        self.event = event


class HistoryLoaded(TextualMessage):
    """The database is open: the conversations, and the messages of the one to show."""

    def __init__(
        self,
        conversations: list[Conversation],
        conversation_id: int | None,
        messages: list[Message],
    ) -> None:
        super().__init__()
        self.conversations = conversations
        self.conversation_id = conversation_id
        self.messages = messages


class ConversationCreated(TextualMessage):
    def __init__(self, conversation_id: int) -> None:
        super().__init__()
        self.conversation_id = conversation_id


class NotesState(TextualMessage):
    """What the notes index is doing: syncing, ready, or what went wrong."""

    def __init__(self, text: str, notices: list[str] | None = None) -> None:
        super().__init__()
        self.text = text
        self.notices = notices or []


class ActionStarted(TextualMessage):
    """A slash writing action has its stored reply row and starts streaming."""

    def __init__(self, reply_message_id: int, label: str) -> None:
        super().__init__()
        self.reply_message_id = reply_message_id
        self.label = label


class ModelReady(TextualMessage):
    def __init__(self, name: str, context_size: int) -> None:
        super().__init__()
        self.name = name
        self.context_size = context_size


def user_message(error: BaseException) -> str:
    """One sentence for an error: the core's own sentence for errors a user can
    cause (missing or bad model file, bad setting, database trouble), a short
    generic one naming the cause for anything else."""
    from assistant.config import ConfigError
    from assistant.llm.base import ModelError
    from assistant.notes.errors import NotesError
    from assistant.store.database import DatabaseError
    from assistant.store.repository import NotFound
    from assistant.writing.errors import WritingError

    known = (
        ModelError,
        ConfigError,
        DatabaseError,
        NotFound,
        NotesError,
        WritingError,
        ValueError,
        OSError,
    )
    if isinstance(error, known):
        return str(error).strip() or type(error).__name__
    return f"Something went wrong: {type(error).__name__}: {error}"


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
        self.conversation_id: int | None = conversation_id
        self.first_screen_at: float | None = None
        """Wall-clock time of the first frame (read by bench/startup.py)."""
        self.database_ready = False
        self._cancel: threading.Event | None = None
        self._reply_view: MessageView | None = None
        self._code_presses = 0
        self._writing_available = importlib.util.find_spec(WRITING_SCREEN_MODULE) is not None
        self.sync_notes_at_start = sync_notes
        self._notes: NotesService | None = None
        self._library: PromptLibrary | None = None
        self._lazy_lock = threading.Lock()
        self._notes_cancel = threading.Event()
        self._notes_index_text = ""
        self.notes_on: set[int | None] = set()
        """Conversations whose replies use the notes (None: the one not yet created)."""
        self._pending_system: str | None = None
        """A /persona chosen before the conversation exists."""
        self._selected_reply: MessageView | None = None

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

    # Both load on first use, from whichever thread asks first.
    def notes_service(self) -> NotesService:
        with self._lazy_lock:
            if self._notes is None:
                from assistant.notes.service import NotesService

                self._notes = NotesService.from_runtime(self.runtime)
            return self._notes

    def library(self) -> PromptLibrary:
        with self._lazy_lock:
            if self._library is None:
                from assistant.writing.templates import load_library

                self._library = load_library()
            return self._library

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
        if action == "open_writing":
            return self._writing_available
        if action == "regenerate" and self.streaming:
            return None  # shown, greyed out
        return True

    # ----------------------------------------------------------- workers
    @work(thread=True, exclusive=True, exit_on_error=False, group="database")
    def open_database(self) -> None:
        repo = self.runtime.repo
        conversation_id = self.conversation_id
        messages = repo.messages(conversation_id) if conversation_id is not None else []
        if conversation_id is not None:
            repo.get_conversation(conversation_id, messages=False)  # NotFound if it is gone
        self.post_message(HistoryLoaded(repo.list_conversations(), conversation_id, messages))

    @work(thread=True, exclusive=True, exit_on_error=False, group="model")
    def load_model(self) -> None:
        model = self.runtime.model_handle.get()
        self.post_message(ModelReady(model.name, model.context_size))

    @work(thread=True, exclusive=True, exit_on_error=False, group="reply")
    def stream_reply(
        self,
        conversation_id: int | None,
        text: str,
        cancel: threading.Event,
        again: bool,
        use_notes: bool = False,
        system_prompt: str | None = None,
    ) -> None:
        chat = self.runtime.chat
        if conversation_id is None:
            # created here, not inside send(), so the UI knows the conversation
            # (and the stored question) even when the model then fails to load
            conversation_id = chat.new_conversation(text, system_prompt=system_prompt).id
            self.post_message(ConversationCreated(conversation_id))
        grounding = self.notes_service().grounding() if use_notes else None
        if again:
            assert conversation_id is not None
            events: Iterable[object] = chat.regenerate(conversation_id, cancel, grounding=grounding)
        else:
            events = chat.send(conversation_id, text, cancel, grounding=grounding)
        for event in events:
            self.post_message(ChatEventArrived(event))

    @work(thread=True, exclusive=True, exit_on_error=False, group="notes")
    def sync_notes(self) -> None:
        """Offer the sample notes when no folder is registered, then sync."""
        notes = self.notes_service()
        notices: list[str] = []
        if notes.offer_samples() is not None:
            notices.append("No notes folder yet: the sample notes are indexed for you.")
        last = 0.0

        def progress(p: Any) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= 0.25:
                last = now
                done = f"{p.files_done}/{p.files_total} files" if p.files_total else "scanning"
                self.post_message(NotesState(f"notes syncing {done}"))

        self.post_message(NotesState("notes syncing"))
        report = notes.sync(progress, self._notes_cancel)
        status = notes.status()
        text = f"notes {status.files} files, {status.chunks} passages"
        if status.skipped:
            text += f", {len(status.skipped)} skipped"
        self.post_message(NotesState(text, notices + report.messages + status.messages))

    @work(thread=True, exclusive=True, exit_on_error=False, group="reply")
    def run_writing_action(
        self,
        conversation_id: int | None,
        line: str,
        command: SlashCommand,
        text: str,
        cancel: threading.Event,
        system_prompt: str | None,
    ) -> None:
        """A slash writing action, stored like an exchange and streamed like a reply."""
        from assistant.chat.titles import title_from_text
        from assistant.domain import MessageStatus
        from assistant.llm.base import TextPiece
        from assistant.writing.actions import ActionDone, ActionRunner

        library = self.library()
        template = library.template(command.name)
        model = self.runtime.model_handle.get()
        repo = self.runtime.repo
        if conversation_id is None:
            conversation_id = self.runtime.chat.new_conversation(
                line, system_prompt=system_prompt
            ).id
            self.post_message(ConversationCreated(conversation_id))
        else:
            conversation = repo.get_conversation(conversation_id, messages=False)
            if conversation.message_count == 0 and conversation.title == "New conversation":
                repo.rename(conversation_id, title_from_text(line))
        repo.add_message(conversation_id, Role.USER, line)
        reply = repo.add_message(
            conversation_id, Role.ASSISTANT, "", MessageStatus.STREAMING, model=model.name
        )
        self.post_message(ActionStarted(reply.id, template.name))
        parts: list[str] = []
        done: ActionDone | None = None
        fields: dict[str, object] = {"status": MessageStatus.CANCELLED}
        last_flush = time.monotonic()
        try:
            for event in ActionRunner(model, library).run(
                template, text, command.variables, None, cancel
            ):
                if isinstance(event, TextPiece):
                    parts.append(event.text)
                    now = time.monotonic()
                    if now - last_flush >= 0.1:  # saved as it streams, like a reply
                        repo.update_message(reply.id, content="".join(parts))
                        last_flush = now
                    self.post_message(ChatEventArrived(event))
                elif isinstance(event, ActionDone):
                    done = event
            if done is not None and done.finish_reason != "cancelled":
                fields = {
                    "status": MessageStatus.COMPLETE,
                    "finish_reason": done.finish_reason,
                    "completion_tokens": done.completion_tokens,
                    "prompt_tokens": done.prompt_tokens,
                }
        except BaseException as exc:
            fields = {"status": MessageStatus.ERROR, "error": user_message(exc)}
            raise
        finally:
            repo.update_message(reply.id, content="".join(parts), **fields)

    @on(Worker.StateChanged)
    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where workers end: errors become a message, never a crash."""
        worker = event.worker
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        error = worker.error if event.state == WorkerState.ERROR else None
        if worker.group == "database":
            self.load_model()
        if worker.group == "model" and self.sync_notes_at_start:
            self.sync_notes()
        if worker.group == "notes" and error is not None:
            self._notes_index_text = "notes index failed"
            self.update_notes_status()
            self.show_error(f"The notes could not be synced: {user_message(error)}")
        if worker.group == "reply":
            await self._reply_ended(error)
        elif error is not None and worker.group == "model":
            self.status.model_text = f"{self.runtime.model_label()} · not loaded"
            self.show_error(user_message(error))
        elif error is not None and worker.group == "database":
            self.conversation_id = None
            self.show_error(user_message(error))
            if self.runtime.__dict__.get("repo") is not None:
                self.database_ready = True
                await self.refresh_sidebar()
        if error is not None:
            self.log.error(f"worker {worker.name} failed", error)

    def show_error(self, text: str) -> None:
        self.status.notice_text = text
        self.notify(text, title="Error", severity="error", timeout=12, markup=False)

    # ------------------------------------------------------ from workers
    async def on_history_loaded(self, message: HistoryLoaded) -> None:
        self.database_ready = True
        self.conversation_id = message.conversation_id
        self.notes_on |= {c.id for c in message.conversations if c.use_notes}
        await self.sidebar.show(message.conversations, message.conversation_id)
        if message.messages:
            await self.chat_view.show(message.messages)
        self.pick_reply(None)

    async def on_conversation_created(self, message: ConversationCreated) -> None:
        if None in self.notes_on:
            self.notes_on.discard(None)
            self.notes_on.add(message.conversation_id)
            self.remember_notes(message.conversation_id, True)
        self._pending_system = None
        self.conversation_id = message.conversation_id
        await self.refresh_sidebar()

    def on_notes_state(self, message: NotesState) -> None:
        self._notes_index_text = message.text
        self.update_notes_status()
        for notice in message.notices:
            self.notify(notice, title="Notes", markup=False)

    def on_action_started(self, message: ActionStarted) -> None:
        view = self._reply_view
        if view is not None:
            view.message_id = message.reply_message_id
            view.begin_stream(f"{message.label}…")

    def on_model_ready(self, message: ModelReady) -> None:
        self.status.model_text = message.name

    async def on_chat_event_arrived(self, message: ChatEventArrived) -> None:
        from assistant.chat.service import ReplyDone, ReplyStarted
        from assistant.llm.base import TextPiece

        event = message.event
        view = self._reply_view
        if view is None:
            return
        if isinstance(event, TextPiece):
            await view.append(event.text)
        elif isinstance(event, ReplyStarted):
            view.message_id = event.reply_message_id
            view.begin_stream()
            if event.citations:
                self.sources.show(list(event.citations))
            plan = event.plan
            self.status.show_context(plan.prompt_tokens, plan.context_size)
            if plan.dropped_turns:
                self.status.notice_text = (
                    f"{plan.dropped_turns} earlier messages ({plan.dropped_tokens} tokens) "
                    "left out to fit the context window"
                )
            else:
                self.status.notice_text = ""
        elif isinstance(event, ReplyDone):
            await view.end_stream()
            view.show_final(event.message)
            self.pick_reply(None)
            speed = event.message.tokens_per_second
            self.status.speed_text = f"last reply {speed:.1f} tok/s" if speed else ""

    async def _reply_ended(self, error: BaseException | None) -> None:
        view, self._reply_view = self._reply_view, None
        self._cancel = None
        if view is not None:
            await view.end_stream()
            if view.message_id is not None and (view.message is None or error is not None):
                # the stored row is the truth: cancelled, error, or complete
                try:
                    view.show_final(self.runtime.repo.get_message(view.message_id))
                except Exception:  # the row went away with its conversation
                    pass
            elif view.message_id is None and error is not None:
                view.set_footer(f"error: {user_message(error)}", "error")
        self.streaming = False
        self.pick_reply(None)
        self._code_presses = 0
        if self.status.notice_text == STOPPING_NOTICE:
            self.status.notice_text = ""
        if error is not None:
            self.show_error(user_message(error))
        await self.refresh_sidebar()
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
        await self._start_reply(text, again=False)

    async def _add_reply_view(self) -> None:
        view = await self.chat_view.add(MessageView(Role.ASSISTANT))
        view.set_footer(
            "waiting for the model…" if self.runtime.model_handle.loaded else "loading the model…",
            "streaming",
        )
        self._reply_view = view
        self._cancel = threading.Event()
        self.streaming = True

    async def _start_reply(self, text: str, again: bool) -> None:
        await self._add_reply_view()
        assert self._cancel is not None
        self.stream_reply(
            self.conversation_id,
            text,
            self._cancel,
            again,
            use_notes=self.conversation_id in self.notes_on,
            system_prompt=self._pending_system,
        )

    # ---------------------------------------------------- slash commands
    async def run_slash(self, line: str) -> None:
        """Run one slash command; a mistake is a notice and the line stays to fix."""
        from assistant.writing.slash import help_lines, parse_slash

        try:
            library = self.library()
            command = parse_slash(line, library)
        except Exception as exc:
            self.notify(user_message(exc), severity="warning", markup=False)
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
        await self._add_reply_view()
        assert self._cancel is not None
        self.run_writing_action(
            self.conversation_id, line, command, text, self._cancel, self._pending_system
        )

    def set_persona(self, name: str) -> None:
        """``/persona NAME`` sets the conversation's system prompt; ``/persona``
        alone goes back to the default one."""
        system = self.library().persona(name).system if name else None
        if self.conversation_id is None:
            self._pending_system = system
        else:
            try:
                self.runtime.repo.update_conversation(self.conversation_id, system_prompt=system)
            except Exception as exc:
                self.show_error(user_message(exc))
                return
        self.notify(
            f"Persona “{name}” for this conversation." if name else "Back to the default persona.",
            markup=False,
        )

    @on(TextArea.Changed, "#prompt")
    def prompt_changed(self, event: TextArea.Changed) -> None:
        from assistant.writing.slash import complete_slash, is_slash

        text = event.text_area.text
        candidates: list[str] = []
        if is_slash(text) and "\n" not in text and not self.streaming:
            try:
                candidates = complete_slash(text, self.library())
            except Exception as exc:  # a broken user template: say so once, no list
                self.status.notice_text = user_message(exc)
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
        if on:
            self.notes_on.add(self.conversation_id)
        else:
            self.notes_on.discard(self.conversation_id)
        if self.conversation_id is not None:
            self.remember_notes(self.conversation_id, on)
        self.update_notes_status()
        self.notify(
            "Replies in this conversation use your notes."
            if on
            else "Replies no longer use your notes.",
            markup=False,
        )

    def remember_notes(self, conversation_id: int, on: bool) -> None:
        """Store the switch with the conversation, so it is still set next time."""
        try:
            self.runtime.repo.set_use_notes(conversation_id, on)
        except Exception as exc:
            self.show_error(user_message(exc))

    def action_toggle_notes(self) -> None:
        self.set_notes(self.conversation_id not in self.notes_on)

    def update_notes_status(self) -> None:
        parts = []
        if self.conversation_id in self.notes_on:
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

    def open_in_editor(self, citation: dict[str, Any]) -> None:
        """Suspend the app and run ``$EDITOR +LINE FILE`` (``vi`` by default)."""
        from textual.app import SuspendNotSupported

        path = str(citation.get("abs_path") or "")
        line = int(citation.get("start_line") or 1)
        if not path or not os.path.isfile(path):
            self.show_error(f"The source file is no longer there: {path or '(unknown)'}")
            return
        try:
            editor = shlex.split(os.environ.get("EDITOR") or "vi")
        except ValueError:
            editor = []
        if not editor or shutil.which(editor[0]) is None:
            name = editor[0] if editor else os.environ.get("EDITOR", "")
            self.show_error(f"The editor “{name}” was not found; set $EDITOR to your editor.")
            return
        argv = [*editor, f"+{line}", path]
        try:
            with self.suspend():
                result = subprocess.run(argv, check=False)
        except SuspendNotSupported:
            if not self.is_headless:
                self.show_error(f"This terminal cannot hand over to an editor; open {path}:{line}.")
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

        def search(query: str) -> list[dict[str, Any]]:
            hits = self.notes_service().search(query, k=10)
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
        await self._start_reply("", again=True)

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
    async def refresh_sidebar(self) -> None:
        if not self.database_ready:
            return
        conversations = self.runtime.repo.list_conversations()
        await self.sidebar.show(conversations, self.conversation_id)

    @on(ConversationList.Selected)
    async def open_selected(self, event: ConversationList.Selected) -> None:
        item = event.item
        conversation = getattr(item, "conversation", None)
        if conversation is None or conversation.id == self.conversation_id:
            return
        if self.streaming:
            self.notify(BUSY_NOTICE, markup=False)
            self.sidebar.select_id(self.conversation_id)
            return
        await self.open_conversation(conversation.id)

    async def open_conversation(self, conversation_id: int | None) -> None:
        repo = self.runtime.repo
        messages = repo.messages(conversation_id) if conversation_id else []
        if conversation_id is not None:
            try:
                use_notes = repo.get_conversation(conversation_id, messages=False).use_notes
            except LookupError:  # deleted meanwhile (by another instance)
                use_notes = False
            if use_notes:
                self.notes_on.add(conversation_id)
            else:
                self.notes_on.discard(conversation_id)
        self.conversation_id = conversation_id
        self._code_presses = 0
        self.status.notice_text = ""
        self.status.context_text = ""
        self._pending_system = None
        self.notes_on.discard(None)
        await self.chat_view.show(messages)
        self.pick_reply(None)
        self.update_notes_status()
        self.sidebar.select_id(conversation_id)

    async def action_new_conversation(self) -> None:
        if self.streaming:
            self.notify(BUSY_NOTICE, markup=False)
            return
        await self.open_conversation(None)
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

    def _conversation(self, conversation_id: int) -> Conversation | None:
        try:
            return self.runtime.repo.get_conversation(conversation_id, messages=False)
        except Exception as exc:
            self.show_error(user_message(exc))
            return None

    def ask_rename(self, conversation_id: int) -> None:
        conversation = self._conversation(conversation_id)
        if conversation is None:
            return

        async def renamed(title: str | None) -> None:
            if not title:
                return
            try:
                self.runtime.repo.rename(conversation_id, title)
            except Exception as exc:
                self.show_error(user_message(exc))
                return
            await self.refresh_sidebar()

        self.push_screen(RenameScreen(conversation.title), renamed)

    def ask_delete(self, conversation_id: int) -> None:
        if self.streaming and conversation_id == self.conversation_id:
            self.notify(BUSY_NOTICE, markup=False)
            return
        conversation = self._conversation(conversation_id)
        if conversation is None:
            return

        async def answered(confirmed: bool | None) -> None:
            if not confirmed:
                return
            try:
                self.runtime.repo.delete_conversation(conversation_id)
            except Exception as exc:
                self.show_error(user_message(exc))
                return
            if conversation_id == self.conversation_id:
                await self.open_conversation(None)
            await self.refresh_sidebar()
            self.notify(f"Deleted “{conversation.title}”.", markup=False)

        self.push_screen(ConfirmDeleteScreen(conversation.title), answered)

    # ------------------------------------------------------ other screens
    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_open_writing(self) -> None:
        """Open the writing screen (or go back from it) when its module is part
        of the install. Contract: ``assistant.ui.writing_screen.WritingScreen``
        takes a callable that returns the loaded model (loading it if needed)."""
        try:
            module = importlib.import_module(WRITING_SCREEN_MODULE)
            if isinstance(self.screen, module.WritingScreen):
                self.pop_screen()
                return
            screen: Screen[Any] = module.WritingScreen(self.runtime.model_handle.get)
        except Exception as exc:
            self.show_error(f"The writing screen could not open: {user_message(exc)}")
            return
        self.push_screen(screen)

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
        if self._writing_available:
            yield SystemCommand("Writing", "Open the writing screen", self.action_open_writing)
