"""Reads never wait for a writer (issue 17, item 2).

Another process holds a write transaction (``BEGIN IMMEDIATE``, as a long
``history import`` or a sync does) on a real connection; the read commands
(history list, show, search, export, notes list, doctor) answer through the real CLI.
Opening the database checks the schema, the integrity stamp and the leftover
``streaming`` replies without taking the write lock; the repairs that need it
wait for a database nobody is writing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.domain import MessageStatus, Role
from assistant.paths import app_paths
from assistant.store.database import CHECK_SUFFIX, Database
from assistant.store.repository import ConversationRepository

HOLDER = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0)
con.execute("BEGIN IMMEDIATE")
con.execute("UPDATE conversations SET title = title")
print("holding", flush=True)
sys.stdin.readline()
con.execute("ROLLBACK")
"""


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        env={**os.environ, "ASSISTANT_HOME": str(home)},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


@pytest.fixture
def seeded(isolated_home: Path) -> Path:
    db = Database(app_paths().database)
    repo = ConversationRepository(db)
    c = repo.create_conversation("Lighthouse keeping")
    repo.add_message(c.id, Role.USER, "When is the lamp lit?")
    repo.add_message(c.id, Role.ASSISTANT, "At dusk, every evening.")
    db.close()
    return app_paths().database


def hold_write_lock(path: Path) -> Iterator[subprocess.Popen[str]]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "holding"  # the lock is taken
    try:
        yield holder
    finally:
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=30)


@pytest.fixture
def writer(seeded: Path) -> Iterator[subprocess.Popen[str]]:
    yield from hold_write_lock(seeded)


def test_the_lock_is_really_held(seeded, writer):
    con = sqlite3.connect(seeded, timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        con.execute("BEGIN IMMEDIATE")
    con.close()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("history", "list"), "Lighthouse keeping"),
        (("history", "show", "1"), "At dusk, every evening."),
        (("history", "search", "lamp"), "Lighthouse keeping"),
        (("history", "export", "1", "--format", "md"), "When is the lamp lit?"),
        (("notes", "list"), ""),
        (("doctor",), "journal_mode: wal"),
    ],
)
def test_read_commands_answer_while_another_process_writes(
    isolated_home, seeded, writer, args, expected
):
    result = cli(isolated_home, *args)
    assert result.returncode == 0, result.stderr + result.stdout
    assert expected in result.stdout
    assert "locked" not in result.stderr + result.stdout


def test_the_integrity_check_reads_without_the_write_lock(isolated_home, seeded):
    """A file changed since its last check is checked again, still without
    the write lock; the new stamp is written beside it."""
    stamp = seeded.with_name(seeded.name + CHECK_SUFFIX)
    stamp.write_text("0 0 0\n")
    for _ in hold_write_lock(seeded):
        result = cli(isolated_home, "history", "list")
    assert result.returncode == 0, result.stderr
    assert "Lighthouse keeping" in result.stdout
    assert stamp.read_text().strip() != "0 0 0"


def test_a_leftover_streaming_reply_waits_for_a_free_database(isolated_home, seeded):
    """A reply left ``streaming`` by a dead process is marked ``stopped`` by
    the next command that can write; a read beside a writer shows it and
    leaves the repair for later."""
    from assistant.store.database import SEGMENT_FUNCTION, _segment

    with sqlite3.connect(seeded) as con:
        # the history index's triggers ask for the app's word splitter
        con.create_function(SEGMENT_FUNCTION, 1, _segment, deterministic=True)
        con.execute("UPDATE messages SET status = 'streaming', owner_pid = 999999999 WHERE id = 2")
    for _ in hold_write_lock(seeded):
        shown = cli(isolated_home, "history", "show", "1")
    assert shown.returncode == 0, shown.stderr
    assert "At dusk" in shown.stdout
    with sqlite3.connect(seeded) as con:
        assert con.execute("SELECT status FROM messages WHERE id = 2").fetchone()[0] == "streaming"
    again = cli(isolated_home, "history", "list")
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(seeded) as con:
        status = con.execute("SELECT status FROM messages WHERE id = 2").fetchone()[0]
    assert status == str(MessageStatus.STOPPED)


def test_an_old_schema_is_still_upgraded_on_open(isolated_home, seeded):
    """Only a database that needs it is written at open: one a revision
    behind is upgraded (and then read) as before."""
    from assistant.store.migrate import current_revision, head_revision, upgrade

    db = Database(seeded, migrate=False)
    with sqlite3.connect(seeded) as con:
        previous = con.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert previous == head_revision()
    from alembic import command

    from assistant.store.migrate import alembic_config

    command.downgrade(alembic_config(db.engine), "-1")
    assert current_revision(db.engine) != head_revision()
    assert upgrade(db.engine) is True
    assert current_revision(db.engine) == head_revision()
    db.close()
