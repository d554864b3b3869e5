"""Migrations 0002 (notes) and 0003 (the notes switch per conversation): blank
to head, 0001 with data to head with nothing lost, and the ORM rows match the
migrated schema."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from sqlalchemy import inspect

from assistant.paths import app_paths
from assistant.store.database import Database, make_engine
from assistant.store.migrate import current_revision, head_revision, upgrade


def test_upgrade_from_0001_keeps_conversations(isolated_home):
    path = app_paths().database
    path.parent.mkdir(parents=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    now = datetime(2026, 1, 2, 3, 4, 5)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO conversations (id, title, created_at, updated_at) VALUES (1, 'Old', ?, ?)",
            (now, now),
        )
        for i, text in enumerate(["question one", "answer one with unique-word-zebra"], start=1):
            conn.exec_driver_sql(
                "INSERT INTO messages (id, conversation_id, role, content, status, created_at, "
                "updated_at, citations) VALUES (?, 1, ?, ?, 'complete', ?, ?, '[]')",
                (i, "user" if i == 1 else "assistant", text, now, now),
            )
    engine.dispose()

    db = Database(path)
    assert current_revision(db.engine) == head_revision()
    from assistant.store.repository import ConversationRepository

    repo = ConversationRepository(db)
    conv = repo.get_conversation(1)
    assert conv.title == "Old" and conv.use_notes is False  # 0003's default
    assert conv.persona is None  # 0004's default
    assert [m.content for m in conv.messages] == [
        "question one",
        "answer one with unique-word-zebra",
    ]
    assert [h.conversation_id for h in repo.search("zebra")] == [1]
    con = sqlite3.connect(path)
    tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    assert {"notes_collections", "notes_files", "notes_chunks", "notes_fts"} <= tables
    con.close()
    db.close()


def test_notes_orm_matches_migrated_schema(db):
    from assistant.notes.tables import ChunkRow, CollectionRow, NoteFileRow

    insp = inspect(db.engine)
    for row in (CollectionRow, NoteFileRow, ChunkRow):
        table = row.__table__
        assert table in table.metadata.sorted_tables
        migrated = {c["name"] for c in insp.get_columns(table.name)}
        assert migrated == {c.name for c in table.columns}, table.name


def test_fts_follows_chunk_rows(db):
    from assistant.notes.chunking import Chunk
    from assistant.notes.repository import NotesRepository

    repo = NotesRepository(db)
    coll = repo.add_collection("c", "/nowhere")
    ids, _ = repo.store_files(
        coll.id, [("a.md", 1, 1, "h", "markdown", [Chunk(1, 1, "Head", "walking herons", 3)])]
    )
    assert [cid for cid, _ in repo.keyword_search("heron walked", 5)] == ids
    repo.remove_collection("c")
    assert repo.keyword_search("heron", 5) == []
    assert repo.chunk_count() == 0
