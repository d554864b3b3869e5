"""A damaged database is never silent: a quick check at start (only when the
file changed since the last good check) finds a scribbled page; reads go on
with one warning, writes are refused, `doctor` says it in one sentence."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.domain import Role
from assistant.errors import DatabaseDamaged, StoreError
from assistant.paths import app_paths
from assistant.store.database import CHECK_SUFFIX, Database
from assistant.store.repository import ConversationRepository
from tests.standins import corrupt_page


def seed(conversations: int = 60) -> Path:
    path = app_paths().database
    db = Database(path)
    repo = ConversationRepository(db)
    for i in range(conversations):
        c = repo.create_conversation(f"Conversation {i}")
        for j in range(6):
            role = Role.USER if j % 2 == 0 else Role.ASSISTANT
            repo.add_message(c.id, role, f"message {j} of {i} " + "lorem ipsum " * 60)
    db.close()
    return path


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        env={**os.environ, "ASSISTANT_HOME": str(home)},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def count_rows(path: Path) -> int:
    with sqlite3.connect(path) as con:
        return con.execute("SELECT count(*) FROM conversations").fetchone()[0]


def test_a_clean_database_is_checked_once_then_trusted(isolated_home):
    path = seed(3)
    stamp = path.with_name(path.name + CHECK_SUFFIX)
    assert stamp.is_file()  # the check passed and left the file's fingerprint
    db = Database(path)
    assert db.damage is None and db.writable
    db.close()


def test_reads_warn_once_about_a_damaged_page(isolated_home):
    path = seed()
    corrupt_page(path)
    result = cli(isolated_home, "history", "list")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Conversation") == 60  # what can be read is shown
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"assistant: warning: The database at {path} is damaged (On tree page")
    assert ".recover" in line and "move it aside" in line


def test_a_read_that_reaches_the_damaged_page_stops_with_a_short_sentence(isolated_home):
    path = seed()
    corrupt_page(path)
    # an export of everything reads every message, so it meets the damaged page
    result = cli(isolated_home, "history", "export", "--all", "-o", str(isolated_home / "all.json"))
    assert result.returncode == 2
    warning, error = result.stderr.splitlines()
    assert warning.startswith("assistant: warning: The database at") and ".recover" in warning
    assert error == (
        f"assistant: Could not read {path}: the file is damaged (database disk image is "
        "malformed); `assistant doctor` says what to do."
    )


def test_show_of_a_conversation_on_the_damaged_page_is_a_sentence(isolated_home):
    path = seed()
    corrupt_page(path)
    db = Database(path)
    repo = ConversationRepository(db)
    broken = []
    for conversation_id in range(1, 61):
        try:
            repo.get_conversation(conversation_id)
        except DatabaseDamaged:
            broken.append(conversation_id)
    db.close()
    assert broken and len(broken) < 60  # the damage is on some conversations' messages
    result = cli(isolated_home, "history", "show", str(broken[0]))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "sqlalche.me" not in result.stderr
    warning, error = result.stderr.splitlines()
    assert "warning: The database at" in warning and "Could not read" in error
    intact = next(i for i in range(1, 61) if i not in broken)
    result = cli(isolated_home, "history", "show", str(intact))
    assert result.returncode == 0 and f"of {intact - 1} lorem" in result.stdout


def test_ask_refuses_to_write_into_a_damaged_database(isolated_home, bundled_gguf):
    path = seed()
    corrupt_page(path)
    before = count_rows(path)
    result = cli(isolated_home, "ask", "--model", str(bundled_gguf), "--max-tokens", "4", "hi")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("assistant: warning: The database at")
    assert lines[1] == (
        f"assistant: Nothing was saved: the database at {path} is damaged "
        "(`assistant doctor` says what to do)."
    )
    assert count_rows(path) == before


def test_doctor_says_it_in_one_sentence(isolated_home):
    path = seed()
    corrupt_page(path)
    result = cli(isolated_home, "doctor")
    assert result.returncode == 1
    assert result.stderr == ""
    errors = [line for line in result.stdout.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].strip().startswith("error: The database at")
    assert "integrity: damaged" in result.stdout
    assert "Background on this error" not in result.stdout
    assert "*** in database" not in result.stdout


def test_an_unchanged_file_is_not_checked_again(isolated_home):
    """The check is skipped when inode, size and mtime match the last good
    check: scribbling with the old mtime put back goes unnoticed at open."""
    path = seed()
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    Database(path).close()  # checked: the stamp now holds this file's fingerprint
    corrupt_page(path, keep_mtime=True)
    db = Database(path)
    assert db.damage is None
    assert db.check(force=True) is not None  # it is there, found when forced
    db.close()


def test_a_file_that_is_not_a_database_is_one_sentence(isolated_home):
    path = app_paths().database
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database at all\n" * 200)
    with pytest.raises(StoreError) as err:
        db = Database(path)
        ConversationRepository(db).list_conversations()
    assert isinstance(err.value, DatabaseDamaged)
    assert str(err.value).startswith(f"Could not read {path}: the file is damaged (file is not")
    result = cli(isolated_home, "history", "list")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count(".recover") == 1  # what to do is said once
