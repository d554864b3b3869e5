"""Migrations 0002 (notes) and 0003 (the notes switch per conversation): blank
to head, 0001 with data to head with nothing lost, and the ORM rows match the
migrated schema."""

from __future__ import annotations

import hashlib
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


def test_upgrade_from_0004_keeps_notes_and_rebuilds_keywords(isolated_home, embedder):
    """0007 replaces the keyword index: chunk rows, files and conversations are
    kept, the old keyword entries are dropped, and the first sync rebuilds
    them with the new tokenizer (nothing is embedded again)."""
    from assistant.notes.service import NotesService

    path = app_paths().database
    path.parent.mkdir(parents=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine, "0004")
    now = datetime(2026, 1, 2, 3, 4, 5)
    folder = isolated_home / "notes"
    folder.mkdir()
    note = folder / "a.md"
    note.write_text("# Backups\n\nThe heron backups run on Sundays.\n")
    st = note.stat()
    digest = hashlib.sha256(note.read_bytes()).hexdigest()
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO conversations (id, title, created_at, updated_at, use_notes) "
            "VALUES (1, 'Kept', ?, ?, 1)",
            (now, now),
        )
        conn.exec_driver_sql(
            "INSERT INTO notes_collections (id, name, root, created_at, last_synced_at) "
            "VALUES (1, 'mine', ?, ?, ?)",
            (str(folder), now, now),
        )
        conn.exec_driver_sql(
            "INSERT INTO notes_files (id, collection_id, path, size, mtime_ns, content_hash, "
            "kind, chunk_count, indexed_at) VALUES (1, 1, 'a.md', ?, ?, ?, 'markdown', 1, ?)",
            (st.st_size, st.st_mtime_ns, digest, now),
        )
        conn.exec_driver_sql(
            "INSERT INTO notes_chunks (id, file_id, ordinal, start_line, end_line, heading, "
            "text, token_count) VALUES (7, 1, 0, 3, 3, 'Backups', "
            "'The heron backups run on Sundays.', 9)"
        )
        old_fts = conn.exec_driver_sql(
            "SELECT rowid FROM notes_fts WHERE notes_fts MATCH 'heron'"
        ).all()
    assert old_fts == [(7,)]  # the 0002 trigger indexed it
    engine.dispose()

    db = Database(path)
    assert current_revision(db.engine) == head_revision()
    con = sqlite3.connect(path)
    assert con.execute("SELECT id, heading, text, lang FROM notes_chunks").fetchall() == [
        (7, "Backups", "The heron backups run on Sundays.", None)
    ]
    assert con.execute("SELECT count(*) FROM notes_fts").fetchone() == (0,)
    assert con.execute("SELECT title, use_notes FROM conversations").fetchall() == [("Kept", 1)]
    con.close()

    notes = NotesService(db, app_paths(), embedder=embedder)
    assert notes.pending_work() == "the keyword index needs rebuilding"
    report = notes.sync()
    assert any(m.startswith("Rebuilding the keyword index of 1 passages") for m in report.messages)
    hit = notes.search("heron backup", k=1, mode="keyword")[0]
    assert hit.chunk_id == 7 and hit.lang == "en"  # the same row: nothing read again
    assert report.files_unchanged == 1
    db.close()


def test_chunk_delete_empties_its_keyword_entry(db):
    from assistant.notes.chunking import Chunk
    from assistant.notes.repository import NotesRepository

    repo = NotesRepository(db)
    coll = repo.add_collection("c", "/nowhere")
    repo.store_files(coll.id, [("a.md", 1, 1, "h", "markdown", [Chunk(1, 1, "", "otters", 1)])])
    repo.store_files(coll.id, [("a.md", 2, 2, "h2", "markdown", [Chunk(1, 1, "", "voles", 1)])])
    with db.reader() as s:
        from sqlalchemy import text

        assert s.execute(text("SELECT count(*) FROM notes_fts")).scalar() == 1
    assert repo.keyword_search("otters", 5) == []
    assert len(repo.keyword_search("voles", 5)) == 1
