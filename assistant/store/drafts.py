"""The one door to the database for composed drafts.

Like the conversation repository, every method opens its own short session
and returns plain ``Draft`` objects; reads run in snapshot sessions, so the
drafts list never waits while a draft is being written by another process. A
draft being written carries the writer's pid, so a draft left ``writing`` by a
process that died is found and marked ``interrupted`` with its text kept.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update

from assistant.domain import Citation, Draft, DraftStatus, OutlineSection
from assistant.errors import NotFound
from assistant.store.database import Database
from assistant.store.repository import mark_orphans
from assistant.store.tables import DraftRow, utcnow

_FIELDS = frozenset(
    {
        "title",
        "status",
        "content",
        "outline",
        "target_words",
        "words",
        "sections_done",
        "source",
        "citations",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "generation_ms",
        "finish_reason",
        "error",
    }
)


def _outline(items: object) -> list[OutlineSection]:
    out: list[OutlineSection] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            words = item.get("words")
            out.append(
                OutlineSection(
                    title=str(item.get("title") or ""),
                    words=int(words) if isinstance(words, int | float) else 0,
                )
            )
    return out


def _draft(row: DraftRow) -> Draft:
    variables = row.variables if isinstance(row.variables, dict) else {}
    return Draft(
        id=row.id,
        kind=row.kind,
        title=row.title,
        status=DraftStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        content=row.content,
        variables={str(k): str(v) for k, v in variables.items()},
        outline=_outline(row.outline),
        target_words=row.target_words,
        words=row.words,
        sections_done=row.sections_done,
        source=row.source,
        citations=[Citation.from_dict(c) for c in row.citations or [] if isinstance(c, dict)],
        model=row.model,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        generation_ms=row.generation_ms,
        finish_reason=row.finish_reason,
        error=row.error,
    )


class DraftRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        kind: str,
        title: str,
        variables: Mapping[str, str],
        target_words: int,
        *,
        source: str | None = None,
        model: str | None = None,
    ) -> Draft:
        """A new draft, owned by this process until its outline is stored."""
        with self.db.session() as s, s.begin():
            row = DraftRow(
                kind=kind,
                title=" ".join(title.split())[:200] or "Draft",
                status=str(DraftStatus.WRITING),
                content="",
                variables=dict(variables),
                outline=[],
                target_words=target_words,
                words=0,
                sections_done=0,
                source=source,
                model=model,
                owner_pid=os.getpid(),
            )
            s.add(row)
            s.flush()
            return _draft(row)

    def update(self, draft_id: int, **fields: object) -> None:
        bad = set(fields) - _FIELDS
        if bad:
            raise ValueError(f"cannot update {sorted(bad)}")
        values: dict[str, Any] = dict(fields)
        if "status" in values:
            status = DraftStatus(str(values["status"]))
            values["status"] = str(status)
            values["owner_pid"] = os.getpid() if status == DraftStatus.WRITING else None
        if "outline" in values:
            sections = cast(Sequence[OutlineSection], values["outline"])
            values["outline"] = [{"title": s.title, "words": s.words} for s in sections]
        if "citations" in values:
            citations = cast(Sequence[Citation], values["citations"])
            values["citations"] = [c.to_dict() for c in citations]
        if "title" in values:
            values["title"] = " ".join(str(values["title"]).split())[:200] or "Draft"
        with self.db.session() as s, s.begin():
            result = cast(
                CursorResult[Any],
                s.execute(
                    update(DraftRow)
                    .where(DraftRow.id == draft_id)
                    .values(**values, updated_at=utcnow())
                ),
            )
            if result.rowcount == 0:
                raise NotFound(f"There is no draft {draft_id}.")

    def get(self, draft_id: int) -> Draft:
        with self.db.reader() as s:
            row = s.get(DraftRow, draft_id)
            if row is None:
                raise NotFound(f"There is no draft {draft_id}.")
            return _draft(row)

    def list_drafts(self, limit: int | None = None) -> list[Draft]:
        """Newest first. The text comes along: drafts are read to be shown."""
        stmt = select(DraftRow).order_by(DraftRow.updated_at.desc(), DraftRow.id.desc())
        if limit:
            stmt = stmt.limit(limit)
        with self.db.reader() as s:
            return [_draft(row) for row in s.scalars(stmt)]

    def delete(self, draft_id: int) -> None:
        with self.db.session() as s, s.begin():
            result = cast(
                CursorResult[Any], s.execute(delete(DraftRow).where(DraftRow.id == draft_id))
            )
            if result.rowcount == 0:
                raise NotFound(f"There is no draft {draft_id}.")

    def recover_interrupted(self) -> int:
        """Mark drafts left ``writing`` by a process that is gone as ``interrupted``."""
        return mark_orphans(
            self.db, DraftRow, str(DraftStatus.WRITING), str(DraftStatus.INTERRUPTED)
        )
