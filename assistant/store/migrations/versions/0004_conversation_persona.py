"""Remember which persona a conversation uses, so it can be shown.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("persona", sa.String(64), nullable=True))


def downgrade() -> None:
    # in place (SQLite >= 3.35): a batch copy would drop the table that
    # messages refer to, which foreign keys forbid
    op.execute("ALTER TABLE conversations DROP COLUMN persona")
