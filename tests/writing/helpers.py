"""Test doubles for writing actions: a fake model that answers from its prompt."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from assistant.domain import ChatTurn, GenerationOptions
from assistant.llm.base import Finished, TextPiece
from tests.fakes import FakeModel


def request_text(turns: Sequence[ChatTurn]) -> str:
    """The text a template put after its 'Text:' (or 'Email:') label."""
    body = turns[-1].content
    for label in ("Text:\n", "Email:\n"):
        if label in body:
            return body.split(label, 1)[1]
    return body


class EchoModel(FakeModel):
    """Answers with a transformation of the text it was given (upper-case by
    default), word by word, so tests can check what went in and in what order."""

    def __init__(self, context_size: int = 2048, transform=str.upper) -> None:
        super().__init__(context_size=context_size)
        self.transform = transform

    def stream(
        self,
        turns: Sequence[ChatTurn],
        options: GenerationOptions,
        cancel: threading.Event | None = None,
    ) -> Iterator[TextPiece | Finished]:
        answer = self.transform(request_text(turns))
        words = answer.split(" ")
        self.enqueue([w if i == 0 else " " + w for i, w in enumerate(words)])
        return super().stream(turns, options, cancel)
