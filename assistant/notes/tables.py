"""ORM rows for the notes index: collections, files and chunks.

The schema is owned by migration 0002; these classes describe it at head and
subclass the app's ``Base`` so Alembic and the schema test see them. The FTS5
table ``notes_fts`` (BM25 over the text ``assistant.notes.keywords`` prepares:
segmented, stemmed per language) is written by the repository beside each
chunk row and emptied by a delete trigger, so it has no ORM class.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from assistant.store.tables import Base, utcnow


class CollectionRow(Base):
    __tablename__ = "notes_collections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    root: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_synced_at: Mapped[datetime | None] = mapped_column()


class NoteFileRow(Base):
    __tablename__ = "notes_files"
    __table_args__ = (UniqueConstraint("collection_id", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("notes_collections.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(Text)  # relative to the collection root, with '/'
    size: Mapped[int] = mapped_column(Integer)
    mtime_ns: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    kind: Mapped[str | None] = mapped_column(String(20))
    skip_reason: Mapped[str | None] = mapped_column(Text)  # set when the file is not indexed
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    indexed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChunkRow(Base):
    __tablename__ = "notes_chunks"
    # AUTOINCREMENT: a chunk id is never reused, so a vector saved before a
    # crash can never be mistaken for a newer chunk's.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # also the FAISS vector id
    file_id: Mapped[int] = mapped_column(
        ForeignKey("notes_files.id", ondelete="CASCADE"), index=True
    )
    ordinal: Mapped[int] = mapped_column(Integer)
    start_line: Mapped[int] = mapped_column(Integer)
    end_line: Mapped[int] = mapped_column(Integer)
    page: Mapped[int | None] = mapped_column(Integer)
    heading: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer)
    lang: Mapped[str | None] = mapped_column(String(8))  # ISO 639-1, "und" when unsure


class NotesMetaRow(Base):
    """Facts about the notes index as a whole (the keyword tokenizer's version)."""

    __tablename__ = "notes_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
