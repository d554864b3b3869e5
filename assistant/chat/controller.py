"""The chat in front of the user, without a screen: ``ChatController``.

What the chat screen used to decide is decided here, headless and tested
without Textual: the start-up order (the history is read first, then the
prompt templates, while the model loads; the notes sync once the model is
in), the reply in progress and its cancel, the messages typed meanwhile
(queued, shown as pending, sent in order), edit mode, the busy rules, the
branch in front of the user, the per-conversation switches and persona, and
what the status line says. A screen renders the updates it emits
(``assistant.chat.updates``) and calls its methods for what the user does.

Nothing is stored before the database's integrity check: it runs once the
history is on screen, and what was typed meanwhile waits in the queue.

The one decision to know: the controller lives on the shell's asyncio event
loop and never blocks it. Everything that touches the database, a file or
the model runs in a thread (``asyncio.to_thread``), and the controller's
state changes only on the loop. Each update is handed to the shell's
listener and awaited, in order, so nothing is drawn before what it builds on
(a reply's first piece before its view, a reply before the history it
follows). Long tasks (the start-up, a reply, a model switch, a notes sync)
go to the shell's ``spawn``: Textual workers in the UI, plain tasks in tests.

Messages typed before the history is read are queued like those typed during
a reply, and sent once it is read: nothing typed at start is lost.

Extending it. A per-conversation on/off switch (tools) is one more
``Switch`` in ``SWITCHES``: how to read it from the conversation's state and
store it; the status line, F-key or slash toggle and persistence follow
(``tools`` is one). The memory switch has three positions (on, off,
private): ``set_memory``. New kinds of reply entry (a tool call and its
result) are events of the chat service: they reach the screen as
``ReplyUpdate`` like text pieces do. A question a reply puts to the user
(approve a tool call: once, for this conversation, or deny) is
``ApprovalAsked``, an update carrying an ``asyncio.Future``: the reply's
thread waits on it (the chat service's approver, through
``asyncio.run_coroutine_threadsafe``), the screen answers by setting its
result, and a stop settles it as denied.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shlex
import shutil
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from assistant.chat.events import MemoryProposed, ReplyDone, ReplyStarted, ToolsUnavailable
from assistant.chat.session import ChatSession, ConversationState
from assistant.chat.tooluse import Approval, ApprovalRequest, cannot_call_tools
from assistant.chat.updates import (
    ApprovalAsked,
    BoxText,
    ChatNote,
    EditMode,
    HistoryRead,
    MarkersChanged,
    MemoriesProposed,
    Notice,
    Queued,
    Ready,
    Recall,
    ReplyClosed,
    ReplyOpened,
    ReplyUpdate,
    RetrievedPassage,
    SidebarChanged,
    Status,
    StatusChanged,
    ThreadShown,
    ToolEntry,
    ToolListing,
    Unqueued,
    Update,
)
from assistant.domain import (
    Citation,
    Conversation,
    Memory,
    MemoryMode,
    MemoryProposal,
    Message,
    Role,
    SearchHit,
    Thread,
    plural,
)
from assistant.errors import AssistantError, NotFound

if TYPE_CHECKING:
    from assistant.chat.demo import ModelOffer, PullProgress
    from assistant.chat.events import ChatEvent
    from assistant.chat.models import PickerEntry
    from assistant.chat.service import ChatService
    from assistant.config import Settings
    from assistant.llm.base import ChatModel
    from assistant.llm.handle import ModelHandle
    from assistant.llm.spec import ModelSpec
    from assistant.notes.service import NotesService
    from assistant.notes.sync import SyncProgress
    from assistant.store.database import Database
    from assistant.store.repository import ConversationRepository
    from assistant.tools.registry import ToolRegistry
    from assistant.writing.slash import SlashCommand
    from assistant.writing.templates import PromptLibrary

PAGE = 100  # conversations per read of the list
ALL_TOOLS = "*"  # the tools switch offers every tool (as ``ask --tools`` does)
BUSY = "A reply is still being written; press Esc to stop it first."
STARTING = "The conversations are still being read; a moment."
STOPPING = "stopping…"
# Documents $EDITOR would open as bytes: their cited passage is shown instead.
BINARY_SOURCES = frozenset({".pdf", ".docx"})

T = TypeVar("T")
Listener = Callable[[Update], Awaitable[None] | None]
Spawn = Callable[[Coroutine[Any, Any, None], str], object]


class ChatBackend(Protocol):
    """What the controller uses of the composition root (``Runtime``)."""

    warnings: list[str]

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def repo(self) -> ConversationRepository: ...

    @property
    def chat(self) -> ChatService: ...

    @property
    def notes(self) -> NotesService: ...

    @property
    def model_handle(self) -> ModelHandle: ...

    @property
    def tools(self) -> ToolRegistry: ...

    def library(self) -> PromptLibrary: ...

    def check_database(self) -> str | None: ...

    def model_label(self) -> str: ...

    def session(self, state: ConversationState | None = None) -> ChatSession: ...

    def current_spec(self) -> ModelSpec: ...

    def model_spec(self, engine: str | None = None, model: str | None = None) -> ModelSpec: ...

    def switch_model(
        self, spec: ModelSpec, progress: Callable[[float], None] | None = None
    ) -> ChatModel: ...


@dataclass(frozen=True)
class Switch:
    """Something a conversation remembers being on or off (its notes today).
    ``get``/``put`` read and set it in the state (at once: the next message
    uses it); ``store`` saves it with the conversation (in a thread)."""

    name: str
    label: str  # in the status line while on
    on_notice: str
    off_notice: str
    get: Callable[[ConversationState], bool]
    put: Callable[[ConversationState, bool], None]
    store: Callable[[ChatSession, bool], None]


def _put_notes(state: ConversationState, on: bool) -> None:
    state.use_notes = on


def _put_tools(state: ConversationState, on: bool) -> None:
    state.tools = (ALL_TOOLS,) if on else None


def _store_tools(session: ChatSession, on: bool) -> None:
    session.set_tools((ALL_TOOLS,) if on else None)


MEMORY_LABELS = {MemoryMode.OFF: "memory off", MemoryMode.PRIVATE: "memory private"}
MEMORY_NOTICES = {
    MemoryMode.ON: "Replies in this conversation are given your memories.",
    MemoryMode.OFF: "Replies in this conversation are given no memories.",
    MemoryMode.PRIVATE: "This conversation is private: memories are neither used nor "
    "proposed here.",
}

SWITCHES: dict[str, Switch] = {
    "notes": Switch(
        "notes",
        "using notes",
        "Replies in this conversation use your notes.",
        "Replies no longer use your notes.",
        lambda state: state.use_notes,
        _put_notes,
        lambda session, on: session.set_notes(on),
    ),
    "tools": Switch(
        "tools",
        "tools on",
        "Replies in this conversation may call tools (those that act ask you first).",
        "Replies no longer call tools.",
        lambda state: state.tools is not None,
        _put_tools,
        _store_tools,
    ),
}


@dataclass(frozen=True)
class SourceTarget:
    """How to show a cited source: ``argv`` to run (the editor at the line),
    or the ``passage`` text (a PDF or DOCX, bytes to an editor), or
    ``problem``, the sentence saying why neither is possible."""

    argv: tuple[str, ...] = ()
    passage: str | None = None
    problem: str | None = None


def sentence(error: BaseException) -> str:
    """The one sentence for ``error`` (a bug's writes a crash log: call it off the loop)."""
    from assistant.crashlog import describe_error

    return describe_error(error)


async def _in_thread(job: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(job, *args)


def _default_spawn(tasks: set[asyncio.Task[None]]) -> Spawn:
    def spawn(coro: Coroutine[Any, Any, None], group: str) -> object:
        task = asyncio.get_running_loop().create_task(coro, name=group)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    return spawn


class ChatController:
    """``ChatController(backend, listener, conversation_id=None, spawn=None)``;
    ``await start()`` once the screen is up."""

    def __init__(
        self,
        backend: ChatBackend,
        listener: Listener,
        *,
        conversation_id: int | None = None,
        sync_notes: bool = True,
        spawn: Spawn | None = None,
    ) -> None:
        self.backend = backend
        self.listener = listener
        self.session = backend.session(ConversationState(conversation_id))
        # a screen is in front of the user: it can ask about proposed memories
        self.session.propose_memories = True
        self.sync_notes_at_start = sync_notes
        self._tasks: set[asyncio.Task[None]] = set()
        self.spawn: Spawn = spawn or _default_spawn(self._tasks)
        self.thread: Thread | None = None
        """The branch in front of the user, as last read."""
        self.ready = False
        """True once the history is read (messages are sent, not queued)."""
        self.database_ready = False
        self.streaming = False
        """True while a reply is written: Esc stops it, Enter queues."""
        self.library: PromptLibrary | None = None
        self.status = Status(model=f"{backend.model_label()} · loading…")
        self.context_size: int | None = None
        self.editing: int | None = None
        """The message being edited (its new version is typed in the box)."""
        self._queue: list[tuple[int, str]] = []
        self._keys = itertools.count(1)
        self._cancel: threading.Event | None = None
        self._download: threading.Event | None = None  # set: stop the model download
        self._reply_thread: asyncio.Future[Any] | None = None
        self._notes_cancel = threading.Event()
        self._notes_fingerprint: tuple[object, ...] | None = None
        self._notes_busy = False
        self._data_version: int | None = None
        self._watch_busy = False
        self._recall: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._approval: asyncio.Future[Approval] | None = None  # the question on screen
        self._told: set[str] = set()  # tool sentences said once (no tools, a failed server)
        self.session.approve = self._approve

    # ------------------------------------------------------------ basics
    @property
    def state(self) -> ConversationState:
        return self.session.state

    @property
    def downloading(self) -> bool:
        """A model download runs (Esc stops it)."""
        return self._download is not None

    @property
    def conversation_id(self) -> int | None:
        return self.session.state.conversation_id

    @property
    def queued(self) -> list[str]:
        """The texts waiting to be sent, oldest first."""
        return [text for _, text in self._queue]

    async def _emit(self, update: Update) -> None:
        result = self.listener(update)
        if result is not None:
            await result

    async def notify(
        self,
        text: str,
        severity: str = "information",
        title: str = "",
        timeout: float | None = None,
    ) -> None:
        await self._emit(Notice(text, severity, title, timeout))

    async def error(self, text: str) -> None:
        """An error: the status line keeps it, and a notice says it."""
        await self._set_status(notice=text)
        await self._emit(Notice(text, "error", "Error", 8))

    async def _set_status(self, **fields: Any) -> None:
        self.status = replace(self.status, **fields)
        await self._emit(StatusChanged(self.status))

    def _switch_labels(self) -> tuple[str, ...]:
        labels = tuple(s.label for s in SWITCHES.values() if s.get(self.state))
        memory = self.state.memory
        return labels + (() if memory == MemoryMode.ON else (MEMORY_LABELS[memory],))

    def _busy(self) -> str | None:
        """Why a change of conversation cannot happen now, or None."""
        if self.streaming:
            return BUSY
        if not self.ready:
            return STARTING
        return None

    async def _refuse_if_busy(self) -> bool:
        why = self._busy()
        if why is not None:
            await self.notify(why)
        return why is not None

    # ---------------------------------------------------------- start-up
    async def start(self) -> None:
        """Read the history, then the templates (the model loads meanwhile,
        the notes sync after it): in the background, the screen is up."""
        self._loop = asyncio.get_running_loop()
        self.spawn(self._start(), "start")

    async def _start(self) -> None:
        wanted = self.conversation_id
        backend = self.backend

        def open_database() -> tuple[list[Conversation], bool, Thread | None, list[str]]:
            problems: list[str] = []
            conversations, more = self._page(PAGE)
            thread: Thread | None = None
            if wanted is not None:
                try:
                    thread = self.session.open(wanted)
                except NotFound as exc:  # deleted meanwhile, by another instance
                    self.session.open(None)
                    problems.append(str(exc))
            problems.extend(backend.warnings)  # a damaged database, still read
            self._data_version = self._read_data_version()
            return conversations, more, thread, problems

        try:
            conversations, more, thread, problems = await _in_thread(open_database)
        except Exception as exc:
            self.session.state.conversation_id = None
            await self.error(await _in_thread(sentence, exc))
            conversations, more, thread, problems = [], False, None, []
        else:
            self.database_ready = True
        await self._emit(HistoryRead(conversations, more))
        await self._show(thread)
        if self.database_ready:  # the integrity check, once the history is on screen
            try:
                found = await _in_thread(backend.check_database)
            except Exception as exc:
                found = await _in_thread(sentence, exc)
            if found is not None and found not in problems:
                problems.append(found)
        for problem in problems:
            await self.error(problem)
        self.spawn(self._load_model(then_sync=self.sync_notes_at_start), "model")
        await self._load_library()
        self.ready = True
        await self._emit(Ready())
        if self._queue and not self.streaming:
            await self._send_next()

    def _page(self, limit: int) -> tuple[list[Conversation], bool]:
        page = self.backend.repo.list_conversations(limit + 1, counts=False)
        return page[:limit], len(page) > limit

    async def _load_library(self) -> None:
        try:
            library = await _in_thread(self.backend.library)
        except Exception as exc:
            await self.error(await _in_thread(sentence, exc))
            return
        self.library = library
        for problem in library.problems:  # broken user files, left out
            await self.notify(problem, "warning", "Prompt templates", 12)

    async def _load_model(self, then_sync: bool = False) -> None:
        def load() -> tuple[str, int, str | None]:
            model = self.backend.model_handle.get()
            return model.name, model.context_size, getattr(model, "fit_notice", None)

        try:
            name, size, fit_notice = await _in_thread(load)
        except Exception as exc:
            text = await _in_thread(sentence, exc)
            await self._set_status(model=f"{self.backend.model_label()} · not loaded")
            await self.error(text)
        else:
            self.context_size = size
            await self._set_status(model=name)
            if fit_notice:  # it will not fit: say what would
                await self.notify(fit_notice, "warning", "Memory")
            await self._offer_a_real_model()
        if then_sync:
            await self.sync_notes()

    async def _offer_a_real_model(self) -> None:
        """At the first start on the bundled demo: say plainly what it is and
        where the download of a real model is (Ctrl+L, which keeps offering it)."""
        from assistant.chat.demo import dismiss_offer, first_start_offer
        from assistant.llm.fit import gb

        def offer() -> ModelOffer | None:
            found = first_start_offer(self.backend)
            if found is not None:
                dismiss_offer(self.backend)  # said once; the model picker keeps it
            return found

        try:
            found = await _in_thread(offer)
        except Exception:  # the offer is a courtesy: never in the way of the chat
            return
        if found is not None:
            await self.notify(
                "The bundled model is a tiny demo (Gemma 3 270M, never taught to chat): fine "
                f"for trying the app, not for real answers. Ctrl+L offers {found.name} "
                f"({gb(found.download_bytes)}), which fits this machine.",
                "information",
                "A tiny demo model",
                30,
            )

    # ------------------------------------------------------------- notes
    async def sync_notes(self) -> None:
        """Offer the sample notes when no folder is registered, then sync;
        the status line follows the progress."""

        def run(post: Callable[[object], None]) -> tuple[str, list[str]]:
            told: list[str] = []
            last = [0.0]

            def progress(p: SyncProgress) -> None:
                if p.notice:  # a rebuild or repair is announced before it starts
                    told.append(p.notice)
                    post(Notice(p.notice, title="Notes"))
                now = time.monotonic()
                if now - last[0] >= 0.25:
                    last[0] = now
                    post({"notes_index": f"notes syncing {sync_progress_text(p)}"})

            backend = self.backend
            if not backend.db.writable:  # read-only or damaged: already said
                return "notes not synced (database read-only)", []
            notes = backend.notes
            notices: list[str] = []
            if notes.offer_samples() is not None:
                notices.append("No notes folder yet: the sample notes are indexed for you.")
            post({"notes_index": "notes syncing"})
            report = notes.sync(progress, self._notes_cancel)
            status = notes.status()
            self._notes_fingerprint = notes.fingerprint()
            later = [m for m in report.messages if m not in told]
            return notes_summary(status), notices + later + list(status.messages)

        self._notes_busy = True
        try:
            text, notices = await self._thread_with_updates(run, self._posted)
        except Exception as exc:
            error = f"The notes could not be synced: {await _in_thread(sentence, exc)}"
            await self._set_status(notes_index="notes index failed")
            await self.error(error)
            return
        finally:
            self._notes_busy = False
        await self._set_status(notes_index=text)
        for notice in notices:
            await self.notify(notice, title="Notes")

    async def _posted(self, item: object) -> None:
        """Something a thread posted: status fields, or an update to pass on."""
        if isinstance(item, dict):
            await self._set_status(**item)
        else:
            await self._emit(item)  # type: ignore[arg-type]

    async def poll_notes(self) -> None:
        """Notice notes added or synced by another process (the CLI): the
        status line and the next search follow without a restart."""
        if self._notes_busy or not self.database_ready:
            return
        self._notes_busy = True

        def check() -> tuple[str, list[str]] | None:
            notes = self.backend.notes
            if notes.syncing:
                return None
            fingerprint = notes.fingerprint()
            if fingerprint == self._notes_fingerprint:
                return None
            first = self._notes_fingerprint is None
            self._notes_fingerprint = fingerprint
            notes.reload_if_changed()
            if first and not fingerprint[0]:
                return None  # no notes at all, as at start: nothing to say
            status = notes.status()
            return notes_summary(status), list(status.messages)

        try:
            found = await _in_thread(check)
        except Exception as exc:
            await self._set_status(notes_index="notes index failed")
            await self.error(await _in_thread(sentence, exc))
            return
        finally:
            self._notes_busy = False
        if found is not None:
            await self._set_status(notes_index=found[0])
            for notice in found[1]:
                await self.notify(notice, title="Notes")

    # ------------------------------------------------- changes elsewhere
    def _read_data_version(self) -> int | None:
        try:
            return self.backend.repo.data_version()
        except Exception:  # a closed or damaged database: nothing to watch
            return None

    async def history_changed(self) -> bool:
        """True (and ``SidebarChanged`` is emitted) when another process
        committed to the database since the last look (``PRAGMA
        data_version`` on a connection of its own: no file is read)."""
        if not self.database_ready or self._watch_busy:
            return False
        self._watch_busy = True
        try:
            version = await _in_thread(self._read_data_version)
        finally:
            self._watch_busy = False
        if version is None or version == self._data_version:
            return False
        self._data_version = version
        await self._emit(SidebarChanged())
        return True

    # ----------------------------------------------------------- showing
    async def _show(self, thread: Thread | None, focus: int | None = None) -> None:
        """Make ``thread`` the one in front: the screen draws it, edit mode
        ends, the status line shows this conversation's last reply."""
        self.thread = thread
        if self.editing is not None:
            self.editing = None
            await self._emit(EditMode(None))
        await self._emit(ThreadShown(thread, focus))
        used = size = None
        speed = ""
        last = None
        if thread is not None:
            last = next((m for m in reversed(thread.messages) if m.role == Role.ASSISTANT), None)
        if last is not None:
            if last.tokens_per_second:
                speed = f"last reply {last.tokens_per_second:.1f} tok/s"
            if last.prompt_tokens is not None and self.context_size:
                used = last.prompt_tokens + (last.completion_tokens or 0)
                size = self.context_size
        persona = self.state.persona
        await self._set_status(
            notice="",
            speed=speed,
            context_used=used,
            context_size=size,
            context_memories=0,
            persona=f"persona {persona}" if persona else "",
            switches=self._switch_labels(),
        )
        await self._set_recall(thread)
        await self._follow_engine()

    async def _set_recall(self, thread: Thread | None) -> None:
        messages = thread.messages if thread is not None else []
        mine = [m.content for m in messages if m.role == Role.USER and m.content.strip()]
        self._recall = list(dict.fromkeys(reversed(mine)))[::-1]
        await self._emit(Recall(tuple(self._recall)))

    async def _remember(self, text: str) -> None:
        self._recall = [h for h in self._recall if h != text] + [text]
        await self._emit(Recall(tuple(self._recall)))

    async def open(self, conversation_id: int | None, at_message: int | None = None) -> bool:
        """Show ``conversation_id`` (None: a new one), on the branch through
        ``at_message`` (a search hit, brought on screen and marked)."""
        if (
            conversation_id is not None
            and conversation_id == self.conversation_id
            and (at_message is None)
        ):
            return True
        if await self._refuse_if_busy():
            return False
        try:
            thread = await _in_thread(self.session.open, conversation_id, at_message)
        except Exception as exc:
            await self.error(await _in_thread(sentence, exc))
            return False
        await self._show(thread, at_message)
        return True

    async def new_conversation(self) -> bool:
        if await self._refuse_if_busy():
            return False
        self.session.open(None)  # no database work for a conversation not yet stored
        await self._show(None)
        return True

    async def step_branch(self, message_id: int | None, step: int, place: tuple[int, int]) -> bool:
        """Show the previous (-1) or next (+1) version of message
        ``message_id`` (at ``place``: its position among its versions),
        brought on screen and marked."""
        index, count = place
        if message_id is None or count < 2:
            await self.notify("This message has no other version.")
            return False
        if not 1 <= index + step <= count:
            return False
        if await self._refuse_if_busy():
            return False
        try:
            thread = await _in_thread(self.session.step_branch, message_id, step)
        except Exception as exc:
            await self.error(await _in_thread(sentence, exc))
            return False
        old = self.thread
        target = old.sibling(message_id, step) if old is not None else None
        ids = {m.id for m in thread.messages}
        await self._show(thread, target if target in ids else None)
        return True

    async def fork(self, message_id: int | None = None) -> bool:
        """Copy the branch (up to ``message_id``) into a new conversation and show it."""
        if self.conversation_id is None:
            await self.notify("There is nothing to fork yet.")
            return False
        if await self._refuse_if_busy():
            return False
        try:
            thread = await _in_thread(self.session.fork, message_id)
        except Exception as exc:
            await self.error(await _in_thread(sentence, exc))
            return False
        await self._show(thread)
        await self._emit(SidebarChanged())
        await self.notify(f"Forked into “{thread.conversation.title}”.")
        return True

    # ----------------------------------------------------------- sending
    async def submit(self, text: str) -> bool:
        """What Enter does with the box's ``text``: send it, queue it (a reply
        is being written, or the history is not read yet), send it as the new
        version of the message being edited, or run the slash command. False
        when the box should keep the text (a mistake to fix, or busy)."""
        if not text.strip():
            return False
        if self.editing is not None:
            if self.streaming:
                await self.notify(BUSY)
                return False
            await self._send_edit(self.editing, text)
            return True
        if self.streaming or not self.ready:
            key = next(self._keys)
            self._queue.append((key, text))
            await self._emit(Queued(key, text))
            return True
        sent = await self._send_now(text)
        if sent and self._queue and not self.streaming:
            await self._send_next()  # what waited behind a command to fix
        return sent

    async def take_back(self) -> str | None:
        """Up in an empty box: the last queued message comes back (it is not sent)."""
        if not self._queue:
            return None
        key, text = self._queue.pop()
        await self._emit(Unqueued(key))
        return text

    async def _send_next(self) -> None:
        """Send the first queued message; a slash command with a mistake goes
        back to the box to fix (and the next one waits for Enter)."""
        while self._queue and not self.streaming:
            key, text = self._queue.pop(0)
            await self._emit(Unqueued(key))
            if not await self._send_now(text):
                await self._emit(BoxText(text))
                return

    async def _send_now(self, text: str) -> bool:
        from assistant.writing.slash import is_slash

        if is_slash(text.strip()):
            return await self._slash(text.strip())
        if text.startswith("//"):
            text = text[1:]  # "//" sends a message that starts with "/"
        await self._remember(text)
        await self._reply(lambda cancel: self.session.send(text, cancel), ReplyOpened(text, ""))
        return True

    async def _send_edit(self, message_id: int, text: str) -> None:
        self.editing = None
        await self._emit(EditMode(None))
        await self._remember(text)
        await self._reply(
            lambda cancel: self.session.edit(message_id, text, cancel),
            ReplyOpened(text, "", remove_from=message_id),
        )

    async def regenerate(self, message_id: int | None = None) -> bool:
        """Answer again: a new reply beside the old one, which stays as a
        branch. ``message_id``: the reply to redo or the message to answer
        (default: your last message on the branch). A reply to a slash
        command runs the command again."""
        if await self._refuse_if_busy():
            return False
        messages = self.thread.messages if self.thread is not None else []
        target: Message | None = None
        if message_id is None:
            target = next((m for m in reversed(messages) if m.role == Role.USER), None)
        else:
            at = next((i for i, m in enumerate(messages) if m.id == message_id), None)
            if at is not None and messages[at].role == Role.ASSISTANT:
                at -= 1
            target = messages[at] if at is not None and at >= 0 else None
        if self.conversation_id is None or target is None or target.role != Role.USER:
            await self.notify("There is no message to answer again yet.")
            return False
        user_id = target.id
        await self._reply(
            lambda cancel: self.session.regenerate(cancel, message_id=user_id),
            ReplyOpened(None, "", remove_after=user_id),
        )
        return True

    async def start_edit(self, message_id: int | None, role: Role, text: str) -> bool:
        """Edit a message of yours: its text goes in the box; Enter sends a
        new version (the old one stays)."""
        if role != Role.USER or message_id is None:
            await self.notify("Only your own messages can be edited; r answers a reply again.")
            return False
        if self.streaming:
            await self.notify(BUSY)
            return False
        self.editing = message_id
        await self._emit(EditMode(message_id, text))
        return True

    async def leave_edit(self) -> None:
        """Give up an edit: the box is cleared."""
        if self.editing is not None:
            self.editing = None
            await self._emit(EditMode(None, clear_box=True))

    async def stop(self) -> bool:
        """Stop the reply being written (what it wrote is kept), else a model
        download (what came is kept for a resume)."""
        if (self._cancel is None or self._cancel.is_set()) and self._download is not None:
            self._download.set()
            return True
        if self._cancel is None or self._cancel.is_set():
            return False
        self._cancel.set()
        self._settle_approval()  # a question on screen: denied, closed
        await self._set_status(notice=STOPPING)
        return True

    # ------------------------------------------------------------ replies
    async def _reply(
        self,
        start: Callable[[threading.Event], Iterator[ChatEvent]],
        opened: ReplyOpened,
    ) -> None:
        """Show the request and an empty reply, then stream ``start(cancel)``'s
        events into it from a thread."""
        waiting = "waiting for the model…" if self.backend.model_handle.loaded else (
            "loading the model…"
        )  # fmt: skip
        self.streaming = True
        cancel = self._cancel = threading.Event()
        await self._emit(replace(opened, waiting=waiting))
        self.spawn(self._stream(start, cancel), "reply")

    async def _stream(
        self, start: Callable[[threading.Event], Iterator[ChatEvent]], cancel: threading.Event
    ) -> None:
        def run(post: Callable[[object], None]) -> ReplyClosed:
            reply_id: int | None = None
            try:
                for event in start(cancel):
                    if isinstance(event, ReplyStarted):
                        reply_id = event.reply_message_id
                    post(event)
            except Exception as exc:
                stored: Message | None = None
                if reply_id is not None:
                    try:
                        stored = self.backend.repo.get_message(reply_id)
                    except Exception:  # the row went away with its conversation
                        stored = None
                return ReplyClosed(sentence(exc), stored)
            return ReplyClosed()

        try:
            closed = await self._thread_with_updates(run, self._reply_event, cancel)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug while showing it: the reply is over all the same
            self.streaming, self._cancel = False, None
            raise
        await self._close_reply(closed)

    async def _thread_with_updates(
        self,
        job: Callable[[Callable[[object], None]], T],
        on_item: Callable[[Any], Awaitable[None]],
        cancel: threading.Event | None = None,
    ) -> T:
        """Run ``job(post)`` in a thread; each item it posts is handed to
        ``on_item`` on the loop, in order, all of them before this returns.
        If the loop goes away (the app closed), ``cancel`` is set and the
        job's later items are dropped."""
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[object] = asyncio.Queue()
        end = object()

        def post(item: object) -> None:
            try:
                loop.call_soon_threadsafe(items.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is watching
                if cancel is not None:
                    cancel.set()

        future = loop.run_in_executor(None, job, post)
        future.add_done_callback(lambda _: items.put_nowait(end))
        if cancel is not None and cancel is self._cancel:
            self._reply_thread = future
        try:
            while (item := await items.get()) is not end:
                await on_item(item)
        except BaseException:
            if cancel is not None:
                cancel.set()
            raise
        return await future

    async def _reply_event(self, event: ChatEvent) -> None:
        if isinstance(event, MemoryProposed):
            await self._emit(MemoriesProposed(event.proposals))
            return
        if isinstance(event, ToolsUnavailable):  # said once per model, not at every reply
            model = self.backend.model_handle.loaded
            await self._say_once(model.name if model else event.sentence, event.sentence)
            await self._emit(ReplyUpdate(event))
            return
        if isinstance(event, ReplyStarted):
            plan = event.plan
            fields: dict[str, Any] = {"notice": ""}
            if plan is not None:
                self.context_size = plan.context_size
                fields.update(
                    context_used=plan.prompt_tokens,
                    context_size=plan.context_size,
                    context_memories=plan.memory_tokens,
                )
                if plan.dropped_turns:
                    fields["notice"] = (
                        f"{plan.dropped_turns} earlier messages ({plan.dropped_tokens} tokens) "
                        "left out to fit the context window"
                    )
            await self._emit(ReplyUpdate(event))
            await self._set_status(**fields)
            return
        await self._emit(ReplyUpdate(event))
        if isinstance(event, ReplyDone):
            speed = event.message.tokens_per_second
            fields = {"speed": f"last reply {speed:.1f} tok/s" if speed else ""}
            plan = event.plan
            if plan is not None:
                # what the next message will find: the prompt and this reply
                used = plan.prompt_tokens + (event.message.completion_tokens or 0)
                fields.update(
                    context_used=used,
                    context_size=plan.context_size,
                    context_memories=plan.memory_tokens,
                )
            await self._set_status(**fields)
            if event.warning:  # stored, but not where it was: the database's files went
                await self.error(event.warning)

    async def _close_reply(self, closed: ReplyClosed) -> None:
        """The reply is over: say so, read the branch again, then (no longer
        busy) send what was queued meanwhile."""
        self._cancel = None
        self._settle_approval()
        await self._emit(closed)
        for warning in self.session.tool_warnings():  # an MCP server that did not start
            await self._say_once(warning, warning)
        if self.status.notice == STOPPING:
            await self._set_status(notice="")
        if closed.error is not None:
            await self.error(closed.error)
        await self._emit(SidebarChanged())
        await self._reread()
        self.streaming = False
        if self._queue:
            await self._send_next()

    async def _reread(self) -> None:
        """Read the branch again so versions ("2/3"), the last reply and the
        recall list follow a reply, an answer again or an edit."""
        wanted = self.conversation_id
        if wanted is None:
            return
        try:
            thread = await _in_thread(self.session.chat.thread, wanted)
        except Exception:  # deleted meanwhile: the next open says so
            return
        if thread.conversation.id != self.conversation_id:
            return
        self.thread = thread
        await self._emit(MarkersChanged(thread))
        await self._set_recall(thread)

    def last_reply(self) -> Message | None:
        messages = self.thread.messages if self.thread is not None else []
        return next((m for m in reversed(messages) if m.role == Role.ASSISTANT), None)

    # ---------------------------------------------------- slash commands
    async def _slash(self, line: str) -> bool:
        """Run one slash command; a mistake is a notice and the line stays to fix."""
        from assistant.writing.slash import help_lines, parse_slash

        library = self.library
        if library is None:
            await self.notify("The prompt templates are not loaded yet.")
            return False
        try:
            command = parse_slash(line, library)
        except AssistantError as exc:
            await self.notify(str(exc), "warning")
            return False
        if command.kind == "control":
            if command.name == "help":
                await self._emit(
                    ChatNote(
                        "Slash commands (they apply to the text after them, or to the last "
                        "reply):\n" + "\n".join(help_lines(library))
                    )
                )
            elif command.name == "new":
                await self.new_conversation()
            elif command.name in ("notes", "tools"):
                await self.set_switch(command.name, command.argument == "on")
            elif command.name == "memory":
                await self.set_memory(command.argument)
            elif command.name == "remember":
                return await self.keep_memory(command.argument)
            elif command.name == "persona":
                if command.argument:
                    await self.set_persona(command.argument)
                else:
                    await self._emit(ChatNote(self.persona_note()))
            return True
        text = command.text
        if command.uses_last_reply:
            reply = self.last_reply()
            text = reply.content if reply is not None else ""
            if not text.strip():
                await self.notify(
                    "There is no reply to work on yet: type the text after the command."
                )
                return False
        await self._remember(line)
        await self._reply(self._action(line, command, text), ReplyOpened(line, ""))
        return True

    def _action(
        self, line: str, command: SlashCommand, text: str
    ) -> Callable[[threading.Event], Iterator[ChatEvent]]:
        return lambda cancel: self.session.run_action(line, command, text, cancel)

    def slash_choices(self, text: str) -> list[tuple[str, str]]:
        """Completions of a slash command being typed (none until the
        templates are read), without the line as typed."""
        from assistant.writing.slash import is_slash, slash_choices

        library = self.library
        if library is None or not is_slash(text) or "\n" in text:
            return []
        return [c for c in slash_choices(text, library) if c[0] != text.rstrip()][:8]

    def persona_note(self) -> str:
        library = self.library
        current = self.state.persona or "default"
        names = ", ".join(sorted(library.personas)) if library is not None else ""
        return (
            f"Persona in use: {current}. Personas: {names or 'none'}. "
            "/persona NAME switches, /persona default goes back to the default system prompt."
        )

    async def set_persona(self, name: str) -> None:
        """``/persona NAME`` sets the conversation's system prompt;
        ``/persona default`` goes back to the default one. It applies to the
        next message at once and is stored in a thread."""
        from assistant.writing.slash import DEFAULT_PERSONA

        library = self.library
        wanted = None if name == DEFAULT_PERSONA else name
        persona = library.persona(wanted).name if wanted and library is not None else None
        self.state.persona = persona
        await self._set_status(persona=f"persona {persona}" if persona else "")
        if self.conversation_id is not None:
            await self._store(self.session.set_persona, persona)
        await self.notify(
            f"Persona “{persona}” for this conversation."
            if persona
            else "Back to the default persona."
        )

    # ---------------------------------------------------------- switches
    async def set_switch(self, name: str, on: bool) -> None:
        """Turn a per-conversation switch on or off: the next message uses it
        at once; it is stored with the conversation in a thread."""
        switch = SWITCHES[name]
        switch.put(self.state, on)
        await self._set_status(switches=self._switch_labels())
        await self.notify(switch.on_notice if on else switch.off_notice)
        if self.conversation_id is not None:
            await self._store(switch.store, self.session, on)
        if name == "tools" and on:
            await self._say_if_no_tools()

    async def _say_if_no_tools(self) -> None:
        """Tools turned on for a model that cannot call them: say so now (a
        model not loaded yet is told apart at the reply, in the same words)."""
        model = self.backend.model_handle.loaded
        if model is not None and not model.supports_tools:
            text = cannot_call_tools(model.name, "replies are written without them")
            self._told.add(model.name)
            await self.notify(text, "warning", "Tools", 12)

    async def _say_once(self, key: str, text: str) -> None:
        if key not in self._told:
            self._told.add(key)
            await self.notify(text, "warning", "Tools", 12)

    # ------------------------------------------------------------ tools
    def _approve(self, request: ApprovalRequest, cancel: threading.Event) -> Approval:
        """The chat service's approver, on the reply's thread: the question
        goes to the screen (``ApprovalAsked``) and this waits for its answer.
        A stop settles it as denied; so does a loop that went away."""
        loop = self._loop
        if loop is None or loop.is_closed() or cancel.is_set():
            return Approval.DENY
        try:
            asked = asyncio.run_coroutine_threadsafe(self._ask(request), loop)
        except RuntimeError:  # the loop is closing
            return Approval.DENY
        while True:
            try:
                return asked.result(timeout=1.0)
            except TimeoutError:
                # the answer normally arrives on its own (a stop settles it);
                # this only guards against a loop that stopped running
                if not loop.is_running():
                    return Approval.DENY
            except Exception:  # cancelled with the loop: not run
                return Approval.DENY

    async def _ask(self, request: ApprovalRequest) -> Approval:
        answer: asyncio.Future[Approval] = asyncio.get_running_loop().create_future()
        if self._cancel is None or self._cancel.is_set():
            return Approval.DENY
        self._approval = answer
        try:
            await self._emit(ApprovalAsked(request, answer))
            return await answer
        finally:
            self._approval = None

    def _settle_approval(self) -> None:
        """A question still open is answered "deny" (the reply stops)."""
        answer = self._approval
        if answer is not None and not answer.done():
            answer.set_result(Approval.DENY)

    async def tool_listing(self) -> ToolListing:
        """Every tool and where it comes from (the MCP servers are started to
        list theirs), with the sentence of each source that failed."""

        def read() -> ToolListing:
            registry = self.backend.tools
            found = registry.tools()
            return ToolListing(
                tuple(ToolEntry(t.name, t.source, t.asks_first, t.description) for t in found),
                tuple(registry.warnings),
            )

        try:
            listing: ToolListing = await _in_thread(read)
        except Exception as exc:
            why = await _in_thread(sentence, exc)
            return ToolListing((), (f"The tools could not be listed: {why}",))
        return listing

    async def toggle(self, name: str) -> None:
        await self.set_switch(name, not SWITCHES[name].get(self.state))

    async def set_memory(self, mode: str) -> None:
        """``/memory on|off|private``: the conversation's memory switch, which
        has three positions (so it is not one of ``SWITCHES``): the next
        message uses it at once; it is stored with the conversation in a thread."""
        chosen = MemoryMode(mode)
        self.state.memory = chosen
        await self._set_status(switches=self._switch_labels())
        await self.notify(MEMORY_NOTICES[chosen])
        if self.conversation_id is not None:
            await self._store(self.session.set_memory, chosen)

    async def keep_memory(self, text: str) -> bool:
        """``/remember TEXT``: kept as a memory (a command, not a message to
        the model). False when it cannot be one (too long, or the database
        refused): the notice says why and the line stays in the box."""
        try:
            memory, created = await _in_thread(self.session.remember, text)
        except AssistantError as exc:
            await self.notify(str(exc), "warning")
            return False
        except Exception as exc:
            await self.error(await _in_thread(sentence, exc))
            return False
        await self.notify(
            f"Remembered as memory {memory.id}."
            if created
            else f"Memory {memory.id} already says that; nothing was added.",
            title="Memory",
        )
        return True

    async def decide_memories(self, decisions: Sequence[tuple[MemoryProposal, str]]) -> None:
        """The user's answers about proposed memories: ``keep``, ``replace``
        (the memory it repeats or changes), ``add`` (as a new one beside it)
        or ``no``. Only a yes keeps anything; the notice says what was kept."""
        kept: list[Memory] = []
        for proposal, answer in decisions:
            if answer not in ("keep", "replace", "add"):
                continue
            try:
                memory = await _in_thread(
                    self.session.accept_proposal, proposal, answer == "replace"
                )
            except AssistantError as exc:
                await self.notify(str(exc), "warning", title="Memory")
                continue
            except Exception as exc:
                await self.error(await _in_thread(sentence, exc))
                continue
            kept.append(memory)
        if kept:
            listing = "; ".join(f"{m.id}: {m.text}" for m in kept)
            await self.notify(
                f"Remembered {plural(len(kept), 'memory', 'memories')} ({listing}).", title="Memory"
            )

    async def _store(self, job: Callable[..., Any], *args: Any) -> None:
        try:
            await _in_thread(job, *args)
        except Exception as exc:
            await self.error(await _in_thread(sentence, exc))

    # ------------------------------------------------------ conversations
    async def conversations(
        self, words: str = "", at_least: int = PAGE
    ) -> tuple[list[Conversation], bool]:
        """The conversation list: a filter's matches (title and message text),
        or as many as ``at_least`` of the most recent and whether there are more."""
        repo = self.backend.repo
        if words:
            return await _in_thread(repo.filter_conversations, words), False
        return await _in_thread(self._page, max(PAGE, at_least))

    async def more_conversations(self, after: Conversation) -> tuple[list[Conversation], bool]:
        """The next two pages after ``after``."""

        def read() -> tuple[list[Conversation], bool]:
            page = self.backend.repo.list_conversations(PAGE * 2 + 1, after=after, counts=False)
            return page[: PAGE * 2], len(page) > PAGE * 2

        return await _in_thread(read)

    async def conversation(self, conversation_id: int) -> Conversation | None:
        try:
            found: Conversation = await _in_thread(self.session.chat.conversation, conversation_id)
        except Exception as exc:
            await self.error(await _in_thread(sentence, exc))
            return None
        return found

    async def rename(self, conversation_id: int, title: str) -> None:
        try:
            await _in_thread(self.session.chat.rename, conversation_id, title)
        except Exception as exc:
            await self.error(await _in_thread(sentence, exc))
            return
        await self._emit(SidebarChanged())

    async def delete(self, conversation_id: int) -> bool:
        if self.streaming and conversation_id == self.conversation_id:
            await self.notify(BUSY)
            return False
        conversation = await self.conversation(conversation_id)
        if conversation is None:
            return False
        try:
            await _in_thread(self.session.chat.delete, conversation_id)
        except Exception as exc:
            await self.error(await _in_thread(sentence, exc))
            return False
        if conversation_id == self.conversation_id:
            self.session.open(None)
            await self._show(None)
        await self._emit(SidebarChanged())
        await self.notify(f"Deleted “{conversation.title}”.")
        return True

    async def export(self, conversation_id: int, path: Path, replace: bool = False) -> bool:
        """Write the conversation to ``path`` (``.json``: every branch; else
        Markdown of this branch). False when the file exists and ``replace``
        was not given (ask, then call again)."""
        fmt = "json" if path.suffix.lower() == ".json" else "md"

        def write() -> bool:
            from assistant.fileio import atomic_write_text

            if path.exists() and not replace:
                return False
            atomic_write_text(path, self.session.chat.export_text(conversation_id, fmt))
            return True

        try:
            written: bool = await _in_thread(write)
        except Exception as exc:
            await self.error(f"The export failed: {await _in_thread(sentence, exc)}")
            return True
        if written:
            what = "every branch, as JSON" if fmt == "json" else "the current branch"
            await self.notify(f"Wrote {path} ({what}).")
        return written

    # ---------------------------------------------------------- searching
    def search_messages(self, query: str, limit: int) -> list[SearchHit]:
        """Every conversation's messages (blocking: call it in a thread)."""
        if not self.database_ready:
            return []
        return self.backend.repo.search(query, limit)

    async def search_notes(self, query: str, k: int = 10) -> list[RetrievedPassage] | str:
        """The notes' passages for ``query`` with their ranks (the retrieval
        view), or the sentence saying why the search failed."""
        from assistant.notes.grounding import citation

        try:
            hits = await _in_thread(self.backend.notes.search, query, k)
        except Exception as exc:
            return f"The search failed: {await _in_thread(sentence, exc)}"
        return [
            RetrievedPassage(citation(n, hit), hit.snippet, tuple(hit.highlights))
            for n, hit in enumerate(hits, start=1)
        ]

    async def complete_path(self, prefix: str) -> list[str]:
        """Completions of an ``@path`` being typed."""
        from assistant.chat.attachments import complete_path

        found: list[str] = await _in_thread(complete_path, prefix)
        return found

    async def source(self, citation: Citation) -> SourceTarget:
        """How to show a cited source: ``$EDITOR +LINE FILE`` (``vi`` by
        default), or the cited passage for a PDF or DOCX, or why not."""
        return await _in_thread(self._source, citation)

    def _source(self, citation: Citation) -> SourceTarget:
        path, line = citation.abs_path, citation.start_line or 1
        if not path or not os.path.isfile(path):
            return SourceTarget(
                problem=f"The source file is no longer there: {path or '(unknown)'}"
            )
        if Path(path).suffix.lower() in BINARY_SOURCES or _looks_binary(path):
            return SourceTarget(passage=self._passage_text(citation))
        try:
            editor = shlex.split(os.environ.get("EDITOR") or "vi")
        except ValueError:
            editor = []
        if not editor or shutil.which(editor[0]) is None:
            name = editor[0] if editor else os.environ.get("EDITOR", "")
            return SourceTarget(
                problem=f"The editor “{name}” was not found; set $EDITOR to your editor."
            )
        return SourceTarget(argv=(*editor, f"+{line}", path))

    def _passage_text(self, citation: Citation) -> str:
        if citation.chunk_id is not None:
            text = self.backend.notes.passage_text(citation.chunk_id)
            if text is not None:
                return text
        return "The passage is no longer in the notes index; sync the notes and ask again."

    # ------------------------------------------------------------- models
    async def model_entries(self) -> list[PickerEntry] | str:
        """The models to choose from (reads files and the network), or the
        sentence saying why they could not be listed."""
        from assistant.chat.models import gather_entries

        try:
            entries: list[PickerEntry] = await _in_thread(gather_entries, self.backend)
        except Exception as exc:
            return f"The models could not be listed: {await _in_thread(sentence, exc)}"
        return entries

    async def pick_model(self, entry: PickerEntry) -> bool:
        """Load ``entry``'s model in the background; the conversation goes on with it."""
        if self.streaming:
            await self.notify(BUSY)
            return False
        if entry.offer is not None:
            if self._download is not None:
                await self.notify("A model is already downloading; Esc stops it.")
                return False
            self.spawn(self._take_offer(entry.offer), "model-download")
            return True
        if entry.spec is None or entry.current:
            return False
        self.spawn(self._switch(entry), "model-switch")
        return True

    async def _take_offer(self, offer: ModelOffer) -> None:
        """Download the offered model (progress in the status line, Esc stops
        it, choosing it again resumes), then carry on with it."""
        from assistant.chat.demo import take_offer
        from assistant.chat.models import PickerEntry
        from assistant.errors import Cancelled

        cancel = self._download = threading.Event()
        label = self.backend.model_label()

        def pull(post: Callable[[object], None]) -> Path:
            last = [0.0]

            def progress(p: PullProgress) -> None:
                now = time.monotonic()
                if now - last[0] >= 0.2 and p.total:
                    last[0] = now
                    post({"model": f"{label} · downloading {offer.name} {p.done / p.total:.0%}"})

            return take_offer(self.backend, offer, progress, cancel)

        await self._set_status(model=f"{label} · downloading {offer.name}…")
        try:
            path = await self._thread_with_updates(pull, self._posted)
        except Exception as exc:
            self._download = None
            await self._set_status(model=label)
            if isinstance(exc, Cancelled):
                await self.notify(
                    f"The download of {offer.name} stopped; choose it again (Ctrl+L) to resume."
                )
            else:
                await self.error(f"{offer.name}: {await _in_thread(sentence, exc)}")
            return
        finally:
            self._download = None
        await self.notify(f"{offer.name} is downloaded and is now the model in use (config.toml).")
        spec = self.backend.model_spec(model=str(path))
        await self._switch(PickerEntry(offer.name, "", spec))

    async def _switch(self, entry: PickerEntry) -> None:
        spec = entry.spec
        assert spec is not None

        def load(post: Callable[[object], None]) -> ChatModel:
            last = [0.0]

            def progress(fraction: float) -> None:
                now = time.monotonic()
                if now - last[0] >= 0.1:
                    last[0] = now
                    post({"model": f"{entry.label} · loading {fraction:.0%}"})

            return self.backend.switch_model(spec, progress)

        await self._set_status(model=f"{entry.label} · loading…")
        started = time.perf_counter()
        try:
            model = await self._thread_with_updates(load, self._posted)
        except Exception as exc:
            text = f"{entry.label}: {await _in_thread(sentence, exc)}"
            await self._set_status(model=self.backend.model_label())
            await self.error(text)
            return
        took = time.perf_counter() - started
        self.context_size = model.context_size
        await self._set_status(model=model.name)
        fit_notice = getattr(model, "fit_notice", None)
        if fit_notice:
            await self.notify(fit_notice, "warning", "Memory")
        await self.notify(
            f"{model.name} loaded in {took:.1f} s; the conversation carries on with it."
        )

    async def _follow_engine(self) -> None:
        """A conversation whose replies came from a named engine goes on with
        it (switching to an engine's model loads nothing locally)."""
        from assistant.chat.models import PickerEntry

        engine = self.state.engine
        backend = self.backend
        if engine is None or engine == backend.current_spec().engine:
            return
        if engine not in backend.settings.engines:
            await self.notify(f"This conversation used engine {engine}, no longer in config.toml.")
            return
        spec = backend.model_spec(engine=engine)
        self.spawn(self._switch(PickerEntry(engine, "", spec)), "model-switch")

    async def idle(self) -> None:
        """Wait until the background tasks this controller started itself
        (with the default ``spawn``) are done, those they started too."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -------------------------------------------------------------- close
    async def shutdown(self, wait: float = 1.0) -> None:
        """The user quits: stop the reply in progress and wait (up to
        ``wait`` seconds) until it is stored as stopped, its text kept."""
        self.close()
        thread = self._reply_thread
        if thread is not None and not thread.done():
            try:
                await asyncio.wait_for(asyncio.shield(thread), wait)
            except (TimeoutError, Exception):  # the next start marks it stopped all the same
                pass

    def close(self) -> None:
        """The shell is closing: a reply in progress stops (kept as stopped),
        a notes sync stops."""
        self._notes_cancel.set()
        if self._cancel is not None:
            self._cancel.set()
        self._settle_approval()


def notes_summary(status: Any) -> str:
    text = f"notes {plural(status.files, 'file')}, {plural(status.chunks, 'passage')}"
    if status.skipped:
        text += f", {len(status.skipped)} skipped"
    return text


def sync_progress_text(p: SyncProgress) -> str:
    from assistant.domain import plural

    done = f"{p.files_done}/{plural(p.files_total, 'file')}" if p.files_total else "scanning"
    if p.chunks_total:
        done += f", {p.chunks_done}/{plural(p.chunks_total, 'passage')} embedded"
    return done


def _looks_binary(path: str) -> bool:
    """A file an editor would show as bytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return b"\x00" in head or head.startswith((b"%PDF", b"PK\x03\x04"))
