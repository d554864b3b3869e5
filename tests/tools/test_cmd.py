"""``assistant cmd``: one command proposed for this OS and shell; on a
terminal it is run, explained, copied or dropped as the user says; it never
runs unasked."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from assistant.chat.shellcmd import command_from, surroundings
from tests.fakes import FakeModel
from tests.standins import ToolCallingServer
from tests.test_cli import run_cli
from tests.tools.test_tools_cli import _read_until


@pytest.fixture
def fake(monkeypatch):
    model = FakeModel()
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: model)
    return model


def test_the_command_is_read_from_the_reply():
    assert command_from("Here:\n```sh\nfind . -size +1G\n```\nDone.") == "find . -size +1G"
    assert command_from("$ du -sh *") == "du -sh *"
    assert command_from("`ls -la`") == "ls -la"
    assert command_from("  \n") == ""


def test_off_a_terminal_it_is_only_printed(fake, capsys, monkeypatch, tmp_path):
    marker = tmp_path / "ran"
    fake.enqueue(f"```sh\ntouch {marker}\n```")
    code, out, err = run_cli(["cmd", "make", "a", "file"], capsys, "", monkeypatch)
    assert code == 0 and out == f"touch {marker}\n" and not marker.exists()
    system = fake.history[0][0].content
    where = surroundings()
    assert where.system in system and f"the {where.shell} shell" in system
    assert fake.history[0][1].content == "make a file"
    fake.enqueue("```sh\nls\n```")
    code, out, _ = run_cli(["cmd", "--json", "list"], capsys, "", monkeypatch)
    assert json.loads(out) == {"command": "ls", "shell": where.shell, "system": where.system}


def test_no_request_and_no_command_are_one_sentence(fake, capsys, monkeypatch):
    code, _, err = run_cli(["cmd"], capsys, "", monkeypatch)
    assert code == 2 and "Say what the command should do" in err
    fake.enqueue("   ")
    code, _, err = run_cli(["cmd", "x"], capsys, "", monkeypatch)
    assert code == 2 and "proposed no command" in err


def _spawn(home, base_url: str):
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "config.toml").write_text(
        f'[engines.box]\nbase_url = "{base_url}"\nmodel = "tool-model"\n', encoding="utf-8"
    )
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "--engine", "box", "cmd", "make", "the", "marker"],
        stdin=child_fd, stdout=child_fd, stderr=child_fd, env=os.environ.copy(),
    )  # fmt: skip
    os.close(child_fd)
    return proc, main_fd


@pytest.mark.parametrize("answers", [["e", "r"], ["d"], ["c"]])
def test_on_a_terminal_explain_run_copy_or_drop(isolated_home, tmp_path, answers):
    marker = tmp_path / "ran"
    with ToolCallingServer({}, answer=f"```sh\ntouch {marker}\n```") as server:
        proc, fd = _spawn(isolated_home, server.base_url)
        seen = bytearray()
        try:
            for answer in answers:
                _read_until(fd, b"[D]rop? ", seen)
                del seen[:]
                os.write(fd, answer.encode() + b"\n")
            assert proc.wait(timeout=60) == 0
            try:
                while chunk := os.read(fd, 4096):
                    seen.extend(chunk)
            except OSError:
                pass
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(fd)
        if "e" in answers:  # the explanation was asked for with the command
            assert f"touch {marker}" in server.bodies[1]["messages"][0]["content"]
    assert marker.exists() == ("r" in answers)
    if answers == ["c"]:
        assert b"Copied." in seen
