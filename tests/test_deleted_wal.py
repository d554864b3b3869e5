"""Deleting ``assistant.db-wal`` and ``-shm`` while `ask` runs (issue 17,
item 6). Before: the whole conversation was lost, silently, exit 0: the
process went on writing into files that no longer had a name.

Now the next use of the database notices that the files behind the open
connection are not the ones at those names (their inodes). Alone with the
file, `ask` closes its connections, which checkpoints what it wrote into the
main file, opens it afresh and goes on: nothing is lost, the reply is shown
and stored, and one sentence says what happened (exit 2). With another
process holding the database open, that is not safe: the reply is still
shown, and kept in a Markdown file that the sentence names.

The deletion is real and lands at a known point: as soon as the question is
committed, `ask` is stopped (SIGSTOP), the two files are deleted, and it goes
on (SIGCONT)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.paths import app_paths
from assistant.store.database import Database
from assistant.store.repository import ConversationRepository
from tests.standins import BadServer
from tests.waits import wait_for_row

QUESTION = "Tell me about the lighthouse."
REPLY = "The lighthouse keeper lit the lamp."
WHEN = {  # the commit after which the files are deleted
    "after the question": f"SELECT 1 FROM messages WHERE content = '{QUESTION}'",
    "after the first words of the reply": (
        "SELECT 1 FROM messages WHERE role = 'assistant' AND content LIKE 'The %'"
    ),
}


def ask_and_delete(home: Path, server: BadServer, when: str) -> tuple[int, str, str]:
    database = home / "data" / "assistant.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "ask", QUESTION],
        env={**os.environ, "ASSISTANT_HOME": str(home), "ASSISTANT_BASE_URL": server.base_url},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_row(database, WHEN[when], proc)
        proc.send_signal(signal.SIGSTOP)
        for suffix in ("-wal", "-shm"):
            Path(f"{database}{suffix}").unlink()
    finally:
        proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out.decode(), err.decode()


def stored(home: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(home / "data" / "assistant.db") as con:
        return list(con.execute("SELECT role, status, content FROM messages ORDER BY id"))


@pytest.mark.parametrize("when", list(WHEN))
def test_deleted_journal_files_under_ask_are_noticed_and_nothing_is_lost(isolated_home, when):
    db = Database(app_paths().database)
    ConversationRepository(db).create_conversation("Before")  # an older, checkpointed one
    db.close()
    with BadServer("slow", 0.2) as server:
        code, out, err = ask_and_delete(isolated_home, server, when)
    assert REPLY in out, err  # what was shown...
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert "assistant.db-wal and assistant.db-shm were deleted" in lines[0]
    assert "was saved into the database when it reopened it" in lines[0]
    rows = stored(isolated_home)  # ...is in the database once `ask` has exited
    assert rows.count(("user", "complete", QUESTION)) == 1
    assert rows.count(("assistant", "complete", REPLY)) == 1
    with sqlite3.connect(isolated_home / "data" / "assistant.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        titles = [t for (t,) in con.execute("SELECT title FROM conversations ORDER BY id")]
    assert titles == ["Before", QUESTION]


HOLDER = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
con.execute("SELECT count(*) FROM conversations").fetchone()
print("open", flush=True)
sys.stdin.readline()
"""


def test_with_another_process_on_the_database_the_reply_is_kept_in_a_file(isolated_home):
    db = Database(app_paths().database)
    ConversationRepository(db).create_conversation("Before")
    db.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(app_paths().database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "open"
        with BadServer("slow", 0.2) as server:
            code, out, err = ask_and_delete(isolated_home, server, "after the question")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert REPLY in out, err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert "another process had it open too" in lines[0]
    kept = Path(lines[0].split(" are kept in ")[1].split("; close every assistant")[0])
    assert kept.parent == isolated_home / "data" / "recovered"
    text = kept.read_text()
    assert f"## You\n\n{QUESTION}" in text and f"## Assistant\n\n{REPLY}" in text
    with sqlite3.connect(isolated_home / "data" / "assistant.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
