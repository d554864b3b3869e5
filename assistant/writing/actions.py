"""Run a writing action on any ``ChatModel``, whatever the length of the text.

The one decision to know: the prompt never exceeds the context window. Each
template says how it copes with long text (``long_text``): ``chunks`` edits
paragraph-aligned pieces one by one and streams them back in order with the
original spacing; ``map_reduce`` condenses pieces with the ``summarise``
template until the whole fits, then runs once; ``tail`` keeps the end of the
text. Chunk sizes come from the model's own ``count_tokens``.

An edited piece that comes back empty keeps its original text, so writing the
result back to a file can never silently drop a paragraph.

The answer comes in the language of the text: when the text is not in English
(or ``language`` asks for another), the request ends with "Reply in X.". A
template with its own ``language`` variable (translate) says it itself.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, replace

from assistant.domain import ChatTurn, GenerationOptions, Role
from assistant.errors import WritingError
from assistant.llm.base import ChatModel, Finished, TextPiece
from assistant.writing.chunking import Chunk, split_into_chunks
from assistant.writing.templates import Persona, PromptLibrary, PromptTemplate, document_stops

# Largest piece sent in one call: bigger pieces make each call slower to start
# and make a cut-off answer cost more, for no gain in quality.
MAX_CHUNK_TOKENS = 1200
# Room kept free for tokenisation differences between pieces and the whole.
SAFETY_TOKENS = 16
CONDENSE_TEMPLATE = "summarise"
# After this many map rounds the caller cuts what is left to fit.
MAX_CONDENSE_ROUNDS = 6
ROLE_MARKER = re.compile(r"^\s*(?:user|assistant|system)\s*:", re.IGNORECASE | re.MULTILINE)
# A small base model often starts its answer by repeating a label from the prompt.
LEADING_LABEL = re.compile(
    r"^\s*(?:text|output|answer|result|translation|summary|title|corrected text|"
    r"rewritten text|shorter text|expanded text|reply|outline)\s*:[ \t]*\n?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ActionProgress:
    """Work on a new piece starts. ``phase`` is ``edit`` (a piece of the result),
    ``condense`` (shortening long input before the final call) or ``write``."""

    phase: str
    part: int
    parts: int


@dataclass(frozen=True)
class ActionDone:
    text: str  # the whole result, as streamed
    finish_reason: str  # "stop", "length" (some part was cut) or "cancelled"
    parts: int
    prompt_tokens: int
    completion_tokens: int
    empty_parts: tuple[int, ...] = ()  # edited parts that came back empty (original kept)
    cut_parts: tuple[int, ...] = ()  # parts cut at the token limit
    time_to_first_token_ms: float = 0.0  # from the start of the run to the first piece
    generation_ms: float = 0.0  # time spent generating, summed over the calls

    @property
    def finished(self) -> Finished:
        """The run's figures in the shape a single model call reports them."""
        return Finished(
            finish_reason=self.finish_reason,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            time_to_first_token_ms=self.time_to_first_token_ms,
            generation_ms=self.generation_ms,
        )


ActionEvent = TextPiece | ActionProgress | ActionDone


class _Tally:
    """Token counts and timings summed over the calls of one run."""

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cancelled = False
        self.started = time.perf_counter()
        self.first_piece_ms: float | None = None
        self.generation_ms = 0.0

    def add(self, fin: Finished) -> None:
        self.prompt_tokens += fin.prompt_tokens
        self.completion_tokens += fin.completion_tokens
        self.generation_ms += fin.generation_ms
        if fin.finish_reason == "cancelled":
            self.cancelled = True

    def shown(self) -> None:
        if self.first_piece_ms is None:
            self.first_piece_ms = (time.perf_counter() - self.started) * 1000

    def done(
        self, text: str, finish_reason: str, parts: int, **extra: tuple[int, ...]
    ) -> ActionDone:
        return ActionDone(
            text=text,
            finish_reason=finish_reason,
            parts=parts,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            time_to_first_token_ms=self.first_piece_ms or 0.0,
            generation_ms=self.generation_ms,
            **extra,
        )


class _AnswerCleaner:
    """Drop a leading label ("Corrected text:") and hold back trailing
    whitespace, so stitched pieces keep the original spacing exactly."""

    HOLD = 40

    def __init__(self) -> None:
        self._head = ""
        self._head_done = False
        self._tail = ""

    def feed(self, text: str) -> str:
        if not self._head_done:
            self._head += text
            if "\n" not in self._head.lstrip() and len(self._head) < self.HOLD:
                return ""
            text, self._head = LEADING_LABEL.sub("", self._head, count=1).lstrip(), ""
            self._head_done = True
            if not text:
                return ""
        text = self._tail + text
        body = text.rstrip()
        self._tail = text[len(body) :]
        return body

    def finish(self) -> str:
        if not self._head_done:
            self._head_done = True
            return LEADING_LABEL.sub("", self._head, count=1).strip()
        return ""


class ActionRunner:
    """Runs templates on one model. ``max_tokens`` and ``temperature``, when
    given, override the template's own settings (command-line options)."""

    def __init__(
        self,
        model: ChatModel,
        library: PromptLibrary,
        *,
        options: GenerationOptions | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        max_chunk_tokens: int = MAX_CHUNK_TOKENS,
    ) -> None:
        self.model = model
        self.library = library
        self.base_options = options or GenerationOptions()
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.max_chunk_tokens = max_chunk_tokens
        self._empty_cost: int | None = None
        self._reply_in: str | None = None  # "Reply in X." for the run in hand
        self._text_language = "en"  # the text's language code, for document layouts

    def _render(
        self,
        template: PromptTemplate,
        text: str,
        values: Mapping[str, str],
        persona: Persona | None,
    ) -> list[ChatTurn]:
        """The template's turns, the request asking for the run's language. A
        model without a chat template gets the template's document layout in
        the text's language instead, where it has one (measured: a 270M base
        model completes a document far better than it follows an instruction,
        and copies worked examples into its answer)."""
        if self.model.base_model and template.document:
            turn = template.render_document(text, self._text_language, values)
            if turn is not None:
                return [turn]
        turns = template.render(text, values, persona)
        if self._reply_in and "language" not in template.variables:
            last = turns[-1]
            turns[-1] = ChatTurn(last.role, f"{last.content}\n\nReply in {self._reply_in}.")
        return turns

    # ------------------------------------------------------------ measuring
    def count_text(self, text: str) -> int:
        """Tokens ``text`` adds to a prompt."""
        if self._empty_cost is None:
            self._empty_cost = self.model.count_tokens([ChatTurn(Role.USER, "")])
        return max(1, self.model.count_tokens([ChatTurn(Role.USER, text)]) - self._empty_cost)

    def _options(
        self, template: PromptTemplate, max_new: int, values: Mapping[str, str]
    ) -> GenerationOptions:
        """The run's sampling: a temperature given for the run, else the
        user's own setting, else the model's measured default (a base model),
        else the template's."""
        base = self.base_options
        own = self.model.sampling_defaults
        temperature = self.temperature
        if temperature is None:
            if "temperature" in base.chosen:
                temperature = base.temperature
            elif "temperature" in own:
                temperature = float(own["temperature"])
            elif template.temperature is not None:
                temperature = template.temperature
            else:
                temperature = base.temperature
        # a model that repeats the language request has finished its answer
        asked: tuple[str, ...] = ("\nReply in ",) if self._reply_in else ()
        if self.model.base_model and template.document:
            # one that starts a new part of its document has finished too
            asked += document_stops(template, self._text_language, values)
        return replace(
            self.base_options,
            max_tokens=max_new,
            temperature=temperature,
            stop=tuple(self.base_options.stop) + template.stop + asked,
        )

    def _fixed_output(self, template: PromptTemplate) -> int:
        """Output budget of a template whose answer is not sized by its input."""
        wanted = self.max_tokens or template.max_tokens or self.base_options.max_tokens
        return max(1, min(wanted, self.model.context_size // 2))

    def _overhead(
        self, template: PromptTemplate, values: Mapping[str, str], persona: Persona | None
    ) -> int:
        return self.model.count_tokens(self._render(template, "", values, persona)) + SAFETY_TOKENS

    def _too_small(self, template: PromptTemplate) -> WritingError:
        return WritingError(
            f"The context window ({self.model.context_size} tokens) is too small for the "
            f"'{template.name}' template; use a model or --n-ctx with a larger window."
        )

    def edit_budget(
        self, template: PromptTemplate, values: Mapping[str, str], persona: Persona | None
    ) -> int:
        """Largest piece (in tokens) whose prompt and answer fit together."""
        free = self.model.context_size - self._overhead(template, values, persona) - 32
        budget = int(free / (1 + template.output_ratio))
        if budget < 8:
            raise self._too_small(template)
        return max(1, min(self.max_chunk_tokens, budget))

    def split(self, text: str, budget: int) -> tuple[str, list[Chunk]]:
        return split_into_chunks(text, budget, self.count_text)

    # ------------------------------------------------------------- running
    def _generate(
        self,
        turns: list[ChatTurn],
        options: GenerationOptions,
        cancel: threading.Event | None,
        tally: _Tally,
    ) -> Iterator[TextPiece | Finished]:
        for event in self.model.stream(turns, options, cancel):  # no tools: no calls
            if isinstance(event, Finished):
                tally.add(event)
            if isinstance(event, TextPiece | Finished):
                yield event

    def _stream_answer(
        self,
        turns: list[ChatTurn],
        options: GenerationOptions,
        cancel: threading.Event | None,
        tally: _Tally,
        produced: list[str],
    ) -> Generator[TextPiece, None, str]:
        """Stream one call with answer labels stripped, appending what is shown
        to ``produced``; the generator's return value is the finish reason."""
        cleaner = _AnswerCleaner()
        reason = "stop"
        for event in self._generate(turns, options, cancel, tally):
            if isinstance(event, TextPiece):
                out = cleaner.feed(event.text)
                if out:
                    produced.append(out)
                    tally.shown()
                    yield TextPiece(out)
            else:
                reason = event.finish_reason
        rest = cleaner.finish()
        if rest:
            produced.append(rest)
            tally.shown()
            yield TextPiece(rest)
        return reason

    def _complete(
        self,
        template: PromptTemplate,
        text: str,
        values: Mapping[str, str],
        persona: Persona | None,
        max_new: int,
        cancel: threading.Event | None,
        tally: _Tally,
    ) -> tuple[str, str]:
        """One call, collected (for the condense step); returns (text, finish reason)."""
        parts: list[str] = []
        reason = "stop"
        turns = self._render(template, text, values, persona)
        for event in self._generate(turns, self._options(template, max_new, values), cancel, tally):
            if isinstance(event, TextPiece):
                parts.append(event.text)
            else:
                reason = event.finish_reason
        return LEADING_LABEL.sub("", "".join(parts), count=1).strip(), reason

    def run(
        self,
        template: PromptTemplate,
        text: str,
        variables: Mapping[str, str] | None = None,
        persona: Persona | None = None,
        cancel: threading.Event | None = None,
        language: str | None = None,
    ) -> Generator[ActionEvent, None, None]:
        """Stream the result of ``template`` on ``text``: text pieces, progress
        markers, then one ``ActionDone``. ``language`` (``--to``): the answer's
        language for a template that has no ``language`` variable of its own;
        None: the text's language."""
        if not text.strip():
            raise WritingError("There is no text to work on.")
        from assistant.language import answer_language, detect

        code = detect(text)
        self._text_language = code if code != "und" else "en"
        reply_in = language or answer_language(text)
        self._reply_in = reply_in if (language or reply_in != "English") else None
        if persona is None and template.persona:
            persona = self.library.persona(template.persona)
        values = template.resolve_values(variables)
        if template.long_text == "chunks":
            yield from self._run_chunks(template, text, values, persona, cancel)
        else:
            yield from self._run_whole(template, text, values, persona, cancel)

    def _run_chunks(
        self,
        template: PromptTemplate,
        text: str,
        values: Mapping[str, str],
        persona: Persona | None,
        cancel: threading.Event | None,
    ) -> Generator[ActionEvent, None, None]:
        tally = _Tally()
        lead, chunks = self.split(text, self.edit_budget(template, values, persona))
        room_after = self.model.context_size - self._overhead(template, values, persona)
        result: list[str] = [lead]
        empty: list[int] = []
        cut: list[int] = []
        if lead:
            yield TextPiece(lead)
        for index, chunk in enumerate(chunks, 1):
            if tally.cancelled or (cancel is not None and cancel.is_set()):
                tally.cancelled = True
                break
            yield ActionProgress("edit", index, len(chunks))
            max_new = math.ceil(chunk.tokens * template.output_ratio) + 32
            max_new = max(1, min(max_new, room_after - chunk.tokens))
            if self.max_tokens:
                max_new = min(max_new, self.max_tokens)
            produced: list[str] = []
            turns = self._render(template, chunk.text, values, persona)
            options = self._options(template, max_new, values)
            reason = yield from self._stream_answer(turns, options, cancel, tally, produced)
            if reason == "cancelled":
                result.extend(produced)
                break
            if not "".join(produced).strip():
                empty.append(index)
                produced = [chunk.text]
                yield TextPiece(chunk.text)
            if reason == "length":
                cut.append(index)
            result.extend(produced)
            result.append(chunk.separator)
            if chunk.separator:
                yield TextPiece(chunk.separator)
        yield tally.done(
            "".join(result),
            "cancelled" if tally.cancelled else ("length" if cut else "stop"),
            len(chunks),
            empty_parts=tuple(empty),
            cut_parts=tuple(cut),
        )

    def _fits(
        self,
        template: PromptTemplate,
        text: str,
        values: Mapping[str, str],
        persona: Persona | None,
        max_new: int,
    ) -> bool:
        turns = self._render(template, text, values, persona)
        return self.model.count_tokens(turns) + max_new + SAFETY_TOKENS <= self.model.context_size

    def _run_whole(
        self,
        template: PromptTemplate,
        text: str,
        values: Mapping[str, str],
        persona: Persona | None,
        cancel: threading.Event | None,
    ) -> Generator[ActionEvent, None, None]:
        tally = _Tally()
        max_new = self._fixed_output(template)
        free = self.model.context_size - self._overhead(template, values, persona) - max_new
        if free < 8:
            raise self._too_small(template)
        parts = 1
        if not self._fits(template, text, values, persona, max_new):
            if template.long_text == "tail":
                _, chunks = self.split(text, min(free, self.max_chunk_tokens * 2))
                text = chunks[-1].text
            else:
                text = yield from self._condense(text, template, values, persona, cancel, tally)
                if tally.cancelled:
                    yield tally.done("", "cancelled", parts)
                    return
            # tokenisation at piece boundaries can differ slightly: cut to be sure
            while not self._fits(template, text, values, persona, max_new):
                text = text[: int(len(text) * 0.9)]
        yield ActionProgress("write", parts, parts)
        produced: list[str] = []
        turns = self._render(template, text, values, persona)
        options = self._options(template, max_new, values)
        reason = yield from self._stream_answer(turns, options, cancel, tally, produced)
        yield tally.done(
            "".join(produced), reason, parts, cut_parts=(1,) if reason == "length" else ()
        )

    def _condense(
        self,
        text: str,
        template: PromptTemplate,
        values: Mapping[str, str],
        persona: Persona | None,
        cancel: threading.Event | None,
        tally: _Tally,
    ) -> Generator[ActionEvent, None, str]:
        """Map: summarise each piece; reduce: repeat on the joined summaries
        until the final prompt fits. Returns the condensed text."""
        condenser = self.library.template(CONDENSE_TEMPLATE)
        condense_values = condenser.resolve_values({})
        max_new = self._fixed_output(template)
        map_new = self._fixed_output(condenser)
        free = self.model.context_size - self._overhead(condenser, condense_values, None) - map_new
        budget = min(self.max_chunk_tokens * 2, free)
        if budget < 8:
            raise self._too_small(condenser)
        for _round in range(MAX_CONDENSE_ROUNDS):
            if self._fits(template, text, values, persona, max_new):
                break
            _, chunks = self.split(text, budget)
            summaries: list[str] = []
            for index, chunk in enumerate(chunks, 1):
                yield ActionProgress("condense", index, len(chunks))
                summary, reason = self._complete(
                    condenser, chunk.text, condense_values, None, map_new, cancel, tally
                )
                if reason == "cancelled":
                    tally.cancelled = True
                    return text
                summaries.append(summary or chunk.text[:200])
            condensed = "\n\n".join(summaries)
            if self.count_text(condensed) >= self.count_text(text) * 0.9:
                # the model is not shortening anything: keep the head of each summary
                condensed = "\n\n".join(s[: max(40, len(s) // 2)] for s in summaries)
            text = condensed
        return text


def has_role_marker(text: str) -> bool:
    """True when model output contains a transcript role marker ("User:")."""
    return ROLE_MARKER.search(text) is not None
