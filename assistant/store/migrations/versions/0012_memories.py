"""Memories: short statements about the user, their keyword index, the
per-conversation memory switch, and the memories each reply was given.

``memories_fts`` holds the words the app prepares (segmented and stemmed as
the notes' keyword index does), written by the app; a trigger removes a
memory's entry when its row goes, so no path leaves its words behind.
``vector`` is the memory's embedding (float32 bytes) by ``vector_model``,
filled when selection first needs it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "memories",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uid", sa.String(200), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column(
            "conversation_id",
            sa.Integer,
            sa.ForeignKey("conversations.id", ondelete="SET NULL"),
        ),
        sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id", ondelete="SET NULL")),
        sa.Column("lang", sa.String(8)),
        sa.Column("vector", sa.LargeBinary),
        sa.Column("vector_model", sa.String(300)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("last_used_at", sa.DateTime),
    )
    op.create_index("ix_memories_uid", "memories", ["uid"], unique=True)
    op.create_index("ix_memories_conversation_id", "memories", ["conversation_id"])
    op.create_index("ix_memories_message_id", "memories", ["message_id"])
    op.execute(
        "CREATE VIRTUAL TABLE memories_fts USING fts5("
        "terms, tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN "
        "DELETE FROM memories_fts WHERE rowid = old.id; END"
    )
    op.add_column(
        "conversations", sa.Column("memory", sa.String(10), nullable=False, server_default="on")
    )
    op.add_column("messages", sa.Column("memories", sa.JSON, nullable=True))


def downgrade() -> None:
    # in place (SQLite >= 3.35), as the other downgrades: a batch copy would
    # drop tables that others refer to, which foreign keys forbid
    op.execute("ALTER TABLE messages DROP COLUMN memories")
    op.execute("ALTER TABLE conversations DROP COLUMN memory")
    op.execute("DROP TRIGGER IF EXISTS memories_ad")
    op.execute("DROP TABLE IF EXISTS memories_fts")
    op.drop_index("ix_memories_message_id", "memories")
    op.drop_index("ix_memories_conversation_id", "memories")
    op.drop_index("ix_memories_uid", "memories")
    op.drop_table("memories")
