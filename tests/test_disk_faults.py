"""Disk faults, for real: a read-only data folder and a full disk are small
tmpfs file systems mounted for the test (tests/standins.py; the sandbox and
CI run as root). Read-only commands keep working; a command that writes says
which path, what is wrong and what to do, in one sentence, exit code 2."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.domain import Role
from assistant.paths import app_paths
from assistant.store.database import Database
from assistant.store.repository import ConversationRepository
from tests.standins import BadServer, fill_disk, mounted_tmpfs, remount_read_only
from tests.writing.helpers import EchoModel

READ_COMMANDS = [
    (["history", "list"], "A lighthouse"),
    (["history", "show", "1"], "hello lighthouse"),
    (["history", "search", "lighthouse"], "[lighthouse]"),
    (["history", "export", "1", "--format", "json"], '"hi there"'),
    (["prompts", "list"], "proofread"),
    (["notes", "list"], "No notes folders yet"),
]


def seed(*, leave_wal: bool = False) -> Path:
    """One conversation; ``leave_wal`` ends the writer as the CLI does
    (os._exit: the -wal and -shm files stay)."""
    code = (
        "import os\n"
        "from assistant.paths import app_paths\n"
        "from assistant.store.database import Database\n"
        "from assistant.store.repository import ConversationRepository\n"
        "from assistant.domain import Role\n"
        "repo = ConversationRepository(Database(app_paths().database))\n"
        "c = repo.create_conversation('A lighthouse')\n"
        "repo.add_message(c.id, Role.USER, 'hello lighthouse')\n"
        "repo.add_message(c.id, Role.ASSISTANT, 'hi there')\n"
        + ("os._exit(0)\n" if leave_wal else "repo.db.close()\n")
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())
    return app_paths().database


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def messages(path: Path) -> int:
    con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        return con.execute("SELECT count(*) FROM messages").fetchone()[0]
    finally:
        con.close()


@pytest.fixture
def data_mount(isolated_home: Path):
    with mounted_tmpfs(isolated_home / "data", "16m") as folder:
        yield folder


# ----------------------------------------------------------- read-only data
@pytest.mark.parametrize("leave_wal", [False, True], ids=["closed", "wal-left"])
def test_read_only_data_folder_reads_work(data_mount: Path, leave_wal: bool):
    seed(leave_wal=leave_wal)
    remount_read_only(data_mount)
    for args, expected in READ_COMMANDS:
        result = cli(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert expected in result.stdout, (args, result.stdout)
        assert result.stderr == "", (args, result.stderr)


def test_read_only_data_folder_writes_say_where_and_what_to_do(data_mount: Path):
    path = seed()
    remount_read_only(data_mount)
    sentence = (
        f"assistant: Nothing can be saved: {data_mount} is read-only (a read-only file "
        "system); make it writable or set ASSISTANT_HOME to a writable folder.\n"
    )
    result = cli("history", "rename", "1", "New title")
    assert (result.returncode, result.stderr) == (2, sentence)
    with BadServer("ok") as server:
        result = cli("ask", "hello", ASSISTANT_BASE_URL=server.base_url)
        assert server.requests == 0  # refused before the model was asked
    assert (result.returncode, result.stderr) == (2, sentence)
    assert messages(path) == 2


def test_doctor_on_a_read_only_data_folder(data_mount: Path):
    seed()
    remount_read_only(data_mount)
    result = cli("doctor")
    assert result.returncode == 1 and result.stderr == ""
    (line,) = [line for line in result.stdout.splitlines() if "writable" in line]
    assert line.strip().startswith(f"writable: no: Nothing can be saved: {data_mount} is read-only")
    assert "integrity: ok" in result.stdout and "conversations: 1" in result.stdout


def test_a_read_only_data_folder_without_a_database(data_mount: Path):
    remount_read_only(data_mount)
    result = cli("history", "list")
    assert result.returncode == 2
    assert result.stderr == (
        f"assistant: Could not use {data_mount}: it is on a read-only file system; "
        "set ASSISTANT_HOME to a writable folder.\n"
    )


# ------------------------------------------------------------------ full disk
def test_full_disk_reads_work_and_writes_say_so(data_mount: Path):
    path = seed()
    fill_disk(data_mount)
    result = cli("history", "list")
    assert result.returncode == 0 and "A lighthouse" in result.stdout
    result = cli("history", "rename", "1", "New title")
    assert result.returncode == 2
    assert result.stderr == (
        f"assistant: Nothing can be saved: could not use {path}: the disk is full; "
        "free some space and try again.\n"
    )
    assert messages(path) == 2


def test_full_disk_under_an_open_write_ahead_log(data_mount: Path):
    """The usual state after a CLI run (-wal and -shm kept): SQLite itself
    reports the full disk, mid-write; the sentence names the database."""
    path = seed(leave_wal=True)
    fill_disk(data_mount)
    with BadServer("ok") as server:
        result = cli("ask", "hello " * 2000, ASSISTANT_BASE_URL=server.base_url)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"assistant: Could not use {path}: the disk is full; free some space and try again.\n"
    )
    assert "Traceback" not in result.stderr
    result = cli("history", "show", "1")
    assert result.returncode == 0 and "hi there" in result.stdout


def test_write_in_place_on_a_full_disk_leaves_the_file(isolated_home, monkeypatch, capsys):
    from assistant.cli import main

    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: EchoModel())
    with mounted_tmpfs(isolated_home / "docs", "1m") as docs:
        doc = docs / "letter.md"
        doc.write_text("teh letter.\n")
        fill_disk(docs)
        assert main(["write", "proofread", str(doc), "--in-place"]) == 2
        err = capsys.readouterr().err
        assert err == (
            f"assistant: Could not use {docs / 'letter.md.bak'}: the disk is full; free some "
            f"space and try again; {doc} was left unchanged.\n"
        )
        assert doc.read_text() == "teh letter.\n"
        assert sorted(p.name for p in docs.iterdir()) == ["filler", "letter.md"]


def test_export_to_a_full_disk_names_the_file(isolated_home, capsys):
    from assistant.cli import main

    repo = ConversationRepository(Database(app_paths().database))
    conversation = repo.create_conversation("Notes")
    repo.add_message(conversation.id, Role.USER, "x" * 200_000)
    with mounted_tmpfs(isolated_home / "out", "64k") as out:
        target = out / "notes.md"
        assert main(["history", "export", str(conversation.id), "-o", str(target)]) == 2
        assert capsys.readouterr().err == (
            f"assistant: Could not use {target}: the disk is full; free some space and try again.\n"
        )
        assert list(out.iterdir()) == []


# ------------------------------------------------------------------- config
@pytest.mark.parametrize("args", [["history", "list"], ["doctor"], ["prompts", "list"]])
def test_a_config_file_that_is_a_folder_is_a_sentence(isolated_home, args, capsys, monkeypatch):
    from assistant.cli import main

    folder = app_paths().config_file
    folder.mkdir(parents=True)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(args) == 2
    assert capsys.readouterr().err == (
        f"assistant: The settings file {folder} is a folder, not a file; move it aside (or put "
        "the settings in a TOML file of that name).\n"
    )
