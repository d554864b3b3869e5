"""A scripted fake writer for compose: it answers an outline prompt with
numbered titles and any other prompt with sentences of numbered words, so
tests can check what each call was given, in what order, and how long the
piece came out."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence

from assistant.domain import ChatTurn, GenerationOptions
from assistant.llm.base import Finished, TextPiece
from tests.fakes import FakeModel


def request(turns: Sequence[ChatTurn]) -> str:
    return turns[-1].content


def is_outline(turns: Sequence[ChatTurn]) -> bool:
    return request(turns).startswith("Plan ")


class WriterModel(FakeModel):
    """Writes ``words_per_call`` words per call (sentences of eight words,
    paragraphs of five sentences), each word tagged with the call number;
    ``titles`` answer outline prompts. ``before`` and ``after`` are pieces
    put around a call's text (``before`` once, on the first writing call)."""

    def __init__(
        self,
        words_per_call: int = 100,
        titles: Sequence[str] = ("Alpha start", "Beta middle", "Gamma end"),
        context_size: int = 4096,
        delay: float = 0.0,
    ) -> None:
        super().__init__(context_size=context_size, delay=delay)
        self.words_per_call = words_per_call
        self.titles = list(titles)
        self.calls = 0
        self.before: list[str] = []
        self.after = ""

    def text_for(self, call: int) -> list[str]:
        pieces: list[str] = []
        for i in range(self.words_per_call):
            word = f"w{call}x{i}"
            if i % 8 == 7:
                word += "."
            if i and i % 40 == 0:
                pieces.append("\n\n" + word.capitalize())
            else:
                pieces.append((" " if i else "") + word)
        if not pieces[-1].endswith("."):
            pieces[-1] += "."
        return pieces

    def stream(
        self,
        turns: Sequence[ChatTurn],
        options: GenerationOptions,
        cancel: threading.Event | None = None,
    ) -> Iterator[TextPiece | Finished]:
        if is_outline(turns):
            parts = re.search(r"in (\d+) parts", request(turns))
            n = int(parts.group(1)) if parts else len(self.titles)
            lines = [f"{i}. {title}" for i, title in enumerate(self.titles[:n], 1)]
            self.enqueue(["\n".join(lines)])
        else:
            self.calls += 1
            pieces = self.before + self.text_for(self.calls)
            self.before = []
            if self.after:
                pieces.append(self.after)
            self.enqueue(pieces)
        return super().stream(turns, options, cancel)
