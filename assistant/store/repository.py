"""The one door to the database for conversations and messages.

Every method opens its own short session and returns plain domain objects, so
callers in any thread (UI workers, the CLI) never hold ORM state. Reads run in
snapshot (deferred) sessions, so listing or opening a conversation never waits
while another process holds the write lock.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, text, update

from assistant.domain import Citation, Conversation, Message, MessageStatus, Role
from assistant.errors import NotFound
from assistant.store.database import Database
from assistant.store.tables import ConversationRow, MessageRow, utcnow

_MESSAGE_FIELDS = {
    "content",
    "status",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "tokens_per_second",
    "time_to_first_token_ms",
    "generation_ms",
    "finish_reason",
    "error",
    "citations",
}


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    conversation_title: str
    message_id: int
    role: str
    snippet: str
    created_at: datetime


def _message(row: MessageRow) -> Message:
    return Message(
        id=row.id,
        conversation_id=row.conversation_id,
        role=Role(row.role),
        content=row.content,
        status=MessageStatus(row.status),
        created_at=row.created_at,
        model=row.model,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        tokens_per_second=row.tokens_per_second,
        time_to_first_token_ms=row.time_to_first_token_ms,
        generation_ms=row.generation_ms,
        finish_reason=row.finish_reason,
        error=row.error,
        citations=[Citation.from_dict(c) for c in row.citations or [] if isinstance(c, dict)],
    )


def _conversation(row: ConversationRow, count: int = 0) -> Conversation:
    return Conversation(
        id=row.id,
        title=row.title,
        created_at=row.created_at,
        updated_at=row.updated_at,
        model=row.model,
        system_prompt=row.system_prompt,
        use_notes=bool(row.use_notes),
        persona=row.persona,
        engine=row.engine,
        message_count=count,
    )


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ConversationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # conversations -----------------------------------------------------
    def create_conversation(
        self,
        title: str = "New conversation",
        model: str | None = None,
        system_prompt: str | None = None,
    ) -> Conversation:
        with self.db.session() as s, s.begin():
            row = ConversationRow(title=title, model=model, system_prompt=system_prompt)
            s.add(row)
            s.flush()
            return _conversation(row)

    def list_conversations(self, limit: int | None = None) -> list[Conversation]:
        counts = (
            select(MessageRow.conversation_id, func.count(MessageRow.id).label("n"))
            .group_by(MessageRow.conversation_id)
            .subquery()
        )
        stmt = (
            select(ConversationRow, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.conversation_id == ConversationRow.id)
            .order_by(ConversationRow.updated_at.desc(), ConversationRow.id.desc())
        )
        if limit:
            stmt = stmt.limit(limit)
        with self.db.reader() as s:
            return [_conversation(row, n) for row, n in s.execute(stmt)]

    def get_conversation(self, conversation_id: int, *, messages: bool = True) -> Conversation:
        with self.db.reader() as s:
            row = s.get(ConversationRow, conversation_id)
            if row is None:
                raise NotFound(f"There is no conversation {conversation_id}.")
            conv = _conversation(row)
            if messages:
                conv.messages = [_message(m) for m in row.messages]
                conv.message_count = len(conv.messages)
            return conv

    def update_conversation(self, conversation_id: int, **fields: object) -> None:
        allowed = {"title", "model", "system_prompt", "persona", "engine"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"cannot update {sorted(bad)}")
        self._update(conversation_id, **fields, updated_at=utcnow())

    def set_use_notes(self, conversation_id: int, on: bool) -> None:
        """Remember the notes switch; not an edit, so the order of the list stays."""
        self._update(conversation_id, use_notes=on)

    def _update(self, conversation_id: int, **values: object) -> None:
        with self.db.session() as s, s.begin():
            result = cast(
                CursorResult[Any],
                s.execute(
                    update(ConversationRow)
                    .where(ConversationRow.id == conversation_id)
                    .values(**values)
                ),
            )
            if result.rowcount == 0:
                raise NotFound(f"There is no conversation {conversation_id}.")

    def rename(self, conversation_id: int, title: str) -> None:
        title = " ".join(title.split())[:200] or "Untitled"
        self.update_conversation(conversation_id, title=title)

    def delete_conversation(self, conversation_id: int) -> None:
        with self.db.session() as s, s.begin():
            result = cast(
                CursorResult[Any],
                s.execute(delete(ConversationRow).where(ConversationRow.id == conversation_id)),
            )
            if result.rowcount == 0:
                raise NotFound(f"There is no conversation {conversation_id}.")

    def touch(self, conversation_id: int) -> None:
        with self.db.session() as s, s.begin():
            s.execute(
                update(ConversationRow)
                .where(ConversationRow.id == conversation_id)
                .values(updated_at=utcnow())
            )

    # messages ----------------------------------------------------------
    def add_message(
        self,
        conversation_id: int,
        role: Role,
        content: str,
        status: MessageStatus = MessageStatus.COMPLETE,
        model: str | None = None,
    ) -> Message:
        with self.db.session() as s, s.begin():
            if s.get(ConversationRow, conversation_id) is None:
                raise NotFound(f"There is no conversation {conversation_id}.")
            row = MessageRow(
                conversation_id=conversation_id,
                role=str(role),
                content=content,
                status=str(status),
                model=model,
                owner_pid=os.getpid() if status == MessageStatus.STREAMING else None,
            )
            s.add(row)
            s.execute(
                update(ConversationRow)
                .where(ConversationRow.id == conversation_id)
                .values(updated_at=utcnow())
            )
            s.flush()
            return _message(row)

    def update_message(self, message_id: int, **fields: object) -> None:
        bad = set(fields) - _MESSAGE_FIELDS
        if bad:
            raise ValueError(f"cannot update {sorted(bad)}")
        values = {k: (str(v) if k == "status" else v) for k, v in fields.items()}
        citations = fields.get("citations")
        if isinstance(citations, list | tuple):
            values["citations"] = [c.to_dict() if isinstance(c, Citation) else c for c in citations]
        if "status" in values and values["status"] != MessageStatus.STREAMING:
            values["owner_pid"] = None
        with self.db.session() as s, s.begin():
            s.execute(
                update(MessageRow)
                .where(MessageRow.id == message_id)
                .values(**values, updated_at=utcnow())
            )

    def get_message(self, message_id: int) -> Message:
        with self.db.reader() as s:
            row = s.get(MessageRow, message_id)
            if row is None:
                raise NotFound(f"There is no message {message_id}.")
            return _message(row)

    def messages(self, conversation_id: int) -> list[Message]:
        with self.db.reader() as s:
            rows = s.scalars(
                select(MessageRow)
                .where(MessageRow.conversation_id == conversation_id)
                .order_by(MessageRow.id)
            )
            return [_message(r) for r in rows]

    def delete_messages(self, message_ids: Iterable[int]) -> None:
        ids = list(message_ids)
        if not ids:
            return
        with self.db.session() as s, s.begin():
            s.execute(delete(MessageRow).where(MessageRow.id.in_(ids)))

    def recover_interrupted(self) -> int:
        """Mark replies left ``streaming`` by a process that is gone as ``interrupted``."""
        with self.db.session() as s, s.begin():
            rows = s.execute(
                select(MessageRow.id, MessageRow.owner_pid).where(
                    MessageRow.status == str(MessageStatus.STREAMING)
                )
            ).all()
            dead = [mid for mid, pid in rows if not _pid_alive(pid)]
            if dead:
                s.execute(
                    update(MessageRow)
                    .where(MessageRow.id.in_(dead))
                    .values(status=str(MessageStatus.INTERRUPTED), owner_pid=None)
                )
            return len(dead)

    # search ------------------------------------------------------------
    def search(self, query: str, limit: int = 20) -> list[SearchHit]:
        """Full-text search over every message (porter-stemmed FTS5)."""
        terms = re.findall(r"\w+", query)
        if not terms:
            return []
        match = " ".join(f'"{t}"' for t in terms)
        sql = text(
            "SELECT m.conversation_id, c.title, m.id, m.role, "
            "snippet(messages_fts, 0, '[', ']', '…', 12), m.created_at "
            "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
            "JOIN conversations c ON c.id = m.conversation_id "
            "WHERE messages_fts MATCH :q ORDER BY bm25(messages_fts) LIMIT :n"
        )
        with self.db.reader() as s:
            rows = s.execute(sql, {"q": match, "n": limit}).all()
        return [
            SearchHit(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5] if isinstance(r[5], datetime) else datetime.fromisoformat(str(r[5])),
            )
            for r in rows
        ]

    def stats(self) -> dict[str, int]:
        with self.db.reader() as s:
            conversations = s.scalar(select(func.count(ConversationRow.id))) or 0
            messages = s.scalar(select(func.count(MessageRow.id))) or 0
        return {"conversations": conversations, "messages": messages}
