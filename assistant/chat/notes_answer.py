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
from assistant.domain import (
    ChatTurn,
    Citation,
    GenerationOptions,
    Grounding,
    GroundingProvider,
    Role,
)
from assistant.llm.base import ChatModel, TextPiece, with_model_defaults


@dataclass(frozen=True)
class NotesAnswer:
    text: str
    citations: tuple[Citation, ...]
    answered: bool  # False: the notes do not cover the question (the model was not asked)


def ground_question(
    model: ChatModel,
    system: ChatTurn | None,
    question: ChatTurn,
    options: GenerationOptions,
    grounding: GroundingProvider,
) -> tuple[ChatTurn, Grounding, GenerationOptions]:
    """The question as the model is shown it with passages from the notes,
    the grounding behind it, and the options for its answer. Passages get
    what is left after the system prompt and the answer's room, never more
    than half the window (so some history survives). A base model gets the
    notes as a document with the question after it (the layout it completes
    best, measured by ``bench.answers``) and the stops that end its answer;
    a chat template gets the quoted-passages prompt."""
    n_ctx = model.context_size
    base = model.count_tokens(([system] if system else []) + [question])
    reserve = min(options.max_tokens, max(64, n_ctx // 4))
    budget = max(0, min(n_ctx // 2, n_ctx - reserve - base))

    def count(text: str) -> int:
        return model.count_tokens([ChatTurn(Role.USER, text)])

    result = grounding(question.content, budget, count)
    if model.base_model and result.document:
        turn = ChatTurn(Role.USER, result.document, cue=result.cue)
        return turn, result, replace(options, stop=(*options.stop, *result.document_stops))
    return ChatTurn(Role.USER, result.prompt), result, options


def answer_from_notes(
    model: ChatModel,
    grounding: GroundingProvider,
    question: str,
    options: GenerationOptions,
    system_prompt: str | None = None,
    cancel: threading.Event | None = None,
) -> NotesAnswer:
    options = with_model_defaults(options, model)
    system = ChatTurn(Role.SYSTEM, system_prompt) if system_prompt else None
    question_turn = ChatTurn(Role.USER, question)
    turn, grounded, options = ground_question(model, system, question_turn, options, grounding)
    if grounded.no_answer is not None:
        return NotesAnswer(grounded.no_answer, grounded.citations, answered=False)
    plan = plan_context(model, system, [turn], options.max_tokens)
    parts = [
        event.text
        for event in model.stream(plan.turns, replace(options, max_tokens=plan.max_tokens), cancel)
        if isinstance(event, TextPiece)
    ]
    return NotesAnswer("".join(parts).strip(), grounded.citations, answered=True)
