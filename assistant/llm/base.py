"""The model protocol every backend implements, and the pieces they share.

A backend renders chat turns into its own prompt, streams text pieces, checks a
cancel flag between tokens, and ends every stream with exactly one
``Finished`` event that carries token counts and timings.

Tools: a model that can call them says so with ``supports_tools`` (a flag
set when it is loaded, never probed for at the call site). Given ``tools``,
its reply may end with one ``ToolCalls`` event just before ``Finished``
(whose reason is then ``"tool_calls"``); running them and asking again is
the application layer's job, not the backend's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from assistant.domain import ChatTurn, GenerationOptions, ToolCall, ToolSpec
from assistant.errors import ContextOverflow, ModelError

__all__ = [
    "ChatModel",
    "ContextOverflow",
    "Finished",
    "ModelError",
    "StopScanner",
    "TextPiece",
    "ToolCall",
    "ToolCalls",
    "ToolSpec",
]


@dataclass(frozen=True)
class TextPiece:
    text: str


@dataclass(frozen=True)
class ToolCalls:
    """The reply asks for these tools to be run (in order) before it goes on."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class Finished:
    finish_reason: str  # "stop", "length", "cancelled" or "tool_calls"
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    time_to_first_token_ms: float = 0.0
    generation_ms: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        if self.completion_tokens <= 1 or self.generation_ms <= 0:
            return 0.0
        return (self.completion_tokens - 1) / (self.generation_ms / 1000)


StreamEvent = TextPiece | ToolCalls | Finished


@runtime_checkable
class ChatModel(Protocol):
    name: str
    context_size: int
    # Follows an instruction well enough to propose memories after a reply:
    # a chat (instruction-tuned) model; not a base model fed a plain transcript.
    can_propose_memories: bool
    # True when the model can be offered tools and its calls can be read back.
    supports_tools: bool
    # True for a model with no chat template (a base model): it is shown
    # documents to complete (``ChatTurn.cue``) rather than instructions.
    base_model: bool
    # Sampling that measured best for this kind of model (GenerationOptions
    # fields); the user's own settings win (``with_model_defaults``).
    sampling_defaults: dict[str, Any]

    def count_tokens(self, turns: Sequence[ChatTurn]) -> int:
        """Tokens the rendered prompt for ``turns`` takes, generation prompt included."""
        ...

    def stream(
        self,
        turns: Sequence[ChatTurn],
        options: GenerationOptions,
        cancel: threading.Event | None = None,
        tools: Sequence[ToolSpec] | None = None,
    ) -> Iterator[StreamEvent]:
        """Stream the reply to ``turns``; with ``tools`` (only when
        ``supports_tools``), the reply may be calls to them."""
        ...

    def prepare_next(
        self, turns: Sequence[ChatTurn], cancel: threading.Event | None = None
    ) -> None:
        """After a reply: get ready for a next turn that starts with ``turns``
        (a model with a prompt cache evaluates and saves them; others do
        nothing)."""
        ...


def with_model_defaults(options: GenerationOptions, model: ChatModel) -> GenerationOptions:
    """``options`` with the model's own sampling defaults in every field the
    user did not set."""
    from dataclasses import replace

    own = {k: v for k, v in model.sampling_defaults.items() if k not in options.chosen}
    return replace(options, **own) if own else options


class StopScanner:
    """Cut generated text at the first stop string, without ever emitting a
    partial stop string: text that could still be the start of one is held
    back until the next piece decides it."""

    def __init__(self, stops: Sequence[str], strip_leading: bool = True) -> None:
        self.stops = [s for s in stops if s]
        self._held = ""
        self._strip = strip_leading
        self.stopped = False

    def feed(self, text: str) -> str:
        if self.stopped:
            return ""
        buf = self._held + text
        if self._strip:
            buf = buf.lstrip()
            if not buf:
                self._held = ""
                return ""
            self._strip = False
        cut = min((i for i in (buf.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._held = ""
            return buf[:cut]
        keep = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(buf)), 0, -1):
                if buf.endswith(stop[:n]):
                    keep = max(keep, n)
                    break
        self._held = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep] if keep else buf

    def flush(self) -> str:
        out, self._held = ("" if self.stopped else self._held), ""
        return out
