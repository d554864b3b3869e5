"""Model servers that misbehave (stand-ins on loopback, tests/standins.py):
every fault is one sentence and an error status, never an empty reply stored
as complete; silence has a limit; Ctrl-C stops at once and keeps the text."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assistant.domain import ChatTurn, GenerationOptions, MessageStatus, Role
from assistant.errors import ModelError
from assistant.llm.base import Finished, TextPiece
from assistant.llm.remote import OpenAICompatibleModel
from tests.standins import BadServer, FullBacklogServer

TURNS = [ChatTurn(Role.USER, "Tell me about the lighthouse.")]
OPTIONS = GenerationOptions(max_tokens=32)


def run(model: OpenAICompatibleModel, cancel: threading.Event | None = None) -> list[object]:
    return list(model.stream(TURNS, OPTIONS, cancel))


@pytest.mark.parametrize(
    ("mode", "sentence"),
    [
        ("html", "answered with a web page (text/html) instead of an event stream"),
        ("binary", "answered with binary data (application/octet-stream) instead of an event"),
        ("unfinished", "ended the reply before it was finished"),
        ("drop", "cut the connection in the middle of the reply"),
        ("error", "answered 500: model is overloaded."),
    ],
)
def test_a_bad_answer_is_one_sentence(mode: str, sentence: str) -> None:
    with BadServer(mode) as server:
        model = OpenAICompatibleModel(server.base_url, timeout=5)
        with pytest.raises(ModelError) as err:
            run(model)
    assert sentence in str(err.value)
    assert str(err.value).count("\n") == 0


def test_a_plain_json_completion_is_accepted() -> None:
    with BadServer("json") as server:
        events = run(OpenAICompatibleModel(server.base_url, timeout=5))
    assert "".join(e.text for e in events if isinstance(e, TextPiece)) == "".join(BadServer.WORDS)
    assert isinstance(events[-1], Finished) and events[-1].completion_tokens == 6


def test_a_slow_but_steady_server_is_not_cut_off() -> None:
    # one piece every 0.4 s with a 1 s limit: the limit is on silence, not on the whole reply
    with BadServer("slow", delay=0.4) as server:
        started = time.monotonic()
        events = run(OpenAICompatibleModel(server.base_url, timeout=1))
    assert time.monotonic() - started > 2.0
    assert "".join(e.text for e in events if isinstance(e, TextPiece)) == "".join(BadServer.WORDS)


@pytest.mark.parametrize(
    ("mode", "sentence"),
    [
        ("silent", "sent nothing for 1 s"),
        ("stall", "stopped in the middle of the reply: nothing for 1 s"),
    ],
)
def test_silence_has_a_limit(mode: str, sentence: str) -> None:
    with BadServer(mode) as server:
        model = OpenAICompatibleModel(server.base_url, timeout=1)
        started = time.monotonic()
        with pytest.raises(ModelError) as err:
            run(model)
        elapsed = time.monotonic() - started
    assert sentence in str(err.value)
    assert 0.9 < elapsed < 2.5


def test_a_connection_that_never_opens_has_a_limit() -> None:
    with FullBacklogServer() as server:
        model = OpenAICompatibleModel(server.base_url, timeout=30, connect_timeout=1)
        started = time.monotonic()
        with pytest.raises(ModelError) as err:
            run(model)
    assert time.monotonic() - started < 3
    assert "Could not reach the model server" in str(err.value) and "within 1 s" in str(err.value)


@pytest.mark.parametrize("mode", ["silent", "stall"])
def test_cancel_stops_a_silent_server_at_once(mode: str) -> None:
    with BadServer(mode) as server:
        model = OpenAICompatibleModel(server.base_url, timeout=60)
        cancel = threading.Event()
        threading.Timer(0.5, cancel.set).start()
        started = time.monotonic()
        events = run(model, cancel)
    assert time.monotonic() - started < 1.0
    assert isinstance(events[-1], Finished) and events[-1].finish_reason == "cancelled"
    if mode == "stall":
        assert "".join(e.text for e in events if isinstance(e, TextPiece)).startswith("The ")


def test_the_service_stores_a_bad_answer_as_an_error(repo) -> None:
    from assistant.chat.service import ChatService

    with BadServer("html") as server:
        service = ChatService(repo, OpenAICompatibleModel(server.base_url, timeout=5))
        with pytest.raises(ModelError):
            list(service.send(None, "hello"))
    reply = repo.messages(repo.list_conversations()[0].id)[-1]
    assert reply.role == Role.ASSISTANT
    assert reply.status == MessageStatus.ERROR
    assert "web page" in (reply.error or "")


# ------------------------------------------------ the real command, for real
def _ask(home: Path, server: BadServer, *extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ASSISTANT_HOME": str(home),
        "ASSISTANT_BASE_URL": server.base_url,
        "ASSISTANT_SERVER_TIMEOUT": "60",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "assistant", "ask", *extra, "Tell me a story."],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _last_reply(home: Path) -> tuple[str, str, str | None]:
    with sqlite3.connect(home / "data" / "assistant.db") as db:
        row = db.execute(
            "SELECT status, content, error FROM messages WHERE role='assistant' "
            "ORDER BY id DESC LIMIT 1"
        ).fetchone()
    return row


@pytest.mark.parametrize("mode", ["stall", "silent"])
def test_first_ctrl_c_stops_ask_at_once(isolated_home: Path, mode: str) -> None:
    with BadServer(mode) as server:
        proc = _ask(isolated_home, server)
        assert proc.stdout is not None
        if mode == "stall":
            assert proc.stdout.read(4) == b"The "  # the first piece is on screen
            time.sleep(0.5)  # the next two arrive, then the server stalls
        else:
            deadline = time.monotonic() + 30
            while server.requests == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert elapsed < 1.5, f"took {elapsed:.1f} s to stop"
    assert b"partial reply is kept" in err
    status, content, _ = _last_reply(isolated_home)
    assert status == "stopped"
    if mode == "stall":
        assert content.startswith("The lighthouse keeper")


@pytest.mark.parametrize(
    ("mode", "words"), [("html", "web page"), ("binary", "binary data"), ("drop", "cut the")]
)
def test_ask_on_a_bad_server_fails_with_a_sentence(
    isolated_home: Path, mode: str, words: str
) -> None:
    with BadServer(mode) as server:
        proc = _ask(isolated_home, server)
        out, err = proc.communicate(timeout=60)
    text = err.decode()
    assert proc.returncode == 2, text
    assert words in text and "Traceback" not in text
    status, content, error = _last_reply(isolated_home)
    assert status == "error" and words in (error or "")
    if mode == "drop":
        assert content.startswith("The ")
        assert "kept in conversation" in text
