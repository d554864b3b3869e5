"""Plain data objects shared by every layer; no ORM, no UI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class MessageStatus(StrEnum):
    COMPLETE = "complete"
    STREAMING = "streaming"
    CANCELLED = "cancelled"
    ERROR = "error"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class ChatTurn:
    """One message as the model sees it."""

    role: Role
    content: str


@dataclass
class Message:
    id: int
    conversation_id: int
    role: Role
    content: str
    status: MessageStatus
    created_at: datetime
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tokens_per_second: float | None = None
    time_to_first_token_ms: float | None = None
    generation_ms: float | None = None
    finish_reason: str | None = None
    error: str | None = None
    citations: list[dict] = field(default_factory=list)


@dataclass
class Conversation:
    id: int
    title: str
    created_at: datetime
    updated_at: datetime
    model: str | None = None
    system_prompt: str | None = None
    use_notes: bool = False  # replies are grounded in the user's notes
    messages: list[Message] = field(default_factory=list)
    message_count: int = 0


@dataclass(frozen=True)
class GenerationOptions:
    max_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.1
    seed: int | None = None
    stop: tuple[str, ...] = ()
    # Keep going past end-of-generation tokens (benchmarks, "continue writing").
    ignore_eos: bool = False
