"""Drafts written by ``assistant compose``: text, outline and figures.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drafts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("variables", sa.JSON),
        sa.Column("outline", sa.JSON),
        sa.Column("target_words", sa.Integer, nullable=False),
        sa.Column("words", sa.Integer, nullable=False),
        sa.Column("sections_done", sa.Integer, nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("citations", sa.JSON),
        sa.Column("model", sa.String(500)),
        sa.Column("prompt_tokens", sa.Integer),
        sa.Column("completion_tokens", sa.Integer),
        sa.Column("generation_ms", sa.Float),
        sa.Column("finish_reason", sa.String(20)),
        sa.Column("error", sa.Text),
        sa.Column("owner_pid", sa.Integer),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_drafts_status", "drafts", ["status"])
    op.create_index("ix_drafts_updated_at", "drafts", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_drafts_updated_at", "drafts")
    op.drop_index("ix_drafts_status", "drafts")
    op.drop_table("drafts")
