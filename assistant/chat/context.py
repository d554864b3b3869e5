"""Fit a conversation into the model's context window.

The reply needs room too, so the budget is the window minus the tokens kept
for the answer. When the prompt is over budget the oldest turns go first, in
whole user/assistant exchanges; the system prompt and the latest message always
stay. If even those two do not fit, the caller gets ``ContextOverflow`` with a
sentence to show, and nothing is sent to the model.

Memories given to the model are a block after the system prompt: counted here
(``memory_tokens``, which the context meter shows) and kept over older turns;
only when the system prompt, the block and the latest message cannot fit
together does the block go (``memory_dropped``) before anything overflows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from assistant.domain import ChatTurn, Role
from assistant.errors import ContextOverflow
from assistant.llm.base import ChatModel

MIN_ANSWER_TOKENS = 64


@dataclass(frozen=True)
class ContextPlan:
    turns: list[ChatTurn]
    prompt_tokens: int
    dropped_turns: int
    dropped_tokens: int
    max_tokens: int
    context_size: int
    memory_tokens: int = 0  # of prompt_tokens, the memories' block
    memory_dropped: bool = False  # the memories did not fit with the latest message

    @property
    def fullness(self) -> float:
        return self.prompt_tokens / self.context_size if self.context_size else 0.0


def plan_context(
    model: ChatModel,
    system: ChatTurn | None,
    history: Sequence[ChatTurn],
    max_tokens: int,
    memory_block: str = "",
) -> ContextPlan:
    """Choose which turns go to the model; ``history`` ends with the new
    message. ``memory_block`` (the memories given) goes after the system prompt."""
    if not memory_block:
        return _plan(model, system, history, max_tokens)
    from assistant.chat.memory import with_memories

    text = with_memories(system.content if system else None, memory_block) or ""
    with_block = ChatTurn(Role.SYSTEM, text)
    try:
        plan = _plan(model, with_block, history, max_tokens)
    except ContextOverflow:
        return replace(_plan(model, system, history, max_tokens), memory_dropped=True)
    without = model.count_tokens([system or ChatTurn(Role.SYSTEM, "")])
    return replace(plan, memory_tokens=max(0, model.count_tokens([with_block]) - without))


def _plan(
    model: ChatModel,
    system: ChatTurn | None,
    history: Sequence[ChatTurn],
    max_tokens: int,
) -> ContextPlan:
    if not history:
        raise ValueError("history must end with the new message")
    n_ctx = model.context_size
    reserve = min(max_tokens, max(MIN_ANSWER_TOKENS, n_ctx // 4))
    head = [system] if system and system.content.strip() else []
    turns = list(history)
    full = model.count_tokens(head + turns)
    count = full
    start = 0
    while count > n_ctx - reserve and start < len(turns) - 1:
        start += 1
        # drop whole exchanges: never begin the kept history with a reply
        while start < len(turns) - 1 and turns[start].role != Role.USER:
            start += 1
        count = model.count_tokens(head + turns[start:])
    kept = turns[start:]
    if count > n_ctx - MIN_ANSWER_TOKENS:
        raise ContextOverflow(
            f"Your message needs about {count} tokens but the context window holds "
            f"{n_ctx} and the answer needs room; shorten it or raise n_ctx."
        )
    answer_room = min(max_tokens, n_ctx - count)
    return ContextPlan(
        turns=head + kept,
        prompt_tokens=count,
        dropped_turns=start,
        dropped_tokens=full - count if start else 0,
        max_tokens=answer_room,
        context_size=n_ctx,
    )
