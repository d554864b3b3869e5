"""History search finds Chinese words: the index keeps each message's words.

FTS5's ``unicode61`` tokenizer keeps a run of Han characters as one token,
so 钥匙 was never found in 备用钥匙在哪里. The index now gets each message with
its Chinese words set apart by the ``assistant_segment`` SQL function
(rjieba, as the notes use; registered on every connection the app opens),
and searches are cut the same way. Other text is indexed exactly as before
(porter-stemmed), and the text is still read from ``messages`` (not stored
twice). Snippets of Chinese messages are cut from the text by the
repository, since FTS5 would count their words differently.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TRIGGERS = ("messages_ai", "messages_ad", "messages_au")

# External content, as before (the text is not stored twice), but the index
# gets each message's words: the same function in every trigger, so what a
# 'delete' takes out is exactly what the insert put in. ('rebuild' would
# read messages.content unsegmented: it is never used on this index.)
NEW_INDEX = (
    "CREATE VIRTUAL TABLE messages_fts USING fts5("
    "content, content='messages', content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER messages_ai AFTER INSERT ON messages WHEN new.status != 'streaming' BEGIN "
    "INSERT INTO messages_fts(rowid, content) VALUES (new.id, assistant_segment(new.content)); "
    "END",
    "CREATE TRIGGER messages_ad AFTER DELETE ON messages WHEN old.status != 'streaming' BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) "
    "VALUES ('delete', old.id, assistant_segment(old.content)); END",
    "CREATE TRIGGER messages_au AFTER UPDATE OF content, status ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) "
    "SELECT 'delete', old.id, assistant_segment(old.content) WHERE old.status != 'streaming'; "
    "INSERT INTO messages_fts(rowid, content) "
    "SELECT new.id, assistant_segment(new.content) WHERE new.status != 'streaming'; END",
    "INSERT INTO messages_fts(rowid, content) "
    "SELECT id, assistant_segment(content) FROM messages WHERE status != 'streaming'",
)

# As 0005 left them: an external-content index over messages.content.
OLD_INDEX = (
    "CREATE VIRTUAL TABLE messages_fts USING fts5("
    "content, content='messages', content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER messages_ai AFTER INSERT ON messages "
    "WHEN new.status != 'streaming' BEGIN "
    "INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END",
    "CREATE TRIGGER messages_ad AFTER DELETE ON messages "
    "WHEN old.status != 'streaming' BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) "
    "VALUES ('delete', old.id, old.content); END",
    "CREATE TRIGGER messages_au AFTER UPDATE OF content, status ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) "
    "SELECT 'delete', old.id, old.content WHERE old.status != 'streaming'; "
    "INSERT INTO messages_fts(rowid, content) "
    "SELECT new.id, new.content WHERE new.status != 'streaming'; END",
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
    "INSERT INTO messages_fts(messages_fts, rowid, content) "
    "SELECT 'delete', id, content FROM messages WHERE status = 'streaming'",
)


def _drop() -> None:
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS messages_fts")


def upgrade() -> None:
    _drop()
    for statement in NEW_INDEX:
        op.execute(statement)


def downgrade() -> None:
    _drop()
    for statement in OLD_INDEX:
        op.execute(statement)
