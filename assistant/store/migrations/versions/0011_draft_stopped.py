"""One word for a piece that ended early: drafts say ``stopped`` too.

A draft stopped by the user was ``cancelled`` and one whose process died
``interrupted``; messages call both ``stopped`` since 0005. Drafts now do
the same (``assistant.domain.Status``), and so does their finish reason.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE drafts SET status = 'stopped' WHERE status IN ('cancelled', 'interrupted')")
    op.execute("UPDATE drafts SET finish_reason = 'stopped' WHERE finish_reason = 'cancelled'")


def downgrade() -> None:
    op.execute("UPDATE drafts SET finish_reason = 'cancelled' WHERE finish_reason = 'stopped'")
    op.execute("UPDATE drafts SET status = 'cancelled' WHERE status = 'stopped'")
