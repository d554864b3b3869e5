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
- escape payloads and over-long prompts (as before);
- the second adversarial pass (issue 17): reads while another process holds
  the write lock, contexts that cannot fit, engine base_urls that are not
  addresses, misspelt config keys, the -wal/-shm files deleted under `ask`
  (alone, and with another process on the database), a lost or broken index
  manifest, chat templates that run code, a zip bomb for `history import`,
  concurrent `ask -c` pairs, and a 10 MB note on one line.

Run: ``python -m bench.reliability [RUNS] [AREA...]`` (RUNS kills per area, default
10; AREA names a function below, e.g. ``reads_beside_a_writer``, or ``second_pass``
for the areas of issue 17; none: every area).
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


# ------------------------------------------------ second adversarial pass
WRITE_HOLDER = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0)
con.execute("BEGIN IMMEDIATE")
con.execute("UPDATE conversations SET title = title")
print("holding", flush=True)
sys.stdin.readline()
con.execute("ROLLBACK")
"""

OPEN_HOLDER = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
con.execute("SELECT count(*) FROM conversations").fetchone()
print("holding", flush=True)
sys.stdin.readline()
"""


class Holder:
    """Another process on the database: one of the scripts above, until closed."""

    def __init__(self, script: str, database: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, str(database)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "holding":
            raise RuntimeError("the holder did not start")

    def __enter__(self) -> Holder:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def reads_beside_a_writer(template: Path) -> None:
    area = Area("reads beside a writer")
    home = _new_home(template, "reads")
    database = _seed_database(home, 50)
    reads: list[tuple[str, ...]] = [
        ("history", "list"),
        ("history", "show", "1"),
        ("history", "search", "lorem"),
        ("history", "export", "1", "--format", "md"),
        ("notes", "list"),
        ("doctor",),
    ]
    slowest = 0.0
    stamp = database.with_name(database.name + "-checked")
    with Holder(WRITE_HOLDER, database):
        for args in reads + [("history", "list")]:
            if area.tried == len(reads):
                stamp.write_text("0 0 0\n")  # the last one: the integrity check runs again
            started = time.monotonic()
            result = _cli(home, *args, timeout=60)
            took = time.monotonic() - started
            slowest = max(slowest, took)
            text = result.stdout + result.stderr
            ok = result.returncode == 0 and b"locked" not in text and not _shows_a_traceback(text)
            area.case(ok, f"{' '.join(args)} (exit {result.returncode}, {took:.1f} s)")
    area.report(
        f"another process held BEGIN IMMEDIATE throughout (busy timeout 10 s); slowest read "
        f"{slowest:.1f} s, the last one with the integrity check run again"
    )


def _limited(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def contexts_that_cannot_fit(template: Path) -> None:
    area = Area("contexts that cannot fit")
    home = _new_home(template, "context")
    slowest = 0.0
    for n_ctx in ("99999999999", "4000000000", "10000000"):
        started = time.monotonic()
        try:  # under ulimit -v 8 GB: a safety net for a shared machine
            result = subprocess.run(
                [sys.executable, "-m", "assistant", "ask", "--n-ctx", n_ctx, "Hello"],
                env=_env(home),
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=300,
                preexec_fn=_limited(8 << 30),
            )
        except subprocess.TimeoutExpired:
            area.case(False, f"n_ctx {n_ctx} (timed out)")
            continue
        took = time.monotonic() - started
        slowest = max(slowest, took)
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        ok = (
            result.returncode == 2
            and len(lines) == 1
            and "Not loaded" in lines[0]
            and "would fit" in lines[0]
            and "damaged" not in lines[0]
        )
        area.case(ok, f"n_ctx {n_ctx} (exit {result.returncode})")
    area.report(f"each refused before loading with the fit sentence; slowest {slowest:.1f} s")


BAD_BASE_URLS = [
    ("broken IPv6 host", "http://[::1/v1"),
    ("an escape byte", "http://127.0.0.1:9/\x1b[31mv1"),
    ("no scheme", "127.0.0.1:8080/v1"),
    ("empty", ""),
    ("no host", "http:///v1"),
    ("a port out of range", "http://127.0.0.1:99999/v1"),
    ("another scheme", "ftp://127.0.0.1/v1"),
]


def bad_engine_urls(template: Path) -> None:
    area = Area("engine base_urls")
    with BadServer("ok") as server:
        for label, url in BAD_BASE_URLS:
            home = _new_home(template, "engines")
            config = home / "config" / "config.toml"
            config.parent.mkdir(parents=True)
            tables = (
                f"[engines.box]\nbase_url = {json.dumps(url)}\n"
                f'[engines.good]\nbase_url = "{server.base_url}"\n'
            )
            config.write_text(f'engine = "box"\n{tables}')
            ask = _cli(home, "ask", "hello", timeout=120)
            lines = ask.stderr.decode("utf-8", "replace").strip().splitlines()
            in_use = (
                ask.returncode == 2
                and len(lines) == 1
                and "engine 'box'" in lines[0]
                and "\x1b" not in lines[0]
                and not _shows_a_traceback(ask.stderr)
            )
            area.case(in_use, f"{label}, in use (exit {ask.returncode})")
            config.write_text(tables)
            listed = _cli(home, "models", "list", "--remote", "--json", timeout=120)
            try:
                engines = {e["name"]: e for e in json.loads(listed.stdout)["engines"]}
                others = bool(engines["good"].get("models")) and "engine 'box'" in str(
                    engines["box"].get("error")
                )
            except (ValueError, KeyError, TypeError):
                others = False
            area.case(others, f"{label}, listed beside a good one (exit {listed.returncode})")
    area.report("in use: one sentence naming the engine, exit 2; listed: the others still are")


CONFIG_TYPOS = [
    ("n_cxt = 8192\n", "'n_cxt' (did you mean 'n_ctx'?)"),
    ("temprature = 0.1\n", "'temprature' (did you mean 'temperature'?)"),
    ("max_token = 64\n", "'max_token' (did you mean 'max_tokens'?)"),
    ('[engines.box]\nbase_ur = "http://127.0.0.1:9/v1"\n', "'base_ur' in [engines.box]"),
    ('[engines.box]\nbase_url = "http://127.0.0.1:9/v1"\napi_kye_env = "K"\n', "'api_kye_env'"),
    ('[ui]\ntheme = "dark"\n', "'ui'"),
]


def misspelt_config_keys() -> None:
    area = Area("misspelt config keys")
    for text, words in CONFIG_TYPOS:
        home = Path(tempfile.mkdtemp(prefix="assistant-config-"))
        (home / "config").mkdir()
        (home / "config" / "config.toml").write_text(text)
        result = _cli(home, "history", "list", timeout=60)
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        ok = result.returncode == 2 and len(lines) == 1 and words in lines[0]
        area.case(ok, f"{text.splitlines()[-1]} (exit {result.returncode})")
        shutil.rmtree(home, ignore_errors=True)
    area.report("each one sentence naming the key and the nearest known one, exit 2")


def _wait_for_row(database: Path, sql: str, proc: subprocess.Popen, limit: float = 120) -> bool:
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            con = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=0.5)
            try:
                if con.execute(sql).fetchone():
                    return True
            finally:
                con.close()
        except sqlite3.Error:
            pass
        time.sleep(0.005)
    return False


def deleted_journal_files(template: Path, runs: int) -> None:
    area = Area("-wal/-shm deleted under ask")
    question, reply = "Tell me about the lighthouse.", "The lighthouse keeper lit the lamp."
    points = {
        "after the question": f"SELECT 1 FROM messages WHERE content = '{question}'",
        "mid-reply": "SELECT 1 FROM messages WHERE role = 'assistant' AND content LIKE 'The %'",
    }
    saved = kept_in_files = 0
    with BadServer("slow", 0.2) as server:
        for i in range(runs):
            point = list(points)[i % 2]
            crowded = i % 3 == 2  # another process holds the database open
            home = _new_home(template, "wal")
            database = _seed_database(home, 3)
            holder = Holder(OPEN_HOLDER, database) if crowded else None
            try:
                proc = _popen(home, "ask", question, ASSISTANT_BASE_URL=server.base_url)
                if _wait_for_row(database, points[point], proc):
                    proc.send_signal(signal.SIGSTOP)
                    for suffix in ("-wal", "-shm"):
                        Path(f"{database}{suffix}").unlink(missing_ok=True)
                    proc.send_signal(signal.SIGCONT)
                out, err = proc.communicate(timeout=120)
            finally:
                if holder is not None:
                    holder.__exit__()
            text = err.decode("utf-8", "replace")
            shown = reply in out.decode("utf-8", "replace")
            said = proc.returncode == 2 and len(text.strip().splitlines()) == 1
            with sqlite3.connect(database) as con:
                stored = con.execute(
                    "SELECT count(*) FROM messages WHERE content = ? AND status = 'complete'",
                    (reply,),
                ).fetchone()[0]
            kept = (
                "are kept in " in text
                and Path(text.split(" are kept in ")[-1].split("; close every")[0]).is_file()
            )
            saved += stored == 1
            kept_in_files += kept
            ok = shown and said and (stored == 1 or kept) and _integrity_ok(database)
            where = "with another process" if crowded else "alone"
            area.case(ok, f"run {i} {point}, {where} (exit {proc.returncode}, stored {stored})")
    area.report(
        f"replies saved in the database {saved}, kept in a recovery file {kept_in_files} "
        "(with another process on it); every one shown and said in one sentence"
    )


MANIFEST_BREAKS: list[tuple[str, Callable[[Path], object]]] = [
    ("missing", lambda p: p.unlink()),
    ("cut short", lambda p: p.write_text(p.read_text()[:25])),
    ("empty", lambda p: p.write_text("")),
    ("wrong types", lambda p: p.write_text('{"count": "many", "model": 7}')),
]


def lost_manifest(template: Path) -> None:
    area = Area("lost index manifest")
    home = _new_home(template, "manifest")
    notes = home / "notes"
    _write_notes(notes, 400, random.Random(23))
    _cli(home, "notes", "add", str(notes))
    started = time.monotonic()
    _cli(home, "notes", "sync", "--quiet", timeout=1200)
    rebuild = time.monotonic() - started  # what a search paid before: every passage embedded
    manifest = home / "data" / "index" / "manifest.json"
    good = manifest.read_bytes()
    passages = json.loads(good)["count"]

    def search() -> tuple[float, subprocess.CompletedProcess]:
        started = time.monotonic()
        result = _cli(home, "notes", "search", "storm keeper", "-k", "3", timeout=1200)
        return time.monotonic() - started, result

    healthy = sorted(search()[0] for _ in range(3))[1]
    slowest = 0.0
    for label, breaks in MANIFEST_BREAKS:
        breaks(manifest)
        took, result = search()
        slowest = max(slowest, took)
        untouched = (manifest.read_text() if manifest.exists() else None) != good.decode()
        ok = (
            result.returncode == 0
            and b"keyword #" in result.stdout
            and b"Rebuilding" not in result.stderr
            and b"vector index" in result.stderr
            and untouched
        )
        area.case(ok, f"{label} ({took:.1f} s)")
        manifest.write_bytes(good)
    area.report(
        f"{passages} passages; search with a broken manifest {slowest:.1f} s (slowest) against "
        f"{healthy:.1f} s with a whole one (median of 3): {slowest / healthy:.2f}x; nothing "
        f"re-embedded (embedding them all, as a search did before, took {rebuild:.0f} s in the "
        "first sync), the rebuild left to the next sync"
    )


HOSTILE_TEMPLATES = [
    ("runs code", "{{ ''.__class__.__mro__[1].__subclasses__() }}", "tries to run code"),
    ("does not parse", "{% for m in messages %}{{ m.content ", "is not a valid template"),
    ("refuses the conversation", "{{ raise_exception('No system role') }}", "could not lay out"),
]


def hostile_chat_templates(template: Path, bundled: Path) -> None:
    from tests.models.conftest import write_relabelled_copy

    area = Area("hostile chat templates")
    home = _new_home(template, "templates")
    for label, text, words in HOSTILE_TEMPLATES:
        path = write_relabelled_copy(bundled, home / "hostile.gguf", "hostile", text)
        result = _cli(home, "ask", "--model", str(path), "--max-tokens", "4", "Hello")
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        ok = (
            result.returncode == 2
            and len(lines) == 1
            and str(path) in lines[0]
            and words in lines[0]
            and not _shows_a_traceback(result.stderr)
        )
        area.case(ok, f"{label} (exit {result.returncode})")
        path.unlink()
    area.report("each one sentence about the model file, exit 2; the question kept")


def _import_bomb(path: Path, inflated_mb: int) -> None:
    block = b" " * (1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        with bomb.open("conversations.json", "w", force_zip64=True) as fh:
            fh.write(b"[")
            for _ in range(inflated_mb):
                fh.write(block)
            fh.write(b"]")


def import_zip_bombs(template: Path) -> None:
    area = Area("history import zip bombs")
    home = _new_home(template, "import-bomb")
    peaks = []
    for inflated in (1024, 200):
        bomb = home / f"export-{inflated}.zip"
        _import_bomb(bomb, inflated)
        peak, code, out = _peak_rss_mb(home, "history", "import", str(bomb))
        peaks.append(f"{bomb.stat().st_size / 2**20:.1f} MB zip to {inflated} MB: {peak:.0f} MB")
        ok = code == 2 and peak < 200 and b"nothing was imported" in out
        area.case(ok, f"{inflated} MB (exit {code}, peak {peak:.0f} MB)")
        bomb.unlink()
    area.report(f"peak RSS (VmHWM) {'; '.join(peaks)} (aim < 200 MB)")


def concurrent_ask_pairs(template: Path, runs: int) -> None:
    area = Area("concurrent ask -c pairs")
    home = _new_home(template, "pairs")
    _cli(home, "ask", "--max-tokens", "4", "Start a conversation.")
    database = home / "data" / "assistant.db"
    wrong = 0
    for i in range(runs):
        pair = [
            _popen(home, "ask", "-c", "1", "--max-tokens", "8", f"Pair {i}, question {side}.")
            for side in ("A", "B")
        ]
        codes = [p.wait(timeout=300) for p in pair]
        for p in pair:
            p.communicate()
        with sqlite3.connect(database) as con:
            rows = {
                mid: (role, parent, content)
                for mid, role, parent, content in con.execute(
                    "SELECT id, role, parent_id, content FROM messages"
                )
            }
        ok = codes == [0, 0]
        for side in ("A", "B"):
            mid = next(k for k, v in rows.items() if v[2] == f"Pair {i}, question {side}.")
            parent = rows[mid][1]
            follows = parent is not None and rows[parent][0] == "assistant"
            wrong += not follows
            ok = ok and follows
        area.case(ok, f"pair {i} (exits {codes})")
    orphans = sum(
        1
        for role, parent, _ in rows.values()
        if role == "assistant" and (parent is None or rows[parent][0] != "user")
    )
    area.report(
        f"{runs} pairs started together; questions parented to a question {wrong}, replies "
        f"not parented to a question {orphans} (aim 0, 0)"
    )


def huge_one_line_note(template: Path) -> None:
    area = Area("10 MB note on one line")
    home = _new_home(template, "huge")
    notes = home / "notes"
    notes.mkdir()
    rng = random.Random(29)
    text = " ".join(rng.choice(WORDS) for _ in range(1_600_000))[: 10 * 10**6]
    (notes / "one-line.txt").write_text(text)
    _cli(home, "notes", "add", str(notes))
    started = time.monotonic()
    result = _cli(home, "notes", "sync", timeout=3600)
    took = time.monotonic() - started
    with sqlite3.connect(home / "data" / "assistant.db") as con:
        stored = con.execute("SELECT count(*) FROM notes_chunks").fetchone()[0]
    said = next(
        (
            line
            for line in result.stderr.decode("utf-8", "replace").splitlines()
            if "very long" in line
        ),
        "",
    )
    ok = result.returncode == 0 and stored == 2000 and "only its first 2,000 of" in said
    area.case(ok, f"sync exit {result.returncode}, {stored} passages")
    try:
        total = int(said.split(" of ")[1].split()[0].replace(",", ""))
    except (IndexError, ValueError):
        total = 0
    per_passage = took / max(stored, 1)
    area.report(
        f"{stored} of {total} passages stored and embedded in {took:.0f} s "
        f"({per_passage * 1000:.0f} ms a passage; all {total} would take about "
        f"{per_passage * total / 60:.0f} min); the sync said what was left out"
    )


def main() -> None:
    args = sys.argv[1:]
    runs = int(args.pop(0)) if args and args[0].isdigit() else 10
    chosen = {a.replace("-", "_") for a in args}  # area names: run only those
    started = time.monotonic()
    print(f"CPU: {cpu_flags()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    template = prepare_template()
    from assistant.llm.catalog import bundled_model_path
    from assistant.paths import AppPaths

    bundled = bundled_model_path(
        AppPaths(data=template / "data", config=template / "config", cache=template / "cache")
    )
    areas: list[tuple[Callable[..., None], tuple[object, ...]]] = [
        (kills_during_ask, (template, runs)),
        (kills_during_sync, (template, runs)),
        (kills_during_write, (template, runs)),
        (concurrent_sync_and_search, (template,)),
        (bad_file_names, (template,)),
        (bad_servers, (template,)),
        (truncated_downloads, (bundled,)),
        (corrupted_database, (template,)),
        (zip_bomb_memory, (template,)),
        (escape_payloads, ()),
        (overlong_prompts, (template,)),
        (reads_beside_a_writer, (template,)),
        (contexts_that_cannot_fit, (template,)),
        (bad_engine_urls, (template,)),
        (misspelt_config_keys, ()),
        (deleted_journal_files, (template, max(runs, 6))),
        (lost_manifest, (template,)),
        (hostile_chat_templates, (template, bundled)),
        (import_zip_bombs, (template,)),
        (concurrent_ask_pairs, (template, max(runs, 15))),
        (huge_one_line_note, (template,)),
    ]
    if "second_pass" in chosen:  # the areas of issue 17
        chosen |= {area.__name__ for area, _ in areas[11:]}
    unknown = chosen - {area.__name__ for area, _ in areas} - {"second_pass"}
    if unknown:
        names = ", ".join(area.__name__ for area, _ in areas)
        sys.exit(f"No such area: {', '.join(sorted(unknown))}; the areas are {names}.")
    for area, area_args in areas:
        if not chosen or area.__name__ in chosen:
            area(*area_args)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"{time.monotonic() - started:.0f} s in all, {children.ru_utime:.0f} s of CPU in "
        "the commands",
        flush=True,
    )


if __name__ == "__main__":
    main()
