"""Turn chat turns into a prompt string.

Models whose GGUF carries a chat template get it rendered by llama-cpp-python's
Jinja2 formatter, which runs in an immutable sandbox. Models without one (the
bundled 270M base model) get a plain transcript; its stop strings end the reply
at the first sign of a new turn, so role markers never leak into the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assistant.domain import ChatTurn, Role

_LABEL = {Role.USER: "User", Role.ASSISTANT: "Assistant"}
# A base model with nothing to say tends to emit blank lines without end; three
# newlines in a row end the reply instead of leaving the user watching nothing.
TRANSCRIPT_STOPS = ("\nUser:", "\nAssistant:", "\nSystem:", "User:", "<end_of_turn>", "\n\n\n")


@dataclass(frozen=True)
class RenderedPrompt:
    text: str
    stop: tuple[str, ...]
    add_bos: bool


class TranscriptFormatter:
    name = "transcript"

    def render(self, turns: Sequence[ChatTurn]) -> RenderedPrompt:
        lines: list[str] = []
        for turn in turns:
            body = turn.content.strip()
            if turn.role == Role.SYSTEM:
                if body:
                    lines.append(body + "\n")
                continue
            lines.append(f"{_LABEL[turn.role]}: {body}")
        lines.append("Assistant:")
        return RenderedPrompt("\n".join(lines), TRANSCRIPT_STOPS, add_bos=True)


class TemplateFormatter:
    """Render the GGUF's own chat template in llama-cpp-python's sandbox."""

    name = "gguf-template"

    def __init__(self, template: str, bos_token: str, eos_token: str) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._formatter = Jinja2ChatFormatter(
            template=template, eos_token=eos_token, bos_token=bos_token
        )
        self._eos = eos_token

    def render(self, turns: Sequence[ChatTurn]) -> RenderedPrompt:
        messages: list[Any] = [{"role": str(t.role), "content": t.content} for t in turns]
        result = self._formatter(messages=messages)
        stop = result.stop
        stops: tuple[str, ...]
        if isinstance(stop, str):
            stops = (stop,)
        elif stop:
            stops = tuple(stop)
        else:
            stops = ()
        return RenderedPrompt(result.prompt, stops, add_bos=not result.added_special)
