"""What ``ChatController`` tells a screen to show, one plain object at a time.

A screen renders these and decides nothing: what is stored, what is queued,
what is busy and what the status line says come from the controller. Each
update is handed to the screen's listener on the screen's event loop, in the
order they happened, and awaited, so an update never arrives before the one
it builds on has been drawn (a reply's text never before its view).

A reply is always ``ReplyOpened`` (the request and an empty reply are
shown), then the chat service's own events wrapped in ``ReplyUpdate``
(``ReplyStarted``, text pieces, progress, ``ReplyDone``), then exactly one
``ReplyClosed``. Tool calls and their results arrive as more ``ReplyUpdate``
events between those two; a call that needs the user's approval is asked
with ``ApprovalAsked`` meanwhile.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from assistant.chat.events import ChatEvent
from assistant.chat.tooluse import Approval, ApprovalRequest
from assistant.domain import Citation, Conversation, MemoryProposal, Message, Thread


@dataclass(frozen=True)
class Status:
    """The status line: the latest notice, the model, the persona, the
    switches that are on and the notes index, the last reply's speed and how
    full the context window is (the last prompt and its reply)."""

    notice: str = ""
    model: str = ""
    persona: str = ""
    switches: tuple[str, ...] = ()  # e.g. ("using notes",)
    notes_index: str = ""  # "notes 3 files, 20 passages", "notes syncing"...
    speed: str = ""
    context_used: int | None = None
    context_size: int | None = None
    context_memories: int = 0  # of context_used, the memories given to the last reply

    @property
    def notes(self) -> str:
        return " · ".join([*self.switches, *([self.notes_index] if self.notes_index else [])])


@dataclass(frozen=True)
class HistoryRead:
    """The first page of the conversation list, read at start."""

    conversations: list[Conversation]
    more: bool


@dataclass(frozen=True)
class Ready:
    """The history is read: messages are sent from now on (those typed before
    were queued and go first)."""


@dataclass(frozen=True)
class ThreadShown:
    """Draw this branch (None: a new, empty conversation). ``focus`` is a
    message to bring on screen and mark: a search hit, or the version just
    stepped to."""

    thread: Thread | None
    focus: int | None = None


@dataclass(frozen=True)
class SidebarChanged:
    """Titles, order or membership of the conversation list changed (here or
    in another process): read it again."""


@dataclass(frozen=True)
class Queued:
    """``text`` waits (shown as pending) until the reply in progress, or the
    start-up, is over. ``key`` names it for ``Unqueued``."""

    key: int
    text: str


@dataclass(frozen=True)
class Unqueued:
    """The pending message ``key`` is sent now, or was taken back."""

    key: int


@dataclass(frozen=True)
class ReplyOpened:
    """A reply starts: show ``request`` (None when a message is answered
    again) and an empty reply under it. Views from message ``remove_from``
    down (an edit), or below message ``remove_after`` (answer again), make
    way first. ``waiting`` is the reply's first footer."""

    request: str | None
    waiting: str
    remove_from: int | None = None
    remove_after: int | None = None


@dataclass(frozen=True)
class ReplyUpdate:
    """An event of the reply in progress, from the chat service."""

    event: ChatEvent


@dataclass(frozen=True)
class ReplyClosed:
    """The reply is over. ``error`` is its sentence when it failed; ``stored``
    the reply as it is on disk when it failed after it was stored."""

    error: str | None = None
    stored: Message | None = None


@dataclass(frozen=True)
class ApprovalAsked:
    """The reply waits until the user approves ``request``: the screen asks
    and sets ``answer`` (allow once, for this conversation, or deny). The
    controller may settle ``answer`` itself (the reply was stopped: deny);
    the screen then closes its question."""

    request: ApprovalRequest
    answer: asyncio.Future[Approval]


@dataclass(frozen=True)
class ToolEntry:
    """One tool for the tools list: its name, where it comes from, whether
    it asks before it runs, and what it does."""

    name: str
    source: str
    asks_first: bool
    description: str


@dataclass(frozen=True)
class ToolListing:
    """Every tool, and the sentences of tool sources that failed."""

    tools: tuple[ToolEntry, ...]
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class MarkersChanged:
    """The branch read again after a reply: versions ("2/3") may have changed."""

    thread: Thread


@dataclass(frozen=True)
class EditMode:
    """Editing message ``message_id`` (its text goes in the box), or, with
    None, no longer editing (``clear_box``: the edit was given up)."""

    message_id: int | None
    text: str = ""
    clear_box: bool = False


@dataclass(frozen=True)
class BoxText:
    """Put ``text`` back in the message box, above what is typed there (a
    queued slash command with a mistake, to fix)."""

    text: str


@dataclass(frozen=True)
class Recall:
    """The user's earlier messages in this conversation, oldest first (Up
    and Down in an empty box go through them)."""

    messages: tuple[str, ...]


@dataclass(frozen=True)
class Notice:
    """A short message for the user; ``severity`` is information, warning or error."""

    text: str
    severity: str = "information"
    title: str = ""
    timeout: float | None = None


@dataclass(frozen=True)
class ChatNote:
    """A line from the app itself in the chat (/help, /persona); never stored."""

    text: str


@dataclass(frozen=True)
class StatusChanged:
    status: Status


@dataclass(frozen=True)
class RetrievedPassage:
    """A passage found by a notes search, for the retrieval view: its
    citation (with ranks), the snippet and the spans of the query's words."""

    citation: Citation
    snippet: str = ""
    highlights: tuple[tuple[int, int], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class MemoriesProposed:
    """After a reply, memories the model proposes from the user's message:
    the shell asks about each (keep, replace the one it repeats or changes,
    add as new, or no) and hands the answers to ``decide_memories``."""

    proposals: tuple[MemoryProposal, ...]


Update = (
    HistoryRead
    | MemoriesProposed
    | Ready
    | ThreadShown
    | SidebarChanged
    | Queued
    | Unqueued
    | ReplyOpened
    | ReplyUpdate
    | ReplyClosed
    | ApprovalAsked
    | MarkersChanged
    | EditMode
    | BoxText
    | Recall
    | Notice
    | ChatNote
    | StatusChanged
)
