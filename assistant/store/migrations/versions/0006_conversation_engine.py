"""Remember which named engine a conversation talks to ([engines.NAME]).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("engine", sa.String(64), nullable=True))


def downgrade() -> None:
    # in place (SQLite >= 3.35): a batch copy would drop the table that
    # messages refer to, which foreign keys forbid
    op.execute("ALTER TABLE conversations DROP COLUMN engine")
