"""What the application layer streams to a shell while a reply is written.

A reply (a chat answer or a writing action's result) is always
``ReplyStarted``, then text pieces (each already on disk when it arrives) and
progress markers, then exactly one ``ReplyDone`` with the stored message.

With tools, a reply runs in steps: a step whose answer asks for tools ends
with ``ToolCallsAsked`` (its stored message), each call is
``ToolCallStarted`` then ``ToolCallDone`` (the stored result), and the next
step begins with another ``ReplyStarted`` (``step`` counts them); the one
``ReplyDone`` comes at the very end. ``ToolsUnavailable`` says in one
sentence why a reply that was to use tools goes on without them.
Documents too long to attach whole are read part by part before the reply
starts: "read" progress markers may come before ``ReplyStarted``. After
``ReplyDone`` a chat reply may bring ``MemoryProposed``: memories the model
proposes from the user's message, which a shell shows for a yes or no (a shell
that does not answer stores nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.chat.context import ContextPlan
from assistant.domain import Citation, Memory, MemoryProposal, Message, ToolCall
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
    step: int = 0  # with tools: 0 for the first answer, then 1, 2... after each round of calls


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
    # a problem that did not stop the reply but that the user must hear (the
    # database's files were deleted under it and the reply was stored again)
    warning: str | None = None


@dataclass(frozen=True)
class MemoryProposed:
    """After a reply: memories the model proposes from the user's message.
    Nothing is stored until a shell calls ``ChatSession.accept_proposal``."""

    proposals: tuple[MemoryProposal, ...]


@dataclass(frozen=True)
class ToolsUnavailable:
    sentence: str


@dataclass(frozen=True)
class ToolCallsAsked:
    message: Message  # the stored answer of this step, with its tool_calls


@dataclass(frozen=True)
class ToolCallStarted:
    call: ToolCall
    source: str  # where the tool comes from: "built-in", "mcp:NAME"...
    asks_first: bool  # the user is asked (or it is refused) before it runs


@dataclass(frozen=True)
class ToolCallDone:
    call: ToolCall
    message: Message  # the stored result (role tool); finish_reason is the outcome
    outcome: str  # a ToolOutcome: ok, error, denied, refused, stopped, unknown


ChatEvent = (
    ReplyStarted
    | TextPiece
    | ReplyProgress
    | ReplyDone
    | ToolsUnavailable
    | ToolCallsAsked
    | ToolCallStarted
    | ToolCallDone
    | MemoryProposed
)

__all__ = [
    "ChatEvent",
    "MemoryProposed",
    "ReplyDone",
    "ReplyProgress",
    "ReplyStarted",
    "TextPiece",
    "ToolCallDone",
    "ToolCallStarted",
    "ToolCallsAsked",
    "ToolsUnavailable",
]
