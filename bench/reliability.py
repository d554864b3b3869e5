"""Reliability figures (../shared/design/reliability.md), measured for real:

- kill points: `assistant ask` on the bundled model is SIGKILLed at a random
  moment, N times; afterwards the database must pass integrity_check and hold
  the question and every character that had reached stdout;
- escape payloads: stored messages and titles full of terminal escapes are
  printed by `assistant history list/show`; no control byte may reach the output;
- over-long prompts: questions far beyond the context window must end in one
  sentence and exit code 2, never a traceback.

- notes (bench/reliability_notes.py): concurrent sync + search, bad file
  names, the zip-bomb memory peak.

Run: ``python -m bench.reliability [RUNS]``.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _env(home: Path) -> dict[str, str]:
    env = os.environ.copy()
    env["ASSISTANT_HOME"] = str(home)
    return env


def kill_points(runs: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="assistant-kill-"))
    env = _env(home)
    # assemble the bundled model once so every run starts the same way
    subprocess.run(
        [sys.executable, "-m", "assistant", "doctor"], env=env, capture_output=True, check=False
    )
    rng = random.Random(7)
    lost = integrity_failures = killed = 0
    for i in range(runs):
        question = f"Run {i}: tell me a long story about a lighthouse keeper."
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "assistant",
                "ask",
                "--max-tokens",
                "400",
                "--temperature",
                "1.0",
                question,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        os.set_blocking(proc.stdout.fileno(), False)
        shown = b""
        deadline = time.monotonic() + rng.uniform(0.3, 2.5)
        while time.monotonic() < deadline and proc.poll() is None:
            chunk = proc.stdout.read() or b""
            shown += chunk
            time.sleep(0.01)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait()
        shown += proc.stdout.read() or b""
        db = sqlite3.connect(home / "data" / "assistant.db")
        if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            integrity_failures += 1
        row = db.execute(
            "SELECT m.id FROM messages m WHERE m.role='user' AND m.content=?", (question,)
        ).fetchone()
        text = shown.decode("utf-8", "replace").strip()
        if row is None:
            lost += bool(text)  # nothing was shown, nothing promised
        else:
            reply = db.execute(
                "SELECT content FROM messages WHERE id > ? AND role='assistant' "
                "ORDER BY id LIMIT 1",
                (row[0],),
            ).fetchone()
            if text and (reply is None or not reply[0].strip().startswith(text[:-1].strip())):
                lost += 1
        db.close()
    print(
        f"kill points: {runs} runs, {killed} SIGKILLed at a random moment (the rest had "
        f"finished); messages lost {lost}; integrity_check failures {integrity_failures}"
    )


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
    reached = 0
    commands = [["history", "list"]] + [
        ["history", "show", str(i)] for i in range(1, len(PAYLOADS) + 1)
    ]
    for args in commands:
        proc = subprocess.run(
            [sys.executable, "-m", "assistant", *args], env=_env(home), capture_output=True
        )
        data = proc.stdout + proc.stderr
        reached += sum(1 for b in data if (b < 32 and b not in (9, 10)) or b == 0x7F)
        reached += data.decode("utf-8", "replace").count("\x9b")
    print(
        f"escape payloads: {len(PAYLOADS)} tried through {len(commands)} CLI commands; "
        f"control bytes that reached the terminal {reached}"
    )


def overlong_prompts() -> None:
    home = Path(tempfile.mkdtemp(prefix="assistant-long-"))
    tracebacks = 0
    sizes = [5_000, 20_000, 100_000]
    for words in sizes:
        proc = subprocess.run(
            [sys.executable, "-m", "assistant", "ask", "--n-ctx", "1024", "Summarise:"],
            input="word " * words,
            env=_env(home),
            capture_output=True,
            text=True,
        )
        tracebacks += "Traceback" in proc.stderr or proc.returncode not in (0, 2)
    print(f"over-long prompts: {len(sizes)} tried; tracebacks shown to the user {tracebacks}")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    kill_points(runs)
    escape_payloads()
    overlong_prompts()
    from bench.reliability_notes import notes_cases

    notes_cases()


if __name__ == "__main__":
    main()
