"""Keyword index for every script: segmented text written by the app, passage
language, and a small key/value table (the keyword tokenizer version).

The old FTS5 table indexed the chunk text itself through triggers (porter,
unicode61), which cannot segment Chinese. The new one holds the text the app
prepares (segmented, stemmed per language) and is written by the app; only
deletion still follows the chunk rows through a trigger. The old keyword
entries are dropped here and rebuilt by the app on its next start, with a
message (vectors and chunk rows are kept).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notes_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    with op.batch_alter_table("notes_chunks") as batch:
        batch.add_column(sa.Column("lang", sa.String(8), nullable=True))
    op.execute("DROP TRIGGER IF EXISTS notes_chunks_au")
    op.execute("DROP TRIGGER IF EXISTS notes_chunks_ad")
    op.execute("DROP TRIGGER IF EXISTS notes_chunks_ai")
    op.execute("DROP TABLE IF EXISTS notes_fts")
    op.execute(
        "CREATE VIRTUAL TABLE notes_fts USING fts5("
        "heading, body, tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER notes_chunks_ad AFTER DELETE ON notes_chunks BEGIN "
        "DELETE FROM notes_fts WHERE rowid = old.id; END"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS notes_chunks_ad")
    op.execute("DROP TABLE IF EXISTS notes_fts")
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
    op.execute("INSERT INTO notes_fts(notes_fts) VALUES ('rebuild')")
    # in place (SQLite >= 3.35), as the other downgrades: no table copy
    op.execute("ALTER TABLE notes_chunks DROP COLUMN lang")
    op.drop_table("notes_meta")
