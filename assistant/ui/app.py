"""The terminal chat app: a sidebar of conversations and a streaming chat view.

The first frame is drawn before anything slow happens: the database is opened
and the model is loaded in thread workers started once the screen is up, so
start-up never waits for SQLAlchemy, Alembic or llama.cpp. Workers never touch
widgets; they post messages, and every worker's end (success, error, cancel)
is handled in one place, ``on_worker_state_changed``.
"""

from __future__ import annotations

import importlib
import importlib.util
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
from textual.widgets import Footer, Label
from textual.worker import Worker, WorkerState

from assistant.domain import Conversation, Message, Role
from assistant.ui.screens import ConfirmDeleteScreen, HelpScreen, RenameScreen
from assistant.ui.widgets import (
    ChatView,
    ConversationList,
    MessageView,
    PromptInput,
    StatusLine,
    code_blocks,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from assistant.runtime import Runtime

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
    from assistant.store.database import DatabaseError
    from assistant.store.repository import NotFound

    known = (ModelError, ConfigError, DatabaseError, NotFound, ValueError, OSError)
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
        Binding("f4", "open_writing", "Writing", show=False),
        Binding("f1", "help", "Keys"),
        Binding("question_mark", "help", "Keys", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    streaming: reactive[bool] = reactive(False)
    """True while a reply streams: the input is locked and Esc stops the reply."""

    def __init__(self, runtime: Runtime, conversation_id: int | None = None) -> None:
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

    # ------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="sidebar"):
                yield Label("Conversations", id="sidebar-title")
                yield ConversationList(id="conversations")
            with Vertical(id="chat"):
                yield ChatView(id="messages")
                yield PromptInput(id="prompt")
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

    def on_mount(self) -> None:
        self.status.model_text = f"{self.runtime.model_label()} · loading…"
        self.prompt.focus()

    def on_ready(self) -> None:
        self.first_screen_at = time.time()
        # The model loads once the history is on screen: run side by side, the
        # two would share one interpreter lock and both arrive later.
        self.open_database()

    def on_unmount(self) -> None:
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
        self, conversation_id: int | None, text: str, cancel: threading.Event, again: bool
    ) -> None:
        chat = self.runtime.chat
        if conversation_id is None:
            # created here, not inside send(), so the UI knows the conversation
            # (and the stored question) even when the model then fails to load
            conversation_id = chat.new_conversation(text).id
            self.post_message(ConversationCreated(conversation_id))
        if again:
            assert conversation_id is not None
            events: Iterable[object] = chat.regenerate(conversation_id, cancel)
        else:
            events = chat.send(conversation_id, text, cancel)
        for event in events:
            self.post_message(ChatEventArrived(event))

    @on(Worker.StateChanged)
    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where workers end: errors become a message, never a crash."""
        worker = event.worker
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        error = worker.error if event.state == WorkerState.ERROR else None
        if worker.group == "database":
            self.load_model()
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
        await self.sidebar.show(message.conversations, message.conversation_id)
        if message.messages:
            await self.chat_view.show(message.messages)

    async def on_conversation_created(self, message: ConversationCreated) -> None:
        self.conversation_id = message.conversation_id
        await self.refresh_sidebar()

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
        text = event.text
        if self.streaming or not text.strip():
            return
        self.prompt.clear()
        await self.chat_view.add(MessageView(Role.USER, text))
        await self._start_reply(text, again=False)

    async def _start_reply(self, text: str, again: bool) -> None:
        view = await self.chat_view.add(MessageView(Role.ASSISTANT))
        view.set_footer(
            "waiting for the model…" if self.runtime.model_handle.loaded else "loading the model…",
            "streaming",
        )
        self._reply_view = view
        self._cancel = threading.Event()
        self.streaming = True
        self.stream_reply(self.conversation_id, text, self._cancel, again)

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
        messages = self.runtime.repo.messages(conversation_id) if conversation_id else []
        self.conversation_id = conversation_id
        self._code_presses = 0
        self.status.notice_text = ""
        self.status.context_text = ""
        await self.chat_view.show(messages)
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
        yield SystemCommand("Show keys", "Every key of the app", self.action_help)
        if self._writing_available:
            yield SystemCommand("Writing", "Open the writing screen", self.action_open_writing)
