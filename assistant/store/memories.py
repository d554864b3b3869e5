"""The one door to the database for memories.

A memory's words go into ``memories_fts`` as the caller prepares them (the
application layer segments and stems them as the notes' keyword index does);
this module only stores and queries. Deleting is meant to leave no trace: the
row goes (``secure_delete`` zeroes its bytes), a trigger removes its index
entry, and the index is then merged into one segment (FTS5 ``optimize``),
since a deleted FTS5 entry otherwise stays in older segments as a tombstone
next to the words it deletes. Editing a memory does the same for its old
words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, text, update
from sqlalchemy.orm import Session

from assistant.domain import Memory, MemorySource
from assistant.errors import NotFound
from assistant.store.database import Database
from assistant.store.tables import MemoryRow, new_uid, utcnow

_IN_SLICE = 500
KEYWORDS_KEY = "memories_keyword_tokenizer"  # in notes_meta: how memories_fts was written


@dataclass(frozen=True)
class NewMemory:
    """A memory to store: its text, the words to index it by and where it came from."""

    text: str
    terms: str
    lang: str | None
    source: MemorySource
    conversation_id: int | None = None
    message_id: int | None = None
    uid: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_used_at: datetime | None = None


# A memory to import, with the uid of the conversation it came from and the
# id its message had in the file (linked again when they are here).
ImportedMemory = tuple[NewMemory, str | None, int | None]


def _memory(row: MemoryRow) -> Memory:
    try:
        source = MemorySource(row.source)
    except ValueError:
        source = MemorySource.TYPED
    return Memory(
        id=row.id,
        uid=row.uid,
        text=row.text,
        source=source,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_used_at=row.last_used_at,
        conversation_id=row.conversation_id,
        message_id=row.message_id,
    )


def _purge(s: Session) -> None:
    """Merge the keyword index into one segment: entries of deleted or
    edited memories are dropped from the index pages, not just marked."""
    s.execute(text("INSERT INTO memories_fts(memories_fts) VALUES ('optimize')"))


class MemoryRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------ reading
    def get(self, memory_id: int) -> Memory:
        with self.db.reader() as s:
            row = s.get(MemoryRow, memory_id)
            if row is None:
                raise NotFound(f"There is no memory {memory_id}.")
            return _memory(row)

    def many(self, ids: Sequence[int]) -> dict[int, Memory]:
        found: dict[int, Memory] = {}
        with self.db.reader() as s:
            for start in range(0, len(ids), _IN_SLICE):
                part = list(ids[start : start + _IN_SLICE])
                for row in s.scalars(select(MemoryRow).where(MemoryRow.id.in_(part))):
                    found[row.id] = _memory(row)
        return found

    def by_uids(self, uids: Iterable[str]) -> dict[str, Memory]:
        wanted = list(dict.fromkeys(uids))
        found: dict[str, Memory] = {}
        with self.db.reader() as s:
            for start in range(0, len(wanted), _IN_SLICE):
                part = wanted[start : start + _IN_SLICE]
                for row in s.scalars(select(MemoryRow).where(MemoryRow.uid.in_(part))):
                    found[row.uid] = _memory(row)
        return found

    def list_memories(
        self, limit: int | None = None, *, newest_first: bool = False
    ) -> list[Memory]:
        order = MemoryRow.id.desc() if newest_first else MemoryRow.id
        stmt = select(MemoryRow).order_by(order)
        if limit:
            stmt = stmt.limit(limit)
        with self.db.reader() as s:
            return [_memory(r) for r in s.scalars(stmt)]

    def count(self) -> int:
        with self.db.reader() as s:
            return int(s.scalar(select(func.count(MemoryRow.id))) or 0)

    def texts(self) -> list[tuple[int, str]]:
        """(id, text) of every memory, oldest first."""
        with self.db.reader() as s:
            return [(int(i), t) for i, t in s.execute(select(MemoryRow.id, MemoryRow.text))]

    # ------------------------------------------------------------ writing
    def add(self, memory: NewMemory) -> Memory:
        with self.db.session() as s, s.begin():
            row = self._insert(s, memory)
            return _memory(row)

    @staticmethod
    def _insert(s: Session, memory: NewMemory) -> MemoryRow:
        now = utcnow()
        row = MemoryRow(
            uid=memory.uid or new_uid(),
            text=memory.text,
            source=str(memory.source),
            conversation_id=memory.conversation_id,
            message_id=memory.message_id,
            lang=memory.lang,
            created_at=memory.created_at or now,
            updated_at=memory.updated_at or memory.created_at or now,
            last_used_at=memory.last_used_at,
        )
        s.add(row)
        s.flush()
        s.execute(
            text("INSERT INTO memories_fts(rowid, terms) VALUES (:id, :terms)"),
            {"id": row.id, "terms": memory.terms},
        )
        return row

    def update(
        self,
        memory_id: int,
        text_: str,
        terms: str,
        lang: str | None,
        *,
        source: MemorySource | None = None,
        conversation_id: int | None = None,
        message_id: int | None = None,
    ) -> Memory:
        """New text for a memory (its vector is made again when needed); with
        ``source``, also where the new text came from."""
        with self.db.session() as s, s.begin():
            row = s.get(MemoryRow, memory_id)
            if row is None:
                raise NotFound(f"There is no memory {memory_id}.")
            row.text = text_
            row.lang = lang
            row.vector = None
            row.vector_model = None
            row.updated_at = utcnow()
            if source is not None:
                row.source = str(source)
                row.conversation_id = conversation_id
                row.message_id = message_id
            s.execute(text("DELETE FROM memories_fts WHERE rowid = :id"), {"id": memory_id})
            s.execute(
                text("INSERT INTO memories_fts(rowid, terms) VALUES (:id, :terms)"),
                {"id": memory_id, "terms": terms},
            )
            _purge(s)
            s.flush()
            return _memory(row)

    def delete(self, ids: Sequence[int]) -> int:
        """Delete memories with their index entries; returns how many went."""
        if not ids:
            return 0
        gone = 0
        with self.db.session() as s, s.begin():
            for start in range(0, len(ids), _IN_SLICE):
                part = list(ids[start : start + _IN_SLICE])
                result = cast(
                    CursorResult[Any], s.execute(delete(MemoryRow).where(MemoryRow.id.in_(part)))
                )
                gone += result.rowcount
            if gone:
                _purge(s)
        return gone

    def mark_used(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self.db.session() as s, s.begin():
            s.execute(
                update(MemoryRow).where(MemoryRow.id.in_(list(ids))).values(last_used_at=utcnow())
            )

    def import_memories(self, memories: Sequence[NewMemory]) -> tuple[int, int]:
        """Store memories in one transaction; one whose uid is here already
        is skipped. Returns (added, skipped)."""
        with self.db.session() as s, s.begin():
            return self.insert_new(s, memories)

    def import_linked(self, memories: Sequence[ImportedMemory]) -> tuple[int, int]:
        """``import_memories``, each linked to its conversation when that is here."""
        with self.db.session() as s, s.begin():
            return self.insert_linked(s, memories, {})

    @classmethod
    def insert_linked(
        cls,
        s: Session,
        memories: Sequence[ImportedMemory],
        message_ids: dict[tuple[str, int], int],
    ) -> tuple[int, int]:
        """Insert in the caller's transaction, linking each memory to the
        conversation of its uid when it is here, and to its message when
        ``message_ids`` knows where (conversation uid, id in the file) went."""
        from dataclasses import replace

        from assistant.store.tables import ConversationRow

        wanted = sorted({uid for _, uid, _ in memories if uid})
        here: dict[str, int] = {}
        for start in range(0, len(wanted), _IN_SLICE):
            part = wanted[start : start + _IN_SLICE]
            rows = s.execute(
                select(ConversationRow.id, ConversationRow.uid).where(ConversationRow.uid.in_(part))
            )
            here.update((uid, cid) for cid, uid in rows if uid)
        linked = [
            replace(
                memory,
                conversation_id=here.get(uid) if uid else None,
                message_id=(
                    message_ids.get((uid, message)) if uid and message is not None else None
                ),
            )
            for memory, uid, message in memories
        ]
        return cls.insert_new(s, linked)

    @classmethod
    def insert_new(cls, s: Session, memories: Sequence[NewMemory]) -> tuple[int, int]:
        """Insert in the caller's transaction the memories whose uid is not
        here yet: (added, skipped)."""
        added = skipped = 0
        uids = [m.uid for m in memories if m.uid]
        known: set[str] = set()
        for start in range(0, len(uids), _IN_SLICE):
            part = uids[start : start + _IN_SLICE]
            known.update(s.scalars(select(MemoryRow.uid).where(MemoryRow.uid.in_(part))))
        for memory in memories:
            if memory.uid and memory.uid in known:
                skipped += 1
                continue
            row = cls._insert(s, memory)
            known.add(row.uid)
            added += 1
        return added, skipped

    # ------------------------------------------------------------- search
    def keyword_search(self, match: str, limit: int) -> list[tuple[int, float]]:
        """BM25 over the memories' words for an FTS5 ``match`` expression:
        (memory id, score), best first (higher is better)."""
        sql = text(
            "SELECT rowid, bm25(memories_fts) AS score FROM memories_fts "
            "WHERE memories_fts MATCH :q ORDER BY score LIMIT :n"
        )
        with self.db.reader() as s:
            rows = s.execute(sql, {"q": match, "n": limit}).all()
        return [(int(r[0]), -float(r[1])) for r in rows]

    def vectors(self, model: str) -> tuple[list[int], list[bytes]]:
        """Ids and embeddings (float32 bytes) of the memories embedded by ``model``."""
        stmt = select(MemoryRow.id, MemoryRow.vector).where(
            MemoryRow.vector_model == model, MemoryRow.vector.is_not(None)
        )
        with self.db.reader() as s:
            rows = s.execute(stmt).all()
        kept = [(int(r[0]), bytes(r[1])) for r in rows if r[1] is not None]
        return [i for i, _ in kept], [b for _, b in kept]

    def without_vectors(self, model: str, limit: int) -> list[tuple[int, str]]:
        """(id, text) of memories not yet embedded by ``model``, oldest first."""
        stmt = (
            select(MemoryRow.id, MemoryRow.text)
            .where((MemoryRow.vector_model != model) | MemoryRow.vector_model.is_(None))
            .order_by(MemoryRow.id)
            .limit(limit)
        )
        with self.db.reader() as s:
            return [(int(i), t) for i, t in s.execute(stmt)]

    def set_vectors(
        self, model: str, items: Sequence[tuple[int, bytes]], texts: dict[int, str]
    ) -> None:
        """Store embeddings; one whose memory was edited or deleted meanwhile
        (its text is no longer ``texts[id]``) is dropped."""
        if not items:
            return
        with self.db.session() as s, s.begin():
            for memory_id, vector in items:
                s.execute(
                    update(MemoryRow)
                    .where(MemoryRow.id == memory_id, MemoryRow.text == texts[memory_id])
                    .values(vector=vector, vector_model=model)
                )

    # ---------------------------------------------------- keyword upkeep
    def keyword_version(self) -> str | None:
        with self.db.reader() as s:
            value = s.execute(
                text("SELECT value FROM notes_meta WHERE key = :k"), {"k": KEYWORDS_KEY}
            ).scalar()
        return str(value) if value is not None else None

    def langs(self) -> list[tuple[int, str, str | None]]:
        with self.db.reader() as s:
            return [
                (int(i), t, lang)
                for i, t, lang in s.execute(select(MemoryRow.id, MemoryRow.text, MemoryRow.lang))
            ]

    def reindex_keywords(self, entries: Sequence[tuple[int, str]], version: str) -> None:
        """Write the keyword index again from (id, terms), and record how."""
        with self.db.session() as s, s.begin():
            s.execute(text("DELETE FROM memories_fts"))
            for memory_id, terms in entries:
                s.execute(
                    text("INSERT INTO memories_fts(rowid, terms) VALUES (:id, :terms)"),
                    {"id": memory_id, "terms": terms},
                )
            _purge(s)
            s.execute(
                text(
                    "INSERT INTO notes_meta(key, value) VALUES (:k, :v) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value"
                ),
                {"k": KEYWORDS_KEY, "v": version},
            )
