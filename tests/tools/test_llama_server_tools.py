"""A real engine that calls tools: llama-cpp-python's own server with its
``chatml-function-calling`` handler on the bundled model. It streams
``tool_calls`` deltas only when the tool is chosen for it (with "auto" and
streaming it answers in text or refuses), so the tool is named in
``tool_choice``; the step limit then asks for the last answer without tools."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from assistant.chat.events import ReplyDone, ToolCallDone
from assistant.chat.service import ChatService
from assistant.chat.tooluse import ToolUse
from assistant.domain import MessageStatus, Role
from assistant.llm.remote import OpenAICompatibleModel
from assistant.tools.builtin import builtin_tools
from tests.test_remote_backend import free_port


@pytest.fixture(scope="module")
def tool_server(bundled_gguf):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_gguf),
            "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "2",
            "--chat_format", "chatml-function-calling",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)  # polling a starting server; no event to wait on
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not start")
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def test_llama_cpp_server_streams_a_call_that_runs_and_the_reply_goes_on(tool_server, repo):
    now = [t for t in builtin_tools(None) if t.name == "now"]
    model = OpenAICompatibleModel(
        tool_server, tool_choice={"type": "function", "function": {"name": "now"}}
    )
    service = ChatService(repo, model, flush_interval=0.0)
    events = list(service.send(None, "What time is it?", tools=ToolUse(now, max_steps=1)))
    (done,) = [e for e in events if isinstance(e, ToolCallDone)]
    assert done.call.name == "now" and done.outcome == "ok"
    assert time.strftime("%Y-") in done.message.content
    final = events[-1]
    assert isinstance(final, ReplyDone) and final.message.status == MessageStatus.COMPLETE
    path = repo.messages(final.message.conversation_id)
    assert [m.role for m in path] == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.ASSISTANT]
    assert path[1].tool_calls[0].name == "now" and path[1].finish_reason == "tool_calls"
    model.close()
