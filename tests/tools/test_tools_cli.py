"""Tools from the command line: ask --tools and --allow, the approval prompt
on a real terminal (a pty), refusal off one, tools list, history show."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest

from assistant.domain import ToolCall
from tests.fakes import FakeModel
from tests.standins import ToolCallingServer
from tests.test_cli import run_cli


@pytest.fixture
def fake(monkeypatch):
    model = FakeModel()
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: model)
    return model


def test_ask_tools_runs_a_read_only_tool_and_reports_it(fake, capsys, monkeypatch):
    fake.enqueue_calls(ToolCall("n1", "now", {}))
    fake.enqueue("It is late.")
    code, out, err = run_cli(
        ["ask", "--tools=now", "--json", "What time is it?"], capsys, "", monkeypatch
    )
    assert code == 0
    data = json.loads(out)
    assert data["text"] == "It is late."
    (call,) = data["tool_calls"]
    assert call["call"]["name"] == "now" and call["outcome"] == "ok"
    assert "UTC" in call["result"]
    assert "→ now {}" in err and "← now: ok" in err
    assert [t.name for t in fake.tools_seen[0]] == ["now"]
    # for one question only: the conversation's switch stays off
    fake.enqueue("Plain.")
    code, out, _ = run_cli(
        ["ask", "-c", str(data["conversation_id"]), "again"], capsys, "", monkeypatch
    )
    assert code == 0 and fake.tools_seen[-1] is None
    code, out, _ = run_cli(["history", "show", str(data["conversation_id"])], capsys)
    assert "## Tool now" in out and "- Tool call: `now` {}" in out
    code, out, _ = run_cli(["history", "show", str(data["conversation_id"]), "--tree"], capsys)
    assert "Assistant: [calls now]" in out and "Tool now:" in out


def test_off_a_terminal_run_command_is_refused_unless_allowed(fake, capsys, monkeypatch, tmp_path):
    marker = tmp_path / "ran"
    command = f"touch {marker}"
    fake.enqueue_calls(ToolCall("r1", "run_command", {"command": command}))
    fake.enqueue("I was not allowed.")
    code, out, err = run_cli(["ask", "--tools", "--", "clean up"], capsys, "", monkeypatch)
    assert code == 0 and not marker.exists()
    assert f"→ $ {command}" in err
    assert "← run_command: refused (Not run: run_command needs the user's approval" in err
    assert "--allow run_command" in err
    fake.enqueue_calls(ToolCall("r2", "run_command", {"command": command}))
    fake.enqueue("Done.")
    code, out, err = run_cli(
        ["ask", "--tools", "--allow", "run_command", "--", "clean up"], capsys, "", monkeypatch
    )
    assert code == 0 and marker.exists()
    assert "← run_command: ok" in err


def test_unknown_tool_names_are_one_sentence(fake, capsys, monkeypatch):
    code, _, err = run_cli(["ask", "--tools=nosuch", "hi"], capsys, "", monkeypatch)
    assert code == 2
    assert err.strip().startswith("assistant: There is no tool named nosuch (tools: search_notes")
    code, _, err = run_cli(["ask", "--allow", "nope", "hi"], capsys, "", monkeypatch)
    assert code == 2 and "There is no tool named nope" in err


def test_tools_list(capsys):
    code, out, _ = run_cli(["tools", "list", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["warnings"] == []
    by_name = {t["name"]: t for t in data["tools"]}
    assert by_name["run_command"]["asks_first"] is True
    assert by_name["search_notes"]["source"] == "built-in"
    code, out, _ = run_cli(["tools", "list"], capsys)
    assert "run_command" in out and "asks first" in out


def _read_until(fd: int, needle: bytes, seen: bytearray, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"never saw {needle!r}; got {bytes(seen)!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            assert chunk, f"the process ended before {needle!r}; got {bytes(seen)!r}"
            seen.extend(chunk)


def test_on_a_terminal_the_user_is_asked_and_the_answer_is_built_from_the_result(isolated_home):
    config = isolated_home / "config"
    config.mkdir(parents=True, exist_ok=True)
    plan = {"run_command": {"command": "echo approved-42"}}
    with ToolCallingServer(plan) as server:
        (config / "config.toml").write_text(
            f'[engines.box]\nbase_url = "{server.base_url}"\nmodel = "tool-model"\n',
            encoding="utf-8",
        )
        main_fd, child_fd = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant", "--engine", "box", "ask", "--tools", "--", "go"],
            stdin=child_fd, stdout=child_fd, stderr=child_fd, env=os.environ.copy(),
        )  # fmt: skip
        os.close(child_fd)
        seen = bytearray()
        try:
            _read_until(main_fd, b"[N] no: ", seen)
            assert b"The model wants to run this command:\r\n  echo approved-42" in seen
            os.write(main_fd, b"y\n")
            _read_until(main_fd, b"From the tool:", seen)
            assert proc.wait(timeout=60) == 0
            try:
                while chunk := os.read(main_fd, 4096):
                    seen.extend(chunk)
            except OSError:
                pass
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(main_fd)
    text = bytes(seen).decode()
    assert "← run_command: ok" in text
    assert "approved-42" in text.split("From the tool:")[1]
    sent = server.bodies[1]["messages"][-1]
    assert sent["role"] == "tool" and "approved-42" in sent["content"]


def test_the_bundled_base_model_says_in_one_sentence_it_cannot_call_tools(
    home_with_model, capsys, monkeypatch
):
    code, out, err = run_cli(
        ["ask", "--tools", "--max-tokens", "4", "--", "What time is it?"], capsys, "", monkeypatch
    )
    assert code == 0
    lines = [line for line in err.splitlines() if "tools" in line]
    assert lines == [
        "gemma-3-270m-q4_k_m.gguf cannot call tools (its chat template does not offer them; "
        "the bundled base model has none), so this answer is written without them."
    ]
