"""Issue 13's notes cases, each with a test that failed before its fix:

1. a file name that is not UTF-8 (or holds a new line or an escape);
2. a search while a sync embeds never writes the index (and 15: it answers at
   once from what is indexed so far), 0 orphaned or missing vectors after;
11. a 12 MB text file: progress while reading and chunking, Ctrl-C stops
    within a second, the summary says what was really stored;
12. repair and rebuild notices are said before the work.
(10, the zip bomb, is in test_formats.py.)

The process tests run the real ``assistant`` command, sharing the session's
ONNX export so that no test exports the embedding model again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assistant.cli import main
from tests.notes.conftest import write


@pytest.fixture
def cli_home(isolated_home: Path, embedder) -> Path:
    """ASSISTANT_HOME whose cache already holds the session's ONNX export."""
    target = isolated_home / "cache" / "embeddings"
    source = embedder._onnx_path(True).parent
    shutil.copytree(source, target / source.name)
    return isolated_home


def assistant(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "assistant", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=os.environ.copy(),
        **kwargs,
    )


def db_count(home: Path, sql: str) -> int:
    con = sqlite3.connect(home / "data" / "assistant.db", timeout=30)
    try:
        return int(con.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # the tables are not there yet
        return 0
    finally:
        con.close()


def saved_vector_ids(home: Path) -> set[int]:
    import faiss
    import numpy as np

    index_dir = home / "data" / "index"
    if not (index_dir / "manifest.json").exists():
        return set()
    manifest = json.loads((index_dir / "manifest.json").read_text())
    data = (index_dir / manifest["file"]).read_bytes()
    index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    return set(faiss.vector_to_array(index.id_map).tolist())


# --------------------------------------------------------------- item 1
@pytest.fixture
def shared_embedder(monkeypatch, embedder):
    from assistant.notes import service

    real_init = service.NotesService.__init__

    def init(self, *args, **kwargs):
        kwargs["embedder"] = embedder
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(service.NotesService, "__init__", init)


def test_file_names_that_are_not_utf8_or_hold_controls(folder, capsys, shared_embedder):
    """Before: `notes sync` died with a UnicodeEncodeError traceback and indexed
    nothing; a new line in a name split output lines."""
    write(folder, "good.md", "# Good\n\nThe quince jelly sets overnight.\n")
    fd = os.open(os.fsencode(folder) + b"/bad-\xff\xfe.md", os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, b"# Bad\n\nquince in a badly named file\n")
    os.close(fd)
    write(folder, "two\nlines.md", "# Split\n\nquince marmalade in a file with a new line\n")
    write(folder, "esc\x1b[31mred.md", "# Escape\n\nquince paste behind an escape\n")
    assert main(["notes", "add", str(folder), "--name", "mine"]) == 0
    assert main(["notes", "sync", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "3 added" in out and "1 skipped" in out

    assert main(["notes", "status"]) == 0
    out = capsys.readouterr().out
    assert "mine/bad-\\xff\\xfe.md: file name is not valid UTF-8" in out

    assert main(["notes", "search", "quince", "-k", "5"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    hits = [line for line in out.splitlines() if line[:3].strip().rstrip(".").isdigit()]
    assert len(hits) == 3  # one line per hit, whatever the names hold
    assert any("mine/two\\nlines.md:" in h for h in hits)
    assert any("mine/esc^[[31mred.md:" in h for h in hits)


# ------------------------------------------------------- items 2 and 15
def test_search_during_a_first_sync_answers_at_once_and_never_writes(cli_home, folder):
    """Before: the search repaired and saved the vector index under the sync
    ("Repairing the notes index: 512 passages had no vectors"), leaving
    missing and orphaned vectors, and waited ~60 s for the first sync."""
    # one passage of ~150 words each: enough embedding work that the sync is
    # still running when the search process has started and answered
    filler = " ".join(f"the marsh survey lists reed bed {k} and its water depth" for k in range(14))
    for i in range(900):
        body = f"Planted fact {i}: the heron count was {i}. {filler}."
        write(folder, f"n{i:04}.md", f"# Note {i}\n\n{body}\n")
    assert main(["notes", "add", str(folder), "--name", "big"]) == 0
    sync = assistant("notes", "sync")
    try:
        deadline = time.monotonic() + 120
        while db_count(cli_home, "SELECT count(*) FROM notes_chunks") < 50:
            assert sync.poll() is None and time.monotonic() < deadline, "the sync ended early"
            time.sleep(0.1)
        started = time.monotonic()
        search = assistant("notes", "search", "planted fact heron count", "-k", "3")
        out, err = (s.decode() for s in search.communicate(timeout=120))
        took = time.monotonic() - started
        sync_running = sync.poll() is None
    finally:
        sync_out, sync_err = sync.communicate(timeout=600)
    assert search.returncode == 0, err
    assert sync_running, "the search waited for the sync to finish"
    assert "Another process is syncing" in err
    assert "Repairing" not in err and "Rebuilding" not in err
    assert out.count("big/n") == 3  # hits from what was indexed so far
    print(f"search during the sync answered in {took:.1f}s")
    assert sync.returncode == 0, sync_err.decode()
    rows = db_count(cli_home, "SELECT count(*) FROM notes_chunks")
    ids = saved_vector_ids(cli_home)
    con = sqlite3.connect(cli_home / "data" / "assistant.db")
    chunk_ids = {r[0] for r in con.execute("SELECT id FROM notes_chunks")}
    con.close()
    assert rows == 900
    assert len(chunk_ids - ids) == 0, "passages without vectors"
    assert len(ids - chunk_ids) == 0, "orphaned vectors"


# --------------------------------------------------------------- item 11
def big_text(path: Path, megabytes: int) -> None:
    words = "the kiln log records every firing with its cone and its weather".split()
    line = " ".join(words) + "\n"
    with open(path, "w", encoding="utf-8") as fh:
        n = 0
        while n < megabytes * 1024 * 1024:
            fh.write(line)
            n += len(line)
            if n % 4000 < len(line):
                fh.write("\n")  # paragraphs


def wait_for(proc: subprocess.Popen, predicate, timeout: float) -> str:
    """Read ``proc``'s stderr until ``predicate(text so far)``; returns the text."""
    os.set_blocking(proc.stderr.fileno(), False)
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunk = proc.stderr.read()
        if chunk:
            seen += chunk.decode("utf-8", "replace")
            if predicate(seen):
                return seen
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"never saw it; stderr so far:\n{seen[-2000:]}")


def interrupt(proc: subprocess.Popen) -> tuple[float, str]:
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    return time.monotonic() - started, out.decode()


@pytest.mark.parametrize("stage", ["cutting", "keywords"])
def test_a_stop_while_a_big_file_is_read_stores_none_of_it(notes, folder, stage):
    """A stop while the file is cut into passages, or while its keyword terms
    are made, keeps none of it, and the report says so."""
    from assistant.notes.sync import CHUNKING_SHARE

    big_text(folder / "big.txt", 2)
    notes.add_collection(folder, "logs")
    cancel = threading.Event()
    seen: list[str] = []

    def progress(p) -> None:
        match = re.search(r"big\.txt (\d+)%", p.current)
        if match:
            seen.append(p.current)
            share = int(match.group(1)) / 100
            if (stage == "cutting" and 0 < share < CHUNKING_SHARE) or (
                stage == "keywords" and share > CHUNKING_SHARE
            ):
                cancel.set()

    report = notes.sync(progress=progress, cancel=cancel)
    assert cancel.is_set(), seen
    assert report.cancelled and report.files_added == 0 and report.chunks_stored == 0
    home = Path(os.environ["ASSISTANT_HOME"])
    assert db_count(home, "SELECT count(*) FROM notes_chunks") == 0


def test_big_file_shows_progress_stops_at_once_and_reports_what_was_stored(cli_home, folder):
    """Before: ~60 s of silent chunking, 16 s to stop, "1 added" with nothing stored."""
    from assistant.notes.sync import MAX_PASSAGES_PER_FILE

    big_text(folder / "big.txt", 12)
    assert main(["notes", "add", str(folder), "--name", "logs"]) == 0

    # Ctrl-C while the file is being read: it stops at once and the summary
    # says what was stored (nothing, unless the file's passages were already
    # being written when the signal came: then all of them, keyword-searchable).
    sync = assistant("notes", "sync")
    wait_for(sync, lambda s: "big.txt " in s and "%" in s, 120)  # progress inside the file
    took, out = interrupt(sync)
    assert sync.returncode == 130
    assert took < 1.5, f"took {took:.1f}s to stop"
    print(f"stopped while reading in {took:.2f}s")
    assert "Stopped 1 collection in" in out  # one collection, counted in words (issue 18)
    stored = db_count(cli_home, "SELECT count(*) FROM notes_chunks")
    read_before = "0 added" not in out
    if read_before:
        assert "1 added" in out and f"{stored} stored passages have no vectors yet" in out
        assert stored == MAX_PASSAGES_PER_FILE  # the 12 MB log is capped
    else:
        assert stored == 0

    # Ctrl-C while the passages are embedded: the file is stored and found by
    # keyword, the summary counts what has vectors and what has not.
    sync = assistant("notes", "sync")
    wait_for(sync, lambda s: re.search(r"logs: embedding [1-9]\d\d+/", s) is not None, 240)
    took, out = interrupt(sync)
    assert sync.returncode == 130
    assert took < 1.5, f"took {took:.1f}s to stop"
    print(f"stopped while embedding in {took:.2f}s")
    stored = db_count(cli_home, "SELECT count(*) FROM notes_chunks")
    assert stored == MAX_PASSAGES_PER_FILE  # the 12 MB log is capped
    assert ("0 added" if read_before else "1 added") in out and "have no vectors yet" in out
    without = int(out.split(" stored passages have no vectors yet")[0].split()[-1])
    vectors = len(saved_vector_ids(cli_home))
    assert vectors + without == stored and 0 < vectors < stored


# --------------------------------------------------------------- item 12
def test_rebuild_notice_is_printed_before_the_work(folder, capsys, shared_embedder):
    write(folder, "a.md", "# A\n\nThe otters returned to the mill race.\n")
    assert main(["notes", "add", str(folder), "--name", "mine"]) == 0
    assert main(["notes", "sync"]) == 0
    from assistant.paths import app_paths

    manifest = app_paths().index / "manifest.json"
    data = json.loads(manifest.read_text())
    (app_paths().index / data["file"]).write_bytes(b"garbage" * 50)
    capsys.readouterr()
    assert main(["notes", "sync"]) == 0
    err = capsys.readouterr().err.splitlines()
    rebuild = next(i for i, line in enumerate(err) if line.startswith("Rebuilding"))
    progress = [i for i, line in enumerate(err) if line.startswith("mine:")]
    assert progress and rebuild < progress[0], err
    assert sum(line.startswith("Rebuilding") for line in err) == 1  # said once
