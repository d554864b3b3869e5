from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from assistant.domain import MessageStatus, Role
from assistant.errors import NotFound
from assistant.paths import app_paths
from assistant.store.database import Database
from assistant.store.migrate import current_revision, head_revision
from assistant.store.repository import ConversationRepository


def test_blank_database_migrates_to_head(db):
    assert current_revision(db.engine) == head_revision()
    con = sqlite3.connect(db.path)
    tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    assert {"conversations", "messages", "alembic_version", "messages_fts"} <= tables
    assert con.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_pragmas_on_every_connection(db):
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("pragma foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("pragma busy_timeout").scalar() >= 5000
        assert conn.exec_driver_sql("pragma secure_delete").scalar() == 1


def test_files_private_whatever_the_umask(isolated_home):
    old = os.umask(0)
    try:
        d = Database(app_paths().database)
        repo = ConversationRepository(d)
        repo.create_conversation("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(d.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(d.path.parent.stat().st_mode) == 0o700
    for suffix in ("-wal", "-shm"):
        side = d.path.with_name(d.path.name + suffix)
        if side.exists():
            assert stat.S_IMODE(side.stat().st_mode) == 0o600
    d.close()


def test_conversation_crud(repo):
    c = repo.create_conversation("First", model="m", system_prompt="sys")
    repo.add_message(c.id, Role.USER, "hi")
    repo.add_message(c.id, Role.ASSISTANT, "hello")
    got = repo.get_conversation(c.id)
    assert got.title == "First" and got.system_prompt == "sys"
    assert [m.content for m in got.messages] == ["hi", "hello"]
    repo.rename(c.id, "  Renamed   title ")
    assert repo.get_conversation(c.id).title == "Renamed title"
    assert repo.list_conversations()[0].message_count == 2
    repo.delete_conversation(c.id)
    with pytest.raises(NotFound):
        repo.get_conversation(c.id)
    assert repo.stats() == {"conversations": 0, "messages": 0}


def test_notes_switch_is_stored_without_reordering(repo):
    first = repo.create_conversation("First")
    second = repo.create_conversation("Second")
    order = [c.id for c in repo.list_conversations()]
    assert not repo.get_conversation(first.id, messages=False).use_notes
    repo.set_use_notes(first.id, True)
    assert repo.get_conversation(first.id, messages=False).use_notes
    assert [c.id for c in repo.list_conversations()] == order  # not an edit
    assert {c.id: c.use_notes for c in repo.list_conversations()} == {
        first.id: True,
        second.id: False,
    }
    repo.set_use_notes(first.id, False)
    assert not repo.get_conversation(first.id, messages=False).use_notes
    with pytest.raises(NotFound):
        repo.set_use_notes(9999, True)


def test_delete_removes_text_from_database_file(repo, db):
    c = repo.create_conversation("secret")
    repo.add_message(c.id, Role.USER, "my-unique-secret-phrase-xyzzy")
    repo.delete_conversation(c.id)
    db.close()
    raw = sqlite3.connect(db.path)
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    data = db.path.read_bytes()
    wal = db.path.with_name(db.path.name + "-wal")
    if wal.exists():
        data += wal.read_bytes()
    assert b"xyzzy" not in data


def test_search_finds_messages_with_stemming(repo):
    c = repo.create_conversation("cooking")
    repo.add_message(c.id, Role.USER, "How do I bake sourdough bread?")
    c2 = repo.create_conversation("other")
    repo.add_message(c2.id, Role.USER, "Tell me about rockets")
    hits = repo.search("baking breads")
    assert [h.conversation_id for h in hits] == [c.id]
    assert hits[0].marked() == "How do I [bake] sourdough [bread]?"
    assert ("bread", True) in hits[0].pieces() and ("How do I ", False) in hits[0].pieces()
    assert repo.search("!!!") == []


def test_recover_interrupted_only_touches_dead_writers(repo, db):
    c = repo.create_conversation("x")
    mine = repo.add_message(c.id, Role.ASSISTANT, "live", MessageStatus.STREAMING)
    dead = repo.add_message(c.id, Role.ASSISTANT, "partial text", MessageStatus.STREAMING)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("update messages set owner_pid = 999999999 where id = ?", (dead.id,))
    assert repo.recover_interrupted() == 1
    assert repo.get_message(dead.id).status == MessageStatus.STOPPED
    assert repo.get_message(dead.id).content == "partial text"
    assert repo.get_message(mine.id).status == MessageStatus.STREAMING


def test_two_instances_write_concurrently_without_locking_errors(isolated_home):
    import threading

    path = app_paths().database
    a = ConversationRepository(Database(path))
    b = ConversationRepository(Database(path))
    errors: list[Exception] = []

    def writer(repo: ConversationRepository, tag: str) -> None:
        try:
            c = repo.create_conversation(tag)
            for i in range(40):
                m = repo.add_message(c.id, Role.USER, f"{tag} {i}")
                repo.update_message(m.id, content=f"{tag} {i} edited")
                repo.list_conversations()
        except Exception as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(r, t)) for r, t in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert a.stats()["messages"] == 80


def test_readers_do_not_wait_for_a_writer(db):
    """A search reads while a sync holds the write lock: a reader session sees
    the last committed state at once instead of waiting out the busy timeout."""
    import time

    from sqlalchemy import text

    writer = db.session()
    writer.execute(
        text(
            "INSERT INTO conversations (title, created_at, updated_at) "
            "VALUES ('pending', '2026-01-01', '2026-01-01')"
        )
    )  # BEGIN IMMEDIATE: the write lock is held until commit
    try:
        started = time.perf_counter()
        with db.reader() as reader:
            count = reader.execute(text("SELECT count(*) FROM conversations")).scalar()
        assert time.perf_counter() - started < 1.0
        assert count == 0  # the uncommitted row is not seen
    finally:
        writer.rollback()
        writer.close()


def test_orm_matches_migrated_schema(db):
    """The ORM classes and the migrations must describe the same columns."""
    from sqlalchemy import inspect

    from assistant.store.tables import Base

    insp = inspect(db.engine)
    for table in Base.metadata.sorted_tables:
        migrated = {c["name"] for c in insp.get_columns(table.name)}
        assert migrated == {c.name for c in table.columns}, table.name
