"""What the application layer streams to a shell while a reply is written.

A reply (a chat answer or a writing action's result) is always
``ReplyStarted``, then text pieces (each already on disk when it arrives) and
progress markers, then exactly one ``ReplyDone`` with the stored message.
Documents too long to attach whole are read part by part before the reply
starts: "read" progress markers may come before ``ReplyStarted``. After
``ReplyDone`` a chat reply may bring ``MemoryProposed``: memories the model
proposes from the user's message, which a shell shows for a yes or no (a shell
that does not answer stores nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.chat.context import ContextPlan
from assistant.domain import Citation, Memory, MemoryProposal, Message
from assistant.llm.base import Finished, TextPiece


@dataclass(frozen=True)
class ReplyStarted:
    conversation_id: int
    user_message_id: int | None
    reply_message_id: int
    plan: ContextPlan | None  # None for a writing action (it plans its own prompts)
    citations: tuple[Citation, ...] = ()
    action: str | None = None  # the template's name, for a writing action
    memories: tuple[Memory, ...] = ()  # the memories the model was given


@dataclass(frozen=True)
class ReplyProgress:
    """A writing action moved on to another part of a long text, or (phase
    "read", before ``ReplyStarted``) the documents attached with ``@path``
    are read part by part."""

    phase: str  # "edit", "condense", "write" or "read"
    part: int
    parts: int


@dataclass(frozen=True)
class ReplyDone:
    message: Message  # as stored: final status, text and figures
    finished: Finished
    plan: ContextPlan | None
    empty_parts: tuple[int, ...] = ()  # writing action: parts kept as they were
    cut_parts: tuple[int, ...] = ()  # writing action: parts cut at the token limit


@dataclass(frozen=True)
class MemoryProposed:
    """After a reply: memories the model proposes from the user's message.
    Nothing is stored until a shell calls ``ChatSession.accept_proposal``."""

    proposals: tuple[MemoryProposal, ...]


ChatEvent = ReplyStarted | TextPiece | ReplyProgress | ReplyDone | MemoryProposed

__all__ = [
    "ChatEvent",
    "MemoryProposed",
    "ReplyDone",
    "ReplyProgress",
    "ReplyStarted",
    "TextPiece",
]
