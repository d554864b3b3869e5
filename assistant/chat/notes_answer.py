"""A grounded answer from the user's notes that is not stored: for other
agents asking over MCP (``ask_notes``), which must change nothing here.

The prompt is the one ``ask --notes`` builds (passages as quoted material,
numbered for citations); the answer and the passages it was given come back
together. When nothing in the notes is close enough, the answer says so and
the model is not asked.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from assistant.chat.context import plan_context
from assistant.domain import ChatTurn, Citation, GenerationOptions, GroundingProvider, Role
from assistant.llm.base import ChatModel, TextPiece


@dataclass(frozen=True)
class NotesAnswer:
    text: str
    citations: tuple[Citation, ...]
    answered: bool  # False: the notes do not cover the question (the model was not asked)


def answer_from_notes(
    model: ChatModel,
    grounding: GroundingProvider,
    question: str,
    options: GenerationOptions,
    system_prompt: str | None = None,
    cancel: threading.Event | None = None,
) -> NotesAnswer:
    system = ChatTurn(Role.SYSTEM, system_prompt) if system_prompt else None
    n_ctx = model.context_size
    base = model.count_tokens(([system] if system else []) + [ChatTurn(Role.USER, question)])
    reserve = min(options.max_tokens, max(64, n_ctx // 4))
    budget = max(0, min(n_ctx // 2, n_ctx - reserve - base))

    def count(text: str) -> int:
        return model.count_tokens([ChatTurn(Role.USER, text)])

    grounded = grounding(question, budget, count)
    if grounded.no_answer is not None:
        return NotesAnswer(grounded.no_answer, grounded.citations, answered=False)
    plan = plan_context(model, system, [ChatTurn(Role.USER, grounded.prompt)], options.max_tokens)
    parts = [
        event.text
        for event in model.stream(plan.turns, replace(options, max_tokens=plan.max_tokens), cancel)
        if isinstance(event, TextPiece)
    ]
    return NotesAnswer("".join(parts).strip(), grounded.citations, answered=True)
