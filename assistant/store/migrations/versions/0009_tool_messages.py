"""Tool calls and their results as messages, and a conversation's tools.

A reply that asks for tools keeps its calls (``messages.tool_calls``, a JSON
list of ``{"id", "name", "arguments"}``); each result is a message of role
``tool`` under it holding the call it answers (``messages.tool_call``).
A conversation remembers which tools its replies may call
(``conversations.tools``: null off, ``["*"]`` all, or names) and which the
user allowed for it (``conversations.tools_allowed``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("tool_calls", sa.JSON, nullable=True))
    op.add_column("messages", sa.Column("tool_call", sa.JSON, nullable=True))
    op.add_column("conversations", sa.Column("tools", sa.JSON, nullable=True))
    op.add_column("conversations", sa.Column("tools_allowed", sa.JSON, nullable=True))


def downgrade() -> None:
    # in place (SQLite >= 3.35): a batch copy would drop tables other rows refer to
    for table, column in (
        ("conversations", "tools_allowed"),
        ("conversations", "tools"),
        ("messages", "tool_call"),
        ("messages", "tool_calls"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
