"""A scripted fake model for unit tests: ``enqueue`` replies, read ``history``.

``enqueue_calls`` scripts a reply that asks for tools: it goes through the
model protocol as a ``ToolCalls`` event, as a real backend's would; the tools
each call was offered are kept in ``tools_seen``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from assistant.domain import ChatTurn, GenerationOptions, ToolCall, ToolSpec
from assistant.errors import ContextOverflow
from assistant.llm.base import Finished, StopScanner, TextPiece, ToolCalls


class FakeModel:
    name = "fake-model"
    can_propose_memories = False

    def __init__(
        self, context_size: int = 2048, delay: float = 0.0, supports_tools: bool = True
    ) -> None:
        self.context_size = context_size
        self.delay = delay
        self.supports_tools = supports_tools
        self.sampling_defaults: dict[str, object] = {}
        self.base_model = False  # True: shown documents with a cue, as the bundled model
        self.replies: list[list[str]] = []
        self.calls: dict[int, list[ToolCall]] = {}  # reply number -> the calls it asks for
        self.tools_seen: list[list[ToolSpec] | None] = []
        self._enqueued = 0
        self.history: list[list[ChatTurn]] = []
        self.options: list[GenerationOptions] = []
        self.fail_with: Exception | None = None
        self.started = threading.Event()
        self.prepared: list[list[ChatTurn]] = []  # what prepare_next was given

    def enqueue(self, pieces: Sequence[str] | str) -> None:
        self.replies.append([pieces] if isinstance(pieces, str) else list(pieces))
        self._enqueued += 1

    def enqueue_calls(self, *calls: ToolCall, text: Sequence[str] | str = ()) -> None:
        """A reply that asks for ``calls`` (after ``text``, if any)."""
        self.calls[self._enqueued] = list(calls)
        self.enqueue(text if isinstance(text, str) else list(text))

    def count_tokens(self, turns: Sequence[ChatTurn]) -> int:
        # one token per word plus a few per turn for the role markers
        return sum(len(t.content.split()) + 3 for t in turns) + 2

    def prepare_next(
        self, turns: Sequence[ChatTurn], cancel: threading.Event | None = None
    ) -> None:
        self.prepared.append(list(turns))

    def stream(
        self,
        turns: Sequence[ChatTurn],
        options: GenerationOptions,
        cancel: threading.Event | None = None,
        tools: Sequence[ToolSpec] | None = None,
    ) -> Iterator[TextPiece | ToolCalls | Finished]:
        prompt_tokens = self.count_tokens(turns)
        if prompt_tokens > self.context_size:
            raise ContextOverflow("prompt does not fit")
        number = len(self.history)
        self.history.append(list(turns))
        self.options.append(options)
        self.tools_seen.append(list(tools) if tools else None)
        asked = self.calls.pop(number, None) if tools else None
        pieces = self.replies.pop(0) if self.replies else ["Hello", " from", " the", " fake."]
        scanner = StopScanner(options.stop, strip_leading=False)
        produced = 0
        reason = "stop"
        start = time.perf_counter()
        for piece in pieces:
            if self.fail_with is not None and produced == 1:
                raise self.fail_with
            if cancel is not None and cancel.is_set():
                reason = "cancelled"
                break
            if produced >= options.max_tokens:
                reason = "length"
                break
            self.started.set()
            if self.delay:
                time.sleep(self.delay)
            produced += 1
            text = scanner.feed(piece)
            if text:
                yield TextPiece(text)
            if scanner.stopped:
                break
        else:
            rest = scanner.flush()
            if rest:
                yield TextPiece(rest)
        if asked and reason == "stop":
            yield ToolCalls(tuple(asked))
            reason = "tool_calls"
        end = time.perf_counter()
        yield Finished(reason, prompt_tokens, produced, 0, 1.0, (end - start) * 1000)


class ProposingFakeModel(FakeModel):
    """A fake chat model that can propose memories: after a reply the chat
    service asks it (a second call, recorded in ``history`` like the first)
    and gets what ``propose`` queued, e.g. ``"NEW: I am vegetarian."``; with
    nothing queued it answers ``NONE``."""

    name = "fake-chat-model"
    can_propose_memories = True

    def __init__(self, context_size: int = 2048, delay: float = 0.0) -> None:
        super().__init__(context_size, delay)
        self.proposals: list[str] = []
        self.proposal_prompts: list[str] = []

    def propose(self, answer: str) -> None:
        self.proposals.append(answer)

    def stream(
        self,
        turns: Sequence[ChatTurn],
        options: GenerationOptions,
        cancel: threading.Event | None = None,
        tools: Sequence[ToolSpec] | None = None,
    ) -> Iterator[TextPiece | ToolCalls | Finished]:
        if turns and "Facts already kept:" in turns[-1].content:
            self.proposal_prompts.append(turns[-1].content)
            self.replies.insert(0, [self.proposals.pop(0) if self.proposals else "NONE"])
        return super().stream(turns, options, cancel, tools)
