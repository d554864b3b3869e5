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

from assistant.domain import ChatTurn, Role, ToolSpec
from assistant.errors import ModelError

_LABEL = {Role.USER: "User", Role.ASSISTANT: "Assistant", Role.TOOL: "Tool"}
# Every label our prompts use to mark a turn or a part (the transcript's
# roles, grounding's "Notes:", "Question:" and "Answer:", the templates' "Text:"
# and "Email:"), in the languages a reply may be written in. A base model that
# runs on past its answer starts a new line with one of them, in the language
# it is writing: asked in Chinese it wrote "问题：" and "回答：" lines, so each
# is a stop string, with the ASCII and the full-width colon.
PROMPT_LABELS: dict[str, tuple[str, ...]] = {
    "en": ("User", "Assistant", "System", "Question", "Answer", "Notes", "Text", "Email"),
    "zh": (
        *("用户", "助手", "系统", "问题", "提问", "问", "回答", "答案", "答", "笔记"),
        *("文本", "邮件", "摘要"),
        *("用戶", "問題", "系統", "筆記"),
    ),
    "ja": ("ユーザー", "アシスタント", "システム", "質問", "テキスト", "メール"),
    "ko": ("사용자", "어시스턴트", "시스템", "질문", "텍스트", "이메일"),
    "fr": ("Utilisateur", "Assistant", "Système", "Question", "Texte", "E-mail", "Courriel"),
    "de": ("Benutzer", "Nutzer", "Assistent", "System", "Frage", "Text", "E-Mail"),
    "es": ("Usuario", "Asistente", "Sistema", "Pregunta", "Texto", "Correo"),
    "it": ("Utente", "Assistente", "Sistema", "Domanda", "Testo"),
    "pt": ("Usuário", "Utilizador", "Assistente", "Sistema", "Pergunta", "Texto"),
    "nl": ("Gebruiker", "Assistent", "Systeem", "Vraag", "Tekst"),
    "ru": ("Пользователь", "Ассистент", "Система", "Вопрос", "Текст"),
}
LABEL_STOPS: tuple[str, ...] = tuple(
    dict.fromkeys(
        f"\n{label}{colon}"
        for labels in PROMPT_LABELS.values()
        for label in labels
        for colon in (":", "：")
    )
)
# A base model with nothing to say tends to emit blank lines without end; three
# newlines in a row end the reply instead of leaving the user watching nothing.
TRANSCRIPT_STOPS = ("User:", "<end_of_turn>", "\n\n\n") + LABEL_STOPS
# A reply that starts repeating the system prompt has run off the end of its
# answer (seen: "谢谢你。" and then the system prompt): its opening is a stop
# string too, once it is long enough not to occur by chance.
SYSTEM_ECHO_CHARS = 24
# A base model shown a bare "User: question / Assistant:" often says the
# question back. Two short exchanges in the conversation's language, put
# before it (by the chat service, which also decides when), show it what an
# answer looks like. Chosen with bench.answers (the README has the figures).
PRIMING: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (
        ("How many minutes are in an hour?", "There are 60 minutes in an hour."),
        (
            "Write one sentence about the moon.",
            "The moon lights the night sky with a soft silver glow.",
        ),
    ),
    "zh": (
        ("一小时有多少分钟？", "一小时有六十分钟。"),
        ("写一句关于月亮的话。", "月亮在夜空中洒下柔和的银光。"),
    ),
}
# What a reply must never copy: bench.answers counts it as an echo.
ECHO_SOURCES: tuple[str, ...] = tuple(
    text for pairs in PRIMING.values() for pair in pairs for text in pair
)
# Sampling for a model without a chat template, unless the user set their own:
# measured with bench/answers.py on the bundled model (see the README).
TRANSCRIPT_SAMPLING: dict[str, float] = {"temperature": 0.0}


@dataclass(frozen=True)
class RenderedPrompt:
    text: str
    stop: tuple[str, ...]
    add_bos: bool


class TranscriptFormatter:
    name = "transcript"

    def render(
        self, turns: Sequence[ChatTurn], tools: Sequence[ToolSpec] | None = None
    ) -> RenderedPrompt:
        """``tools`` are never shown: a plain transcript cannot teach calls."""
        lines: list[str] = []
        cue = turns[-1].cue if turns and turns[-1].role == Role.USER else ""
        for turn in turns:
            body = turn.content.strip()
            if turn.role == Role.SYSTEM:
                if body:
                    lines.append(body + "\n")
                continue
            if cue and turn is turns[-1]:
                lines.append(body)  # a document to complete (``ChatTurn.cue``)
                continue
            lines.append(f"{_LABEL[turn.role]}: {body}")
        lines.append(cue or "Assistant:")
        stops = TRANSCRIPT_STOPS
        system = next((t.content.strip() for t in turns if t.role == Role.SYSTEM), "")
        if len(system) >= SYSTEM_ECHO_CHARS:
            stops += (system[:SYSTEM_ECHO_CHARS],)
        return RenderedPrompt("\n".join(lines), stops, add_bos=True)


def template_sentence(source: str, exc: BaseException) -> str:
    """One sentence about a chat template of a model file that failed."""
    from jinja2.exceptions import SecurityError, TemplateSyntaxError

    detail = " ".join(str(exc).split())[:160].rstrip(".") or type(exc).__name__
    if isinstance(exc, SecurityError):
        what = "tries to run code, which the sandbox blocked"
    elif isinstance(exc, TemplateSyntaxError):
        what = "is not a valid template"
    else:
        what = "could not lay out this conversation"
    return (
        f"The chat template in {source} {what} ({detail}); use another copy of the model or "
        "another model."
    )


def template_message(turn: ChatTurn) -> dict[str, Any]:
    """A turn as chat templates (and the OpenAI API, but for the arguments,
    which templates want as an object) expect it: a reply's ``tool_calls``,
    a tool result's ``tool_call_id`` and ``name``."""
    message: dict[str, Any] = {"role": str(turn.role), "content": turn.content}
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": dict(call.arguments)},
            }
            for call in turn.tool_calls
        ]
    if turn.role == Role.TOOL:
        message["tool_call_id"] = turn.tool_call_id or ""
        message["name"] = turn.name or ""
    return message


_PROBE_TOOL = ToolSpec(
    "probe_tool_a7c3", "Checks whether the template renders tools.", {"type": "object"}
)


class TemplateFormatter:
    """Render the GGUF's own chat template in llama-cpp-python's sandbox
    (``Jinja2ChatFormatter``, which passes ``tools`` on to the template).

    A template is code from the model file: one the sandbox stops (it tries
    to reach Python's internals), one that does not parse, or one that fails
    on a conversation is a ``ModelError`` naming the file (``source``), never
    an internal crash."""

    name = "gguf-template"

    def __init__(
        self, template: str, bos_token: str, eos_token: str, source: str = "the model file"
    ) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.source = source
        try:
            self._formatter = Jinja2ChatFormatter(
                template=template, eos_token=eos_token, bos_token=bos_token
            )
        except Exception as exc:  # jinja2's TemplateSyntaxError and the like
            raise ModelError(template_sentence(source, exc)) from None
        self._eos = eos_token
        self.template = template

    def renders_tools(self) -> bool:
        """Whether the template shows the model the tools it is given: a
        probe tool's name must appear in the prompt (a template that ignores
        ``tools`` cannot have taught the model to call them)."""
        turns = [ChatTurn(Role.USER, "Hello")]
        try:
            return _PROBE_TOOL.name in self.render(turns, [_PROBE_TOOL]).text
        except Exception:  # a template that fails with tools cannot use them
            return False

    def render(
        self, turns: Sequence[ChatTurn], tools: Sequence[ToolSpec] | None = None
    ) -> RenderedPrompt:
        messages: list[Any] = [template_message(t) for t in turns]
        try:
            if tools:
                functions: list[Any] = [t.function() for t in tools]
                result = self._formatter(messages=messages, tools=functions)
            else:
                result = self._formatter(messages=messages)
        except Exception as exc:  # the template's code failed: the model file's fault
            raise ModelError(template_sentence(self.source, exc)) from None
        stop = result.stop
        stops: tuple[str, ...]
        if isinstance(stop, str):
            stops = (stop,)
        elif stop:
            stops = tuple(stop)
        else:
            stops = ()
        return RenderedPrompt(result.prompt, stops, add_bos=not result.added_special)
