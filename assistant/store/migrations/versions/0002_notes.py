"""Notes index: collections, files, chunks and a full-text index over chunks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notes_collections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("root", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_synced_at", sa.DateTime),
    )
    op.create_table(
        "notes_files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "collection_id",
            sa.Integer,
            sa.ForeignKey("notes_collections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("mtime_ns", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("kind", sa.String(20)),
        sa.Column("skip_reason", sa.Text),
        sa.Column("chunk_count", sa.Integer, nullable=False),
        sa.Column("indexed_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("collection_id", "path"),
    )
    op.create_index("ix_notes_files_collection_id", "notes_files", ["collection_id"])
    op.create_index("ix_notes_files_content_hash", "notes_files", ["content_hash"])
    op.create_table(
        "notes_chunks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "file_id",
            sa.Integer,
            sa.ForeignKey("notes_files.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("start_line", sa.Integer, nullable=False),
        sa.Column("end_line", sa.Integer, nullable=False),
        sa.Column("page", sa.Integer),
        sa.Column("heading", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("token_count", sa.Integer, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_notes_chunks_file_id", "notes_chunks", ["file_id"])
    # BM25 over heading and text with porter stemming; external content so the
    # text is stored once, and triggers so a purged chunk leaves nothing behind.
    op.execute(
        "CREATE VIRTUAL TABLE notes_fts USING fts5("
        "heading, text, content='notes_chunks', content_rowid='id', "
        "tokenize='porter unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER notes_chunks_ai AFTER INSERT ON notes_chunks BEGIN "
        "INSERT INTO notes_fts(rowid, heading, text) VALUES (new.id, new.heading, new.text); END"
    )
    op.execute(
        "CREATE TRIGGER notes_chunks_ad AFTER DELETE ON notes_chunks BEGIN "
        "INSERT INTO notes_fts(notes_fts, rowid, heading, text) "
        "VALUES ('delete', old.id, old.heading, old.text); END"
    )
    op.execute(
        "CREATE TRIGGER notes_chunks_au AFTER UPDATE OF heading, text ON notes_chunks BEGIN "
        "INSERT INTO notes_fts(notes_fts, rowid, heading, text) "
        "VALUES ('delete', old.id, old.heading, old.text); "
        "INSERT INTO notes_fts(rowid, heading, text) VALUES (new.id, new.heading, new.text); END"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS notes_chunks_au")
    op.execute("DROP TRIGGER IF EXISTS notes_chunks_ad")
    op.execute("DROP TRIGGER IF EXISTS notes_chunks_ai")
    op.execute("DROP TABLE IF EXISTS notes_fts")
    op.drop_table("notes_chunks")
    op.drop_table("notes_files")
    op.drop_table("notes_collections")
