"""Every stored reply names its parent, and a question asked while another is
being answered follows that answer (issue 17, item 11), with real processes.

Process A asks about a long document: before its reply is stored it reads
the document part by part with the model (seconds). As soon as A's question
is in the database, A is stopped (SIGSTOP), B asks its own question in the
same conversation to the end, and A goes on (SIGCONT). B's question must be
parented to A's reply, never to A's question: the question and the row of
its reply are written in one transaction, so no other writer ever sees a
question without its reply."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.waits import wait_for_row

WORDS = "harbour lamp keeper storm ship night tide rope gull fog beacon stone island".split()


def cli(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "assistant", "--threads", "1", *args],
        env={**os.environ, "ASSISTANT_HOME": str(home)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err


def wait_for_message(database: Path, text: str, proc: subprocess.Popen[str]) -> None:
    """Until the message ``text`` is committed (or ``proc`` ended without it)."""
    wait_for_row(database, "SELECT 1 FROM messages WHERE content = ?", proc, (text,))


def rows(database: Path) -> dict[int, tuple[str, int | None, str]]:
    with sqlite3.connect(database) as con:
        return {
            mid: (role, parent, content)
            for mid, role, parent, content in con.execute(
                "SELECT id, role, parent_id, content FROM messages ORDER BY id"
            )
        }


def test_a_question_asked_during_another_answer_follows_that_answer(home_with_model, tmp_path):
    home = home_with_model
    database = home / "data" / "assistant.db"
    code, out, err = finished(cli(home, "ask", "--max-tokens", "4", "Start a conversation."))
    assert code == 0, err
    rng = random.Random(5)
    long_doc = tmp_path / "log.md"
    long_doc.write_text(
        "\n\n".join(" ".join(rng.choice(WORDS) for _ in range(120)) for _ in range(12))
    )
    first = f"Summarise @{long_doc}"
    a = cli(home, "ask", "-c", "1", "--n-ctx", "1024", "--max-tokens", "8", first)
    try:
        wait_for_message(database, first, a)
        a.send_signal(signal.SIGSTOP)
        code, _, err = finished(cli(home, "ask", "-c", "1", "--max-tokens", "4", "And then?"))
        assert code == 0, err
    finally:
        a.send_signal(signal.SIGCONT)
    code, _, err = finished(a)
    assert code == 0, err

    messages = rows(database)
    by_text = {content: mid for mid, (_, _, content) in messages.items()}
    question_a, question_b = by_text[first], by_text["And then?"]
    parent_b = messages[question_b][1]
    assert parent_b is not None
    role, parent_of_parent, _ = messages[parent_b]
    assert role == "assistant" and parent_of_parent == question_a  # A's reply, not A's question
    for mid, (role, parent, _) in messages.items():
        if role == "assistant":  # every reply names its question
            assert parent is not None and messages[parent][0] == "user", mid
