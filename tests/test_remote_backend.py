"""The OpenAI-compatible backend against a real engine on loopback:
llama-cpp-python's own server running the bundled GGUF."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from assistant.chat.service import ChatService, ReplyDone
from assistant.domain import ChatTurn, GenerationOptions, MessageStatus, Role
from assistant.errors import ModelError
from assistant.llm.base import Finished, TextPiece
from assistant.llm.remote import OpenAICompatibleModel


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(bundled_gguf):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(bundled_gguf),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
            "--model_alias",
            "gemma-270m",
            "--chat_format",
            "gemma",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not start")
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def test_streams_from_server(server):
    model = OpenAICompatibleModel(server, model="gemma-270m")
    events = list(
        model.stream(
            [ChatTurn(Role.USER, "What is the capital of France?")],
            GenerationOptions(max_tokens=24, temperature=0.0, seed=1),
        )
    )
    pieces = [e.text for e in events if isinstance(e, TextPiece)]
    fin = events[-1]
    assert isinstance(fin, Finished)
    assert pieces and "".join(pieces).strip()
    assert fin.completion_tokens > 0 and fin.prompt_tokens > 0


def test_chat_service_over_server_and_cancel(server, repo):
    model = OpenAICompatibleModel(server, model="gemma-270m")
    svc = ChatService(repo, model, options=GenerationOptions(max_tokens=200, temperature=1.0))
    cancel = threading.Event()
    done = None
    for e in svc.send(None, "Tell me a long story.", cancel):
        if isinstance(e, TextPiece):
            cancel.set()
        if isinstance(e, ReplyDone):
            done = e
    assert done is not None
    assert done.message.status in (MessageStatus.STOPPED, MessageStatus.COMPLETE)
    assert done.message.model == "gemma-270m"


def test_unreachable_server_is_one_sentence():
    model = OpenAICompatibleModel(f"http://127.0.0.1:{free_port()}/v1", timeout=2)
    with pytest.raises(ModelError) as err:
        list(model.stream([ChatTurn(Role.USER, "hi")], GenerationOptions(max_tokens=4)))
    assert "Could not reach the model server" in str(err.value)
