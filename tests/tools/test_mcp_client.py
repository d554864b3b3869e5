"""MCP servers' tools through the SDK's client, against real servers written
with the SDK (tests/tools/mcp_servers.py): stdio and streamable HTTP, from
config.toml and from mcp.json; one that exits, one that hangs, one that
dies in the middle of a call. Each failure is one sentence and the chat
goes on."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from assistant.chat.events import ReplyDone, ToolCallDone
from assistant.chat.tooluse import ToolUse
from assistant.domain import ToolCall
from assistant.runtime import Runtime
from assistant.tools.base import ToolContext, ToolFailed
from tests.fakes import FakeModel
from tests.standins import wait_for_port
from tests.test_cli import run_cli

ROOT = Path(__file__).resolve().parents[2]


def server_table(name: str, mode: str, **extra: object) -> str:
    lines = [
        f"[mcp.{name}]",
        f'command = "{sys.executable}"',
        f'args = ["-m", "tests.tools.mcp_servers", "{mode}"]',
        f'cwd = "{ROOT}"',
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def config(isolated_home):
    folder = isolated_home / "config"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def runtime(monkeypatch, isolated_home):
    made: list[Runtime] = []
    model = FakeModel()
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: model)

    def make() -> Runtime:
        rt = Runtime()
        rt.fake = model  # type: ignore[attr-defined]
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.close_tools()


def test_stdio_server_from_config_toml_in_a_reply(config, runtime):
    (config / "config.toml").write_text(
        server_table("calc", "ok") + server_table("sure", "ok", trusted=True, enabled=False),
        encoding="utf-8",
    )
    rt = runtime()
    by_name = {t.name: t for t in rt.tools.tools()}
    assert rt.tools.warnings == []
    add = by_name["calc__add"]
    assert add.source == "mcp:calc" and add.asks_first  # not trusted: asks
    assert add.spec.parameters["required"] == ["a", "b"]
    assert "sure__add" not in by_name  # enabled = false
    model = rt.fake
    model.enqueue_calls(ToolCall("m1", "calc__add", {"a": 2, "b": 40}))
    model.enqueue_calls(ToolCall("m2", "calc__shout", {"text": "hi"}))
    model.enqueue("The sum is 42.")
    session = rt.session()
    session.tools_once = ("calc__add", "calc__shout")
    session.allowed_tools = frozenset({"calc__add", "calc__shout"})
    events = list(session.send("add"))
    results = [e for e in events if isinstance(e, ToolCallDone)]
    assert [r.message.content for r in results] == ["42", "HI^[[31m!"]  # escape made visible
    assert events[-1].message.content == "The sum is 42."


def test_mcp_json_in_the_claude_desktop_format_with_env_vars(config, runtime, monkeypatch):
    monkeypatch.setenv("SECRET_FOR_TEST", "s3cr3t")
    (config / "mcp.json").write_text(
        json.dumps(
            {
                "mcpServers": {
                    "desk": {
                        "command": sys.executable,
                        "args": ["-m", "tests.tools.mcp_servers", "ok"],
                        "env": {"THE_VALUE": "${SECRET_FOR_TEST}", "PYTHONPATH": str(ROOT)},
                        "trusted": True,
                    },
                    "off": {"command": "nothing", "disabled": True},
                }
            }
        ),
        encoding="utf-8",
    )
    rt = runtime()
    tool = rt.tools.get("desk__env_value")
    assert tool is not None and not tool.asks_first  # trusted
    assert tool.run({"name": "THE_VALUE"}, ToolContext()) == "s3cr3t"
    assert rt.tools.warnings == []


def test_missing_variable_and_broken_mcp_json_are_one_sentence_each(config, runtime):
    (config / "config.toml").write_text(
        server_table("needs", "ok") + 'env = { X = "${NOT_SET_ANYWHERE_42}" }\n', encoding="utf-8"
    )
    (config / "mcp.json").write_text("{not json", encoding="utf-8")
    rt = runtime()
    names = rt.tools.names()
    assert "now" in names and not any(n.startswith("needs__") for n in names)
    assert len(rt.tools.warnings) == 2
    assert "mcp.json could not be read as JSON" in rt.tools.warnings[0]
    assert "needs the environment variable NOT_SET_ANYWHERE_42" in rt.tools.warnings[1]


def test_servers_that_exit_or_hang_at_start(config, runtime, capsys):
    (config / "config.toml").write_text(
        server_table("gone", "exit") + server_table("stuck", "hang", timeout=2),
        encoding="utf-8",
    )
    code, out, err = run_cli(["tools", "list", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert "now" in [t["name"] for t in data["tools"]]
    gone, stuck = data["warnings"]
    assert gone.startswith("The MCP server gone could not start (")
    assert "mcp-gone.log" in gone
    assert stuck == "The MCP server stuck did not start within 2 s; its tools are left out."
    log = config.parent / "data" / "logs" / "mcp-gone.log"
    assert "this server is broken" in log.read_text(encoding="utf-8")


def test_a_server_that_dies_or_hangs_mid_call_and_the_chat_goes_on(config, runtime):
    (config / "config.toml").write_text(server_table("flaky", "ok", timeout=3), encoding="utf-8")
    rt = runtime()
    sleep = rt.tools.get("flaky__sleep")
    with pytest.raises(ToolFailed, match="did not answer the call to sleep within 3 s"):
        sleep.run({}, ToolContext())
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    with pytest.raises(ToolFailed, match="Stopped by the user"):
        sleep.run({}, ToolContext(cancel))
    model = rt.fake
    model.enqueue_calls(ToolCall("d1", "flaky__crash", {}))
    model.enqueue_calls(ToolCall("d2", "flaky__add", {"a": 1, "b": 1}))
    model.enqueue("The server is gone; sorry.")
    use = ToolUse(rt.tools.tools(), allowed=frozenset({"flaky__crash", "flaky__add"}))
    events = list(rt.chat.send(None, "crash it", tools=use))
    done = [e for e in events if isinstance(e, ToolCallDone)]
    assert [d.outcome for d in done] == ["error", "error"]
    assert "The MCP server flaky failed during the call to crash" in done[0].message.content
    assert "The MCP server flaky cannot be used" in done[1].message.content
    assert isinstance(events[-1], ReplyDone)
    assert events[-1].message.content == "The server is gone; sorry."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_streamable_http_server_with_headers(config, runtime, monkeypatch):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.tools.mcp_servers", "http", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port, timeout=30)
        monkeypatch.setenv("WEB_TOKEN", "secret-7")
        (config / "config.toml").write_text(
            f'[mcp.web]\nurl = "http://127.0.0.1:{port}/mcp"\n'
            'headers = { X-Token = "${WEB_TOKEN}" }\ntimeout = 10\n'
            f'[mcp.locked]\nurl = "http://127.0.0.1:{port}/mcp"\ntimeout = 10\n',
            encoding="utf-8",
        )
        rt = runtime()
        add = rt.tools.get("web__add")
        assert add is not None and add.source == "mcp:web"
        assert add.run({"a": 20, "b": 22}, ToolContext()) == "42"
        assert rt.tools.get("locked__add") is None
        (warning,) = rt.tools.warnings
        assert warning.startswith("The MCP server locked could not start (")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
