"""Reliability figures, measured for real on the real command line.

Every area prints one line, ``AREA: N tried, M held`` and the details, so the
figures compare run to run. The faults are real: SIGKILL and SIGINT sent to
``assistant`` processes, misbehaving servers and file servers on loopback
(``tests/standins.py``), pages of the database scribbled over, a zip bomb, file
names no file system should hold but Linux does.

- kills during ask / notes sync / write --in-place: SIGKILL at a random
  moment; afterwards the database passes integrity_check, nothing shown was
  lost, the notes index is whole (and whole again after the next sync), the
  file written in place is either the original or the complete result;
- concurrent notes sync + search: searches run while a first sync embeds;
  after both exit, the saved vectors must match the passages (orphaned or
  missing vectors: aim 0);
- bad file names: invalid UTF-8, newlines, escapes, bells, C1 controls in
  note names: the sync goes on, each file is indexed or skipped with a
  reason, and no control byte reaches the terminal;
- bad servers: a web page, binary data, silence, a stall, a cut connection, a
  stream without its end, an error status, a full accept queue; Ctrl-C during
  a stall: one sentence, the right exit code, the reply stored with the right
  status, in bounded time;
- truncated downloads: a GGUF cut at 1 MB, the 4 bytes ``GGUF``, a transfer
  cut mid-body, a chunked body that ends early; and the whole file (accepted);
- corrupted database: a scribbled page (messages, conversations, the search
  index), a garbage header, a file cut in half: reads warn or fail with a
  sentence, nothing is written, ``doctor`` says it, never a traceback; and
  what the start-up check costs;
- memory peak of a notes sync over a zip-bomb .docx (aim < 200 MB);
- escape payloads and over-long prompts (as before).

Run: ``python -m bench.reliability [RUNS]`` (RUNS kills per area, default 10).
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import cpu_flags

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.standins import (  # noqa: E402 - the stand-ins live with the tests
    BadServer,
    FileServer,
    FullBacklogServer,
    corrupt_page,
)

WORDS = (
    "harbour lamp keeper storm ship night tide rope gull fog beacon stone island boat wind "
    "lantern shore cliff wave anchor"
).split()
TRACEBACK_MARKS = ("Traceback", "Background on this error", "sqlalche.me", "went wrong inside")


@dataclass
class Area:
    """Cases tried and cases that held in one area, with what went wrong."""

    name: str
    tried: int = 0
    held: int = 0
    failures: list[str] = field(default_factory=list)

    def case(self, ok: bool, label: str = "") -> bool:
        self.tried += 1
        self.held += ok
        if not ok and label:
            self.failures.append(label)
        return ok

    def report(self, details: str = "") -> None:
        line = f"{self.name}: {self.tried} tried, {self.held} held"
        if details:
            line += f"; {details}"
        if self.failures:
            line += f"; failed: {', '.join(self.failures[:8])}"
            if len(self.failures) > 8:
                line += f" (+{len(self.failures) - 8} more)"
        print(line, flush=True)


# ----------------------------------------------------------------- helpers
def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(ASSISTANT_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.update(extra)
    return env


def _cli(home: Path, *args: str, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [sys.executable, "-m", "assistant", *args],
            env=_env(home, **extra),
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(exc.cmd, -9, exc.stdout or b"", b"(timed out)")


def _popen(home: Path, *args: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "assistant", *args],
        env=_env(home, **extra),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _kill_at(proc: subprocess.Popen, delay: float) -> bool:
    """SIGKILL ``proc`` after ``delay`` seconds unless it ended first; True when killed."""
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    killed = proc.poll() is None
    if killed:
        proc.kill()
    proc.communicate()
    return killed


def _shows_a_traceback(*outputs: bytes | str) -> bool:
    text = "".join(o.decode("utf-8", "replace") if isinstance(o, bytes) else o for o in outputs)
    return any(mark in text for mark in TRACEBACK_MARKS)


def _integrity_ok(database: Path) -> bool:
    try:
        with sqlite3.connect(database) as con:
            return con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    except sqlite3.Error:
        return False


def _new_home(template: Path, prefix: str) -> Path:
    """A fresh ASSISTANT_HOME sharing the template's cache (the assembled
    bundled model and the exported embedding model), so no run pays for them."""
    home = Path(tempfile.mkdtemp(prefix=f"assistant-{prefix}-"))
    (home / "cache").symlink_to(template / "cache", target_is_directory=True)
    return home


def _write_notes(folder: Path, count: int, rng: random.Random, start: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        paragraphs = [" ".join(rng.choice(WORDS) for _ in range(50)) for _ in range(3)]
        (folder / f"note-{i:04}.md").write_text(f"# Note {i}\n\n" + "\n\n".join(paragraphs))


def _index_state(home: Path) -> tuple[int, int] | None:
    """(orphaned, missing): saved vectors without a passage, passages without a
    saved vector; None when the saved index cannot be loaded."""
    from assistant.notes.tables import ChunkRow
    from assistant.notes.vectors import MANIFEST, IndexNeedsRebuild, VectorIndex

    folder = home / "data" / "index"
    with sqlite3.connect(home / "data" / "assistant.db") as con:
        rows = {r[0] for r in con.execute(f"SELECT id FROM {ChunkRow.__tablename__}")}
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        index = VectorIndex.load(folder, manifest["model"], int(manifest["dimension"]))
    except (OSError, ValueError, KeyError, IndexNeedsRebuild):
        return None if rows else (0, 0)
    have = set(index.ids().tolist())
    return len(have - rows), len(rows - have)


def prepare_template() -> Path:
    """One home whose cache holds the assembled bundled model and the
    exported embedding model (one `doctor`, one small sync)."""
    home = Path(tempfile.mkdtemp(prefix="assistant-template-"))
    _cli(home, "doctor")
    notes = home / "warmup-notes"
    _write_notes(notes, 2, random.Random(0))
    _cli(home, "notes", "add", str(notes))
    _cli(home, "notes", "sync", "--quiet")
    return home


# --------------------------------------------------------------- kills
def kills_during_ask(template: Path, runs: int) -> None:
    area = Area("kills during ask")
    home = _new_home(template, "kill-ask")
    rng = random.Random(7)
    lost = integrity_failures = killed = 0
    for i in range(runs):
        question = f"Run {i}: tell me a long story about a lighthouse keeper."
        proc = _popen(home, "ask", "--max-tokens", "400", "--temperature", "1.0", question)
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        shown = b""
        deadline = time.monotonic() + rng.uniform(0.5, 4.0)
        while time.monotonic() < deadline and proc.poll() is None:
            shown += proc.stdout.read() or b""
            time.sleep(0.01)
        if proc.poll() is None:
            proc.kill()
            killed += 1
        proc.wait()
        shown += proc.stdout.read() or b""
        database = home / "data" / "assistant.db"
        if not database.exists():  # killed before the database was made
            area.case(not shown.strip(), f"run {i}")
            continue
        ok = _integrity_ok(database)
        integrity_failures += not ok
        with sqlite3.connect(database) as db:
            try:
                row = db.execute(
                    "SELECT m.id FROM messages m WHERE m.role='user' AND m.content=?", (question,)
                ).fetchone()
            except sqlite3.OperationalError:  # killed before the tables were made
                row = None
            text = shown.decode("utf-8", "replace").strip()
            kept = True
            if row is None:
                kept = not text  # nothing was shown, nothing promised
            else:
                reply = db.execute(
                    "SELECT content FROM messages WHERE id > ? AND role='assistant' "
                    "ORDER BY id LIMIT 1",
                    (row[0],),
                ).fetchone()
                if text and (reply is None or not reply[0].strip().startswith(text[:-1].strip())):
                    kept = False
        lost += not kept
        area.case(ok and kept, f"run {i}")
    area.report(
        f"{killed} SIGKILLed mid-run (the rest had finished); messages lost {lost}; "
        f"integrity_check failures {integrity_failures}"
    )


def kills_during_sync(template: Path, runs: int) -> None:
    area = Area("kills during notes sync")
    home = _new_home(template, "kill-sync")
    rng = random.Random(11)
    notes = home / "notes"
    _write_notes(notes, 60, rng)
    _cli(home, "notes", "add", str(notes))
    _cli(home, "notes", "sync", "--quiet")
    killed = integrity_failures = unloadable = follow_failures = 0
    orphaned = missing = 0
    next_id = 60
    for i in range(runs):
        files = sorted(notes.glob("*.md"))
        for f in rng.sample(files, 20):  # changed
            f.write_text(f.read_text() + "\n\n" + " ".join(rng.choice(WORDS) for _ in range(40)))
        for f in rng.sample(files, 2):  # deleted
            f.unlink(missing_ok=True)
        _write_notes(notes, 2, rng, start=next_id)  # added
        next_id += 2
        proc = _popen(home, "notes", "sync", "--quiet")
        killed += _kill_at(proc, rng.uniform(0.5, 6.0))
        ok = _integrity_ok(home / "data" / "assistant.db")
        integrity_failures += not ok
        loadable = _index_state(home) is not None
        unloadable += not loadable
        follow = _cli(home, "notes", "sync", "--quiet")
        state = _index_state(home)
        follow_ok = follow.returncode == 0 and not _shows_a_traceback(follow.stderr)
        follow_failures += not follow_ok
        if state is not None:
            orphaned += state[0]
            missing += state[1]
        area.case(ok and follow_ok and state == (0, 0), f"run {i}")
    area.report(
        f"{killed} SIGKILLed mid-sync; integrity_check failures {integrity_failures}; "
        f"saved index unloadable after the kill {unloadable}; follow-up sync failures "
        f"{follow_failures}; orphaned/missing vectors after it {orphaned}/{missing}"
    )


PROOFREAD_TEXT = (
    "Teh lighthouse keeper climbed the stairs evry night.\n\n"
    "He lit the lamp and wached the ships pass in the dark.\n\n"
    "In the morning he wrote in his log wat he had seen.\n"
)


def kills_during_write(template: Path, runs: int) -> None:
    area = Area("kills during write --in-place")
    home = _new_home(template, "kill-write")
    rng = random.Random(13)
    args = ["--temperature", "0", "--seed", "1", "--max-tokens", "120"]
    reference = home / "reference.md"
    reference.write_text(PROOFREAD_TEXT)
    started = time.monotonic()
    ref = _cli(home, "write", "proofread", str(reference), "--in-place", *args)
    duration = time.monotonic() - started
    expected = reference.read_text()
    if ref.returncode != 0:
        area.case(False, f"reference run exit {ref.returncode}")
        area.report()
        return
    doc = home / "doc.md"
    killed = half = leftovers = 0
    for i in range(runs):
        for f in home.glob("*doc.md*"):
            f.unlink()
        doc.write_text(PROOFREAD_TEXT)
        proc = _popen(home, "write", "proofread", str(doc), "--in-place", *args)
        killed += _kill_at(proc, rng.uniform(0.2, duration * 1.2))
        now = doc.read_text()
        whole = now in (PROOFREAD_TEXT, expected)
        backup = home / "doc.md.bak"
        if now == expected and now != PROOFREAD_TEXT:
            whole = whole and backup.is_file() and backup.read_text() == PROOFREAD_TEXT
        half += not whole
        leftovers += len(list(home.glob(".doc.md*.tmp")))
        area.case(whole, f"run {i}")
    area.report(
        f"{killed} SIGKILLed mid-run; half-written files {half}; temporary files left by "
        f"the kills {leftovers} (the reference run took {duration:.1f} s)"
    )


def concurrent_sync_and_search(template: Path, runs: int = 2) -> None:
    area = Area("concurrent notes sync + search")
    rng = random.Random(17)
    orphaned = missing = searches = failed_searches = repairs = 0
    for i in range(runs):
        home = _new_home(template, "sync-search")
        notes = home / "notes"
        _write_notes(notes, 40, rng)
        _cli(home, "notes", "add", str(notes))
        _cli(home, "notes", "sync", "--quiet")  # an index exists; then much more to embed
        _write_notes(notes, 320, rng, start=40)  # two groups of passages (512 each)
        sync = _popen(home, "notes", "sync", "--quiet")
        time.sleep(1.0)
        running: list[subprocess.Popen] = []
        finished: list[tuple[int, bytes]] = []
        while sync.poll() is None or running:
            for proc in [p for p in running if p.poll() is not None]:
                running.remove(proc)
                finished.append((proc.returncode, proc.communicate()[1]))
            if sync.poll() is None and len(running) < 2:  # two searches at a time
                running.append(_popen(home, "notes", "search", "storm keeper", "-k", "3"))
            time.sleep(0.5)
        for code, err in finished:
            searches += 1
            failed_searches += code != 0 or _shows_a_traceback(err)
            repairs += b"Repairing" in err or b"Rebuilding" in err
        _, sync_err = sync.communicate()
        state = _index_state(home)
        if state is not None:
            orphaned += state[0]
            missing += state[1]
        ok = sync.returncode == 0 and state == (0, 0) and not _shows_a_traceback(sync_err)
        area.case(ok, f"run {i} (sync exit {sync.returncode}, vectors {state})")
    area.report(
        f"{searches} searches during syncs ({failed_searches} failed, {repairs} said "
        f"they repaired or rebuilt the index); orphaned/missing vectors after both exit "
        f"{orphaned}/{missing} (aim 0)"
    )


# -------------------------------------------------------------- bad input
BAD_NAMES: list[tuple[str, bytes]] = [
    ("invalid UTF-8", b"bad-\xff\xfe.md"),
    ("newline", b"new\nline.md"),
    ("escape sequence", b"esc\x1b[31mred.md"),
    ("bell", b"bell\x07.md"),
    ("C1 CSI", "c1-\u009b31m.md".encode()),
    ("carriage return", b"over\rwrite.md"),
    ("tab", b"tab\tname.md"),
    ("accents", "caf\u00e9-na\u00efve.md".encode()),
    ("long name", b"x" * 240 + b".md"),
    ("leading dash", b"-dash.md"),
]


def _control_bytes(data: bytes) -> int:
    text = data.decode("utf-8", "replace")
    return sum(1 for ch in text if (ord(ch) < 32 and ch not in "\n\t") or 0x7F <= ord(ch) <= 0x9F)


def bad_file_names(template: Path) -> None:
    area = Area("bad file names")
    home = _new_home(template, "names")
    notes = home / "notes"
    notes.mkdir()
    for i, (_, name) in enumerate(BAD_NAMES):
        path = os.path.join(os.fsencode(notes), name)
        with open(path, "wb") as fh:
            fh.write(f"# Odd name {i}\n\nThe word zebra{i} lives only in this file.\n".encode())
    (notes / "plain.md").write_text("# Plain\n\nThe word zebraplain lives here.\n")
    _cli(home, "notes", "add", str(notes))
    sync = _cli(home, "notes", "sync", "--quiet")
    status = _cli(home, "notes", "status")
    status_json = _cli(home, "notes", "status", "--json")
    try:
        skipped = json.loads(status_json.stdout).get("skipped", [])
    except ValueError:
        skipped = []
    outputs = [sync.stdout, sync.stderr, status.stdout, status.stderr]
    sync_ok = sync.returncode == 0 and not _shows_a_traceback(sync.stderr)
    for i, (label, name) in enumerate(BAD_NAMES):
        search = _cli(home, "notes", "search", f"zebra{i}", "--mode", "keyword", "-k", "3")
        outputs += [search.stdout, search.stderr]
        found = f"zebra{i}".encode() in search.stdout or f"Odd name {i}".encode() in search.stdout
        stem = name.split(b".")[0][:3].decode("utf-8", "replace")
        reported = any(stem in json.dumps(s, ensure_ascii=False) for s in skipped)
        clean = _control_bytes(search.stdout + search.stderr) == 0
        area.case(sync_ok and (found or reported) and clean, label)
    leaked = sum(_control_bytes(o) for o in outputs)
    broken_lines = sum(
        line.startswith((b"line.md", b"write.md")) for o in outputs for line in o.splitlines()
    )
    plain = _cli(home, "notes", "search", "zebraplain", "--mode", "keyword", "-k", "3")
    area.report(
        f"sync exit {sync.returncode}; control bytes that reached the terminal {leaked}; "
        f"output lines broken by a name {broken_lines}; the plain file "
        f"{'found' if b'Plain' in plain.stdout else 'NOT found'}; {len(skipped)} skipped "
        "with a reason"
    )


# ------------------------------------------------------------ bad servers
@dataclass(frozen=True)
class ServerCase:
    label: str
    mode: str  # a BadServer mode, or "backlog"
    outcome: str  # "answer", "error" or "interrupt"
    words: str = ""  # in the error sentence


SERVER_CASES = [
    ServerCase("proper stream", "ok", "answer"),
    ServerCase("slow but steady", "slow", "answer"),
    ServerCase("plain JSON completion", "json", "answer"),
    ServerCase("web page", "html", "error", "web page"),
    ServerCase("binary data", "binary", "error", "binary data"),
    ServerCase("error status", "error", "error", "500"),
    ServerCase("no answer at all", "silent", "error", "sent nothing"),
    ServerCase("stall mid-stream", "stall", "error", "stopped in the middle"),
    ServerCase("connection cut mid-stream", "drop", "error", "cut the connection"),
    ServerCase("stream without its end", "unfinished", "error", "before it was finished"),
    ServerCase("accept queue full", "backlog", "error", "Could not reach"),
    ServerCase("Ctrl-C during a stall", "stall", "interrupt"),
    ServerCase("Ctrl-C before any answer", "silent", "interrupt"),
]


def _last_reply_status(home: Path) -> str | None:
    try:
        with sqlite3.connect(home / "data" / "assistant.db") as con:
            row = con.execute(
                "SELECT status FROM messages WHERE role='assistant' ORDER BY id DESC LIMIT 1"
            ).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def bad_servers(template: Path) -> None:
    area = Area("bad servers")
    limit = 3  # server_timeout for the run: silence longer than this is an error
    slowest = 0.0
    for case in SERVER_CASES:
        home = _new_home(template, "server")
        server = FullBacklogServer() if case.mode == "backlog" else BadServer(case.mode, 0.4)
        with server:
            env = {"ASSISTANT_BASE_URL": server.base_url, "ASSISTANT_SERVER_TIMEOUT": str(limit)}
            proc = _popen(home, "ask", "Tell me about the lighthouse.", **env)
            started = time.monotonic()
            if case.outcome == "interrupt":
                assert isinstance(server, BadServer)
                deadline = time.monotonic() + 60
                while server.requests == 0 and time.monotonic() < deadline:
                    time.sleep(0.02)  # the question is stored and sent
                time.sleep(0.5)  # the stall's first pieces are shown
                started = time.monotonic()
                proc.send_signal(signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            took = time.monotonic() - started
        slowest = max(slowest, took)
        status = _last_reply_status(home)
        text = err.decode("utf-8", "replace")
        if case.outcome == "answer":
            ok = proc.returncode == 0 and b"lighthouse keeper" in out and status == "complete"
        elif case.outcome == "interrupt":
            ok = proc.returncode == 130 and took < 1.5 and status == "stopped"
        else:
            lines = [line for line in text.splitlines() if not line.startswith("(")]
            ok = (
                proc.returncode == 2
                and len(lines) == 1
                and case.words in lines[0]
                and status in ("error", None)
                and took < limit + 8
            )
        ok = ok and not _shows_a_traceback(err)
        area.case(ok, f"{case.label} (exit {proc.returncode}, {took:.1f} s, stored {status})")
    area.report(f"slowest case {slowest:.1f} s with server_timeout {limit} s")


def truncated_downloads(bundled: Path) -> None:
    area = Area("truncated downloads")
    head = bundled.read_bytes()[: 1 << 20]
    files: dict[str, bytes | Path] = {
        "/whole.gguf": bundled,
        "/cut-at-1mb.gguf": head,
        "/magic-only.gguf": b"GGUF",
        "/dropped-mid-body.gguf": bundled,
        "/chunked-ends-early.gguf": bundled,
    }
    ways = {"/dropped-mid-body.gguf": "cut", "/chunked-ends-early.gguf": "chunked"}
    with FileServer(files, ways) as server:
        for path in files:
            home = Path(tempfile.mkdtemp(prefix="assistant-pull-"))
            result = _cli(home, "models", "pull", server.url(path), timeout=600)
            final = home / "cache" / "models" / path.lstrip("/")
            if path == "/whole.gguf":
                ok = result.returncode == 0 and final.is_file()
            else:
                ok = result.returncode != 0 and not final.exists()
            ok = ok and not _shows_a_traceback(result.stderr)
            area.case(ok, f"{path.strip('/')} (exit {result.returncode})")
            shutil.rmtree(home, ignore_errors=True)
    area.report("a cut file must be refused with a sentence, the whole one accepted")


# ------------------------------------------------------- corrupted database
def _seed_database(home: Path, conversations: int, words: int = 60) -> Path:
    code = (
        "from assistant.paths import app_paths\n"
        "from assistant.store.database import Database\n"
        "from assistant.store.repository import ConversationRepository\n"
        "from assistant.domain import Role\n"
        "repo = ConversationRepository(Database(app_paths().database))\n"
        f"for i in range({conversations}):\n"
        "    c = repo.create_conversation(f'Conversation {i}')\n"
        "    for j in range(6):\n"
        "        role = Role.USER if j % 2 == 0 else Role.ASSISTANT\n"
        f"        text = f'message {{j}} of {{i}} ' + 'lorem ipsum ' * {words}\n"
        "        repo.add_message(c.id, role, text)\n"
        "repo.db.close()\n"
    )
    subprocess.run([sys.executable, "-c", code], env=_env(home), check=True)
    return home / "data" / "assistant.db"


def _scribble_header(path: Path) -> None:
    with open(path, "r+b") as fh:
        fh.write(b"\xde\xad\xbe\xef" * 25)


def _cut_in_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


CORRUPTIONS: list[tuple[str, Callable[[Path], object]]] = [
    ("a page of messages", lambda p: corrupt_page(p, "messages")),
    ("a page of conversations", lambda p: corrupt_page(p, "conversations")),
    ("a page of the search index", lambda p: corrupt_page(p, "messages_fts_data")),
    ("a garbage header", _scribble_header),
    ("the file cut in half", _cut_in_half),
]


def corrupted_database(template: Path) -> None:
    area = Area("corrupted database")
    source = Path(tempfile.mkdtemp(prefix="assistant-dbseed-"))
    seeded = _seed_database(source, 300)
    with sqlite3.connect(seeded) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    said = silent = 0
    with BadServer("ok") as server:
        for label, corrupt in CORRUPTIONS:
            home = _new_home(template, "corrupt")
            (home / "data").mkdir()
            database = home / "data" / "assistant.db"
            shutil.copy2(seeded, database)
            corrupt(database)
            size = database.stat().st_size
            asked_before = server.requests
            listing = _cli(home, "history", "list")
            search = _cli(home, "history", "search", "lorem")
            ask = _cli(home, "ask", "hello", ASSISTANT_BASE_URL=server.base_url)
            doctor = _cli(home, "doctor")
            outputs = [r.stdout + r.stderr for r in (listing, search, ask, doctor)]
            told = [b"damaged" in (r.stderr if r is not doctor else r.stdout) for r in
                    (listing, search, ask, doctor)]  # fmt: skip
            said += sum(told)
            silent += told.count(False)
            ok = (
                all(told)
                and ask.returncode == 2
                and doctor.returncode == 1
                and listing.returncode in (0, 2)
                and database.stat().st_size == size
                and server.requests == asked_before
                and not any(_shows_a_traceback(o) for o in outputs)
            )
            area.case(ok, label)
    check_cost = _check_cost(template)
    area.report(
        f"commands that said the database is damaged {said}, that stayed silent {silent}; "
        f"{check_cost}"
    )


def _check_cost(template: Path) -> str:
    """What the start-up check costs: a trusted open against a checked one."""
    home = _new_home(template, "check-cost")
    path = _seed_database(home, 2000, words=80)
    code = (
        "import time, sys\n"
        "from assistant.store.database import Database\n"
        "from pathlib import Path\n"
        "p = Path(sys.argv[1])\n"
        "t = time.perf_counter(); db = Database(p); opened = time.perf_counter() - t\n"
        "t = time.perf_counter(); db.check(); skipped = time.perf_counter() - t\n"
        "t = time.perf_counter(); db.check(force=True); checked = time.perf_counter() - t\n"
        "print(opened * 1000, skipped * 1000, checked * 1000)\n"
    )
    figures = []
    for _ in range(3):
        result = subprocess.run(
            [sys.executable, "-c", code, str(path)], env=_env(home), capture_output=True
        )
        figures.append([float(x) for x in result.stdout.split()])
    opened, skipped, checked = (sorted(f[i] for f in figures)[1] for i in range(3))
    size = path.stat().st_size / 2**20
    return (
        f"start-up check on a {size:.0f} MB database: quick_check {checked:.0f} ms when the "
        f"file changed, {skipped:.2f} ms when it did not (stat + stamp); the whole open "
        f"{opened:.0f} ms (medians of 3)"
    )


# ----------------------------------------------------------------- zip bomb
def make_zip_bomb(path: Path, inflated_mb: int = 256) -> None:
    """A .docx whose word/document.xml inflates to ``inflated_mb`` MB."""
    import io

    from tests.notes.docgen import make_docx

    good = zipfile.ZipFile(io.BytesIO(make_docx([("p", "A small document.")])))
    paragraph = b"<w:p><w:r><w:t>" + b"a" * 200 + b"</w:t></w:r></w:p>"
    block = paragraph * ((1 << 20) // len(paragraph) + 1)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        for item in good.infolist():
            if item.filename != "word/document.xml":
                bomb.writestr(item, good.read(item))
        with bomb.open("word/document.xml", "w", force_zip64=True) as fh:
            fh.write(
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/'
                b'2006/main"><w:body>'
            )
            written = 0
            while written < inflated_mb << 20:
                fh.write(block)
                written += len(block)
            fh.write(b"</w:body></w:document>")


def _hwm_mb(pid: int) -> float:
    """The process's own resident high-water mark (VmHWM), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _peak_rss_mb(home: Path, *args: str, limit: float = 180) -> tuple[float, int, bytes]:
    """Peak resident memory of one command, exit code (-9 when it was still
    running after ``limit`` seconds), output. The peak is the command's own
    VmHWM, read every 20 ms: wait4's ru_maxrss would also count this bench's
    memory, which a child inherits through fork and keeps across exec."""
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant", *args],
            env=_env(home),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + limit
        peak = 0.0
        while time.monotonic() < deadline:
            peak = max(peak, _hwm_mb(proc.pid))
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.02)
        else:
            proc.kill()
            _, status, _ = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        return peak, proc.returncode, output.read()


def zip_bomb_memory(template: Path) -> None:
    area = Area("zip-bomb .docx memory")
    home = _new_home(template, "bomb")
    bomb_dir, plain_dir = home / "bomb", home / "plain"
    bomb_dir.mkdir()
    plain_dir.mkdir()
    bomb = bomb_dir / "report.docx"
    make_zip_bomb(bomb)
    from tests.notes.docgen import make_docx

    (plain_dir / "report.docx").write_bytes(make_docx([("p", "A small document.")]))
    _cli(home, "notes", "add", str(plain_dir))
    plain_peak, plain_code, _ = _peak_rss_mb(home, "notes", "sync", "--quiet")
    _cli(home, "notes", "add", str(bomb_dir))
    bomb_peak, bomb_code, out = _peak_rss_mb(home, "notes", "sync", "--quiet")
    ok = bomb_code == 0 and bomb_peak < 200 and not _shows_a_traceback(out)
    area.case(ok, f"sync exit {bomb_code}, peak {bomb_peak:.0f} MB")
    stopped = " (stopped after 180 s)" if bomb_code == -9 else ""
    area.report(
        f"a {bomb.stat().st_size / 2**20:.1f} MB .docx inflating to 256 MB: peak RSS "
        f"{bomb_peak:.0f} MB{stopped} (aim < 200 MB); a sync of one small .docx, embedding "
        f"model loaded: {plain_peak:.0f} MB (exit {plain_code})"
    )


# ------------------------------------------------------ escapes, long prompts
PAYLOADS = [
    "\x1b[2J\x1b[H",
    "\x1b]52;c;ZXZpbA==\x07",
    "\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\",
    "over\rwrite",
    "\x9b31m",
    "\x07bell",
    "\x1bP+q\x1b\\",
    "\x08\x08\x08back",
    "\x1b[6n",
    "\x00nul",
]


def escape_payloads() -> None:
    """Store the payloads as conversation text and titles, then print them
    through the real CLI (`history list`, `history show`)."""
    area = Area("escape payloads")
    home = Path(tempfile.mkdtemp(prefix="assistant-esc-"))
    os.environ["ASSISTANT_HOME"] = str(home)
    from assistant.domain import Role
    from assistant.paths import app_paths
    from assistant.store.database import Database
    from assistant.store.repository import ConversationRepository

    repo = ConversationRepository(Database(app_paths().database))
    for p in PAYLOADS:
        c = repo.create_conversation(f"title {p}")
        repo.add_message(c.id, Role.USER, f"question {p}")
        repo.add_message(c.id, Role.ASSISTANT, f"reply {p} end")
    repo.db.close()
    del os.environ["ASSISTANT_HOME"]
    commands: list[Sequence[str]] = [["history", "list"]] + [
        ["history", "show", str(i)] for i in range(1, len(PAYLOADS) + 1)
    ]
    reached = 0
    for args in commands:
        result = _cli(home, *args)
        data = result.stdout + result.stderr
        count = _control_bytes(data)
        reached += count
        area.case(count == 0, " ".join(args))
    area.report(
        f"{len(PAYLOADS)} payloads through {len(commands)} commands; control bytes that "
        f"reached the terminal {reached}"
    )


def overlong_prompts(template: Path) -> None:
    area = Area("over-long prompts")
    home = _new_home(template, "long")
    for words in (5_000, 20_000, 100_000):
        proc = subprocess.run(
            [sys.executable, "-m", "assistant", "ask", "--n-ctx", "1024", "Summarise:"],
            input=("word " * words).encode(),
            env=_env(home),
            capture_output=True,
        )
        ok = not _shows_a_traceback(proc.stderr) and proc.returncode in (0, 2)
        area.case(ok, f"{words} words (exit {proc.returncode})")
    area.report("each must end in a sentence (exit 2) or an answer, never a traceback")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    started = time.monotonic()
    print(f"CPU: {cpu_flags()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    template = prepare_template()
    from assistant.llm.catalog import bundled_model_path
    from assistant.paths import AppPaths

    bundled = bundled_model_path(
        AppPaths(data=template / "data", config=template / "config", cache=template / "cache")
    )
    kills_during_ask(template, runs)
    kills_during_sync(template, runs)
    kills_during_write(template, runs)
    concurrent_sync_and_search(template)
    bad_file_names(template)
    bad_servers(template)
    truncated_downloads(bundled)
    corrupted_database(template)
    zip_bomb_memory(template)
    escape_payloads()
    overlong_prompts(template)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"{time.monotonic() - started:.0f} s in all, {children.ru_utime:.0f} s of CPU in "
        "the commands",
        flush=True,
    )


if __name__ == "__main__":
    main()
