"""The compose service: the only code that writes drafts.

Both shells call it to write a new piece: ``prepare`` checks the request and
fetches the passages of the user's notes it is written from; ``plan`` stores
a new draft with its outline; ``write`` streams the piece. The planning and
sectioning themselves are ``writing.compose.Composer``'s, on any model.

Order matters for never losing text, as for a chat reply: the draft row
exists (``writing``, owned by this process) before the model is asked for a
token; text is written to it before it is handed to the caller (batched every
``flush_interval`` seconds); every exit (finish, cancel, error, Ctrl-C, a
consumer that stops reading) leaves the draft with its text, a final status
and the figures of the run. A draft whose process died is found ``writing``
by the next start and marked ``interrupted``, its text kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.domain import Citation, Draft, DraftStatus, OutlineSection
from assistant.errors import AssistantError, ModelError, NotesError, NotFound
from assistant.llm.base import ChatModel, TextPiece
from assistant.llm.handle import ModelHandle
from assistant.store.drafts import DraftRepository
from assistant.writing.compose import (
    ComposeDone,
    ComposeJob,
    Composer,
    PlanResult,
    SectionDone,
    SectionStarted,
    SourcePassage,
    format_outline,
    parse_outline,
)

if TYPE_CHECKING:
    from assistant.notes.service import NotesService
    from assistant.writing.templates import PromptLibrary

FLUSH_INTERVAL = 0.1
NOTES_PASSAGES = 6

# Builds a Composer on a model with the user's options; the composition root provides it.
ComposerFactory = Callable[[ChatModel], Composer]


@dataclass(frozen=True)
class DraftStarted:
    """The sections are about to be written into draft ``draft_id``."""

    draft_id: int
    outline: tuple[OutlineSection, ...]
    citations: tuple[Citation, ...] = ()


@dataclass(frozen=True)
class DraftDone:
    draft: Draft  # as stored: final status, text and figures
    done: ComposeDone


ComposeStreamEvent = DraftStarted | TextPiece | SectionStarted | SectionDone | DraftDone

__all__ = [
    "ComposeJob",
    "ComposeService",
    "ComposeStreamEvent",
    "DraftDone",
    "DraftStarted",
    "SectionDone",
    "SectionStarted",
    "TextPiece",
    "format_outline",
    "parse_outline",
]


def notes_passages(notes: NotesService, query: str, k: int = NOTES_PASSAGES) -> list[SourcePassage]:
    """The best passages of the user's notes for ``query``, numbered from 1."""
    from assistant.notes.grounding import citation

    hits = notes.search(query, k=k)
    return [SourcePassage(citation(n, hit), hit.text) for n, hit in enumerate(hits, start=1)]


class ComposeService:
    def __init__(
        self,
        drafts: DraftRepository,
        model: ModelHandle | ChatModel,
        *,
        composer: ComposerFactory | None = None,
        library: Callable[[], PromptLibrary] | None = None,
        notes: Callable[[], NotesService] | None = None,
        flush_interval: float = FLUSH_INTERVAL,
    ) -> None:
        self.drafts = drafts
        self.handle = model if isinstance(model, ModelHandle) else ModelHandle(lambda: model)
        self._composer = composer
        self._library = library
        self._notes = notes
        self.flush_interval = flush_interval

    @property
    def model(self) -> ChatModel:
        return self.handle.get()

    def library(self) -> PromptLibrary:
        if self._library is None:
            from assistant.writing.templates import load_library

            return load_library()
        return self._library()

    def composer(self, model: ChatModel | None = None) -> Composer:
        model = model or self.model
        if self._composer is not None:
            return self._composer(model)
        return Composer(model, self.library())

    # ------------------------------------------------------------ drafts
    def list_drafts(self) -> list[Draft]:
        return self.drafts.list_drafts()

    def draft(self, draft_id: int) -> Draft:
        return self.drafts.get(draft_id)

    def delete_draft(self, draft_id: int) -> None:
        self.drafts.delete(draft_id)

    def discard_plan(self, draft_id: int) -> None:
        """Forget a draft that was planned and never written (a plan made
        again replaces it); a draft with text is kept."""
        try:
            draft = self.drafts.get(draft_id)
        except NotFound:
            return
        if draft.status in (DraftStatus.PLANNED, DraftStatus.CANCELLED) and not draft.content:
            self.drafts.delete(draft_id)

    # ----------------------------------------------------------- prepare
    def prepare(
        self,
        kind: str,
        variables: Mapping[str, str] | None = None,
        *,
        material: str = "",
        material_name: str | None = None,
        notes_query: str | None = None,
    ) -> ComposeJob:
        """Check the request (a wrong kind, variable or length fails here)
        and gather what it is written from: a file's text, or the passages of
        the user's notes that ``notes_query`` finds."""
        composer = self.composer()
        template = composer.library.compose_template(kind)
        template.resolve_values({k: v for k, v in (variables or {}).items() if v.strip()})
        sources: Sequence[SourcePassage] = ()
        source: str | None = None
        if notes_query is not None:
            query = " ".join(notes_query.split())
            if not query:
                raise NotesError("Say what to look for in your notes (--from-notes QUERY).")
            if self._notes is None:
                raise NotesError("Writing from notes is not available here.")
            sources = notes_passages(self._notes(), query)
            if not sources:
                raise NotesError(
                    f"Nothing in your notes matches '{query}'; try other words "
                    "(`assistant notes search` shows what is found)."
                )
            source = f"notes: {query}"
        elif material.strip():
            source = f"file: {material_name}" if material_name else "material"
        return composer.prepare(
            template, variables, material=material, sources=sources, source=source
        )

    # -------------------------------------------------------------- plan
    def plan(
        self,
        job: ComposeJob,
        cancel: threading.Event | None = None,
        outline: Sequence[OutlineSection] | None = None,
    ) -> tuple[Draft, PlanResult]:
        """Store a new draft and plan it: its outline (one section when the
        piece fits one reply; ``outline`` when the user gave one) is stored
        before it is returned."""
        composer = self.composer()
        draft = self.drafts.create(
            job.kind,
            job.title,
            job.given,
            job.words,
            source=job.source,
            model=composer.model.name,
        )
        try:
            if outline is not None:
                result = PlanResult(tuple(outline), "user")
            else:
                result = composer.plan(job, cancel)
        except AssistantError as exc:
            self.drafts.update(draft.id, status=DraftStatus.ERROR, error=str(exc))
            raise
        except BaseException as exc:
            error = f"The model failed: {exc}" if isinstance(exc, Exception) else None
            self.drafts.update(draft.id, status=DraftStatus.ERROR, error=error)
            if isinstance(exc, Exception):
                raise ModelError(f"The model failed: {exc}") from exc
            raise
        fields: dict[str, object] = {
            "outline": list(result.outline),
            "citations": [p.citation for p in job.sources],
            "status": DraftStatus.CANCELLED if result.cancelled else DraftStatus.PLANNED,
        }
        if result.finished is not None:
            fields.update(
                prompt_tokens=result.finished.prompt_tokens,
                completion_tokens=result.finished.completion_tokens,
                generation_ms=result.finished.generation_ms,
            )
        if result.cancelled:
            fields["finish_reason"] = "stopped"  # the one word, as for a reply
        self.drafts.update(draft.id, **fields)
        return self.drafts.get(draft.id), result

    # ------------------------------------------------------------- write
    def write(
        self,
        draft_id: int,
        job: ComposeJob,
        outline: Sequence[OutlineSection],
        cancel: threading.Event | None = None,
    ) -> Generator[ComposeStreamEvent, None, None]:
        """Write ``outline`` (as planned, or as the user edited it) into the
        draft: each piece is on disk before it is yielded."""
        outline = tuple(outline)
        planned = self.drafts.get(draft_id)
        before_tokens = (planned.prompt_tokens or 0, planned.completion_tokens or 0)
        before_ms = planned.generation_ms or 0.0
        self.drafts.update(
            draft_id,
            outline=list(outline),
            target_words=sum(s.words for s in outline),
            status=DraftStatus.WRITING,
            content="",
            words=0,
            sections_done=0,
            error=None,
        )
        composer = self.composer()
        yield DraftStarted(draft_id, outline, tuple(p.citation for p in job.sources))
        parts: list[str] = []
        pending: list[str] = []
        last_flush = time.monotonic()
        done: ComposeDone | None = None
        words = 0
        sections_done = 0
        status = DraftStatus.CANCELLED
        error: str | None = None

        def save(**extra: object) -> None:
            self.drafts.update(draft_id, content="".join(parts), **extra)

        try:
            for event in composer.write(job, outline, cancel):
                if isinstance(event, ComposeDone):
                    done = event
                    continue
                if isinstance(event, SectionDone):
                    words, sections_done = event.words_so_far, event.index
                    save(words=words, sections_done=sections_done)
                    last_flush = time.monotonic()
                    if pending:
                        yield TextPiece("".join(pending))
                        pending.clear()
                    yield event
                    continue
                if isinstance(event, SectionStarted):
                    yield event
                    continue
                parts.append(event.text)
                pending.append(event.text)
                now = time.monotonic()
                # Write before showing: the first piece at once, later ones
                # in batches of flush_interval (as ChatService._record does).
                if len(parts) == 1 or now - last_flush >= self.flush_interval:
                    save()
                    last_flush = now
                    yield TextPiece("".join(pending))
                    pending.clear()
            if pending:
                save()
                yield TextPiece("".join(pending))
                pending.clear()
            if done is None:
                raise ModelError("The piece ended before it was finished.")
            words, sections_done = done.words, done.sections_done
            status = (
                DraftStatus.CANCELLED if done.finish_reason == "cancelled" else DraftStatus.COMPLETE
            )
        except AssistantError as exc:
            status, error = DraftStatus.ERROR, str(exc)
            raise
        except Exception as exc:
            status, error = DraftStatus.ERROR, f"The model failed: {exc}"
            raise ModelError(error) from exc
        finally:
            # Runs on success, cancel, error, and when the consumer stops
            # iterating (GeneratorExit, KeyboardInterrupt): the text is kept.
            text = "".join(parts)
            if status == DraftStatus.COMPLETE:
                text = text.rstrip() + "\n"
            fields: dict[str, object] = {
                "content": text,
                "status": status,
                "error": error,
                "words": words,
                "sections_done": sections_done,
            }
            if done is not None:
                fields.update(
                    prompt_tokens=before_tokens[0] + done.prompt_tokens,
                    completion_tokens=before_tokens[1] + done.completion_tokens,
                    generation_ms=before_ms + done.generation_ms,
                    # stored and shown as the one word for a piece that was stopped
                    finish_reason=(
                        "stopped" if done.finish_reason == "cancelled" else done.finish_reason
                    ),
                )
            self.drafts.update(draft_id, **fields)
        yield DraftDone(self.drafts.get(draft_id), done)
