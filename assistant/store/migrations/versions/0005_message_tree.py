"""Messages as a tree, a stable uid per conversation, one word for a stopped reply.

Each message gets a parent and each conversation a current leaf; an existing
conversation becomes a single branch (every message's parent is the message
before it, the leaf its last message). Every conversation gets a uid, so an
exported conversation imported again is recognised. A reply that ended early
was "cancelled" (stopped by the user) or "interrupted" (the app closed): both
are now "stopped".

The full-text index is repaired: the two update triggers of 0001 ran in
reverse order of creation (SQLite's order), so updating a finished message
(its status, say) put its text in the index and then took it out again. One
trigger now does both in order, and the index is rebuilt once.

Columns are added with plain ALTER TABLE: a batch (copy and drop) of
``conversations`` would delete every message through the cascade, since the
foreign keys pragma cannot be switched off inside the migration's transaction.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


UPDATE_TRIGGER = (
    "CREATE TRIGGER messages_au AFTER UPDATE OF content, status ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) "
    "SELECT 'delete', old.id, old.content WHERE old.status != 'streaming'; "
    "INSERT INTO messages_fts(rowid, content) "
    "SELECT new.id, new.content WHERE new.status != 'streaming'; END"
)
OLD_TRIGGERS = (
    "CREATE TRIGGER messages_au_old AFTER UPDATE OF content, status ON messages "
    "WHEN old.status != 'streaming' BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) "
    "VALUES ('delete', old.id, old.content); END",
    "CREATE TRIGGER messages_au_new AFTER UPDATE OF content, status ON messages "
    "WHEN new.status != 'streaming' BEGIN "
    "INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END",
)


def upgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS messages_au_old")
    op.execute("DROP TRIGGER IF EXISTS messages_au_new")
    op.execute(UPDATE_TRIGGER)
    op.execute(
        "ALTER TABLE messages ADD COLUMN parent_id INTEGER "
        "REFERENCES messages (id) ON DELETE CASCADE"
    )
    op.create_index("ix_messages_parent_id", "messages", ["parent_id"])
    op.execute(
        "ALTER TABLE conversations ADD COLUMN current_leaf_id INTEGER "
        "REFERENCES messages (id) ON DELETE SET NULL"
    )
    op.execute("ALTER TABLE conversations ADD COLUMN uid VARCHAR(200)")
    # one branch per conversation: each message follows the one before it
    op.execute(
        "UPDATE messages SET parent_id = (SELECT MAX(p.id) FROM messages p "
        "WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id)"
    )
    op.execute(
        "UPDATE conversations SET current_leaf_id = "
        "(SELECT MAX(m.id) FROM messages m WHERE m.conversation_id = conversations.id), "
        "uid = lower(hex(randomblob(16)))"
    )
    op.create_index("ix_conversations_uid", "conversations", ["uid"], unique=True)
    op.execute(
        "UPDATE messages SET status = 'stopped' WHERE status IN ('cancelled', 'interrupted')"
    )
    op.execute("UPDATE messages SET finish_reason = 'stopped' WHERE finish_reason = 'cancelled'")
    # every finished message in the index once; a reply still being written is
    # indexed when it ends
    op.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
    op.execute(
        "INSERT INTO messages_fts(messages_fts, rowid, content) "
        "SELECT 'delete', id, content FROM messages WHERE status = 'streaming'"
    )


def downgrade() -> None:
    op.execute("UPDATE messages SET finish_reason = 'cancelled' WHERE finish_reason = 'stopped'")
    op.execute("UPDATE messages SET status = 'cancelled' WHERE status = 'stopped'")
    op.drop_index("ix_conversations_uid", "conversations")
    op.drop_index("ix_messages_parent_id", "messages")
    # SQLite >= 3.35 drops a column in place (no table copy, so no cascade)
    op.execute("ALTER TABLE conversations DROP COLUMN uid")
    op.execute("ALTER TABLE conversations DROP COLUMN current_leaf_id")
    op.execute("ALTER TABLE messages DROP COLUMN parent_id")
    op.execute("DROP TRIGGER IF EXISTS messages_au")
    for trigger in OLD_TRIGGERS:
        op.execute(trigger)
