"""Conversations and messages, with a full-text index over message text.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("model", sa.String(500)),
        sa.Column("system_prompt", sa.Text),
    )
    op.create_index("ix_conversations_updated_at", "conversations", ["updated_at"])
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "conversation_id",
            sa.Integer,
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("model", sa.String(500)),
        sa.Column("prompt_tokens", sa.Integer),
        sa.Column("completion_tokens", sa.Integer),
        sa.Column("tokens_per_second", sa.Float),
        sa.Column("time_to_first_token_ms", sa.Float),
        sa.Column("generation_ms", sa.Float),
        sa.Column("finish_reason", sa.String(20)),
        sa.Column("error", sa.Text),
        sa.Column("owner_pid", sa.Integer),
        sa.Column("citations", sa.JSON),
    )
    op.create_index("ix_messages_conversation_id", "messages", ["conversation_id"])
    op.create_index("ix_messages_status", "messages", ["status"])
    # Full-text search over conversations, kept in step by triggers so that a
    # deleted message leaves no text behind in the index. A reply is indexed
    # once it stops streaming: re-indexing a growing text on every flush would
    # put work on the token path for nothing.
    op.execute(
        "CREATE VIRTUAL TABLE messages_fts USING fts5("
        "content, content='messages', content_rowid='id', tokenize='porter unicode61')"
    )
    op.execute(
        "CREATE TRIGGER messages_ai AFTER INSERT ON messages "
        "WHEN new.status != 'streaming' BEGIN "
        "INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END"
    )
    op.execute(
        "CREATE TRIGGER messages_ad AFTER DELETE ON messages "
        "WHEN old.status != 'streaming' BEGIN "
        "INSERT INTO messages_fts(messages_fts, rowid, content) "
        "VALUES ('delete', old.id, old.content); END"
    )
    op.execute(
        "CREATE TRIGGER messages_au_old AFTER UPDATE OF content, status ON messages "
        "WHEN old.status != 'streaming' BEGIN "
        "INSERT INTO messages_fts(messages_fts, rowid, content) "
        "VALUES ('delete', old.id, old.content); END"
    )
    op.execute(
        "CREATE TRIGGER messages_au_new AFTER UPDATE OF content, status ON messages "
        "WHEN new.status != 'streaming' BEGIN "
        "INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS messages_au_new")
    op.execute("DROP TRIGGER IF EXISTS messages_au_old")
    op.execute("DROP TRIGGER IF EXISTS messages_ad")
    op.execute("DROP TRIGGER IF EXISTS messages_ai")
    op.execute("DROP TABLE IF EXISTS messages_fts")
    op.drop_table("messages")
    op.drop_table("conversations")
