"""``assistant mcp serve`` driven by the SDK's own client: over stdio (the
real command, as Claude Desktop starts it) and over streamable HTTP with a
bearer token; list tools, search the notes (citations with file:lines), and
nothing is written."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from assistant.paths import app_paths
from tests.fakes import FakeModel
from tests.standins import wait_for_port

TOOLS = ["ask_notes", "get_conversation", "list_collections", "search_history", "search_notes"]


@pytest.fixture
def indexed(isolated_home, notes, embedder, repo, tmp_path):
    import shutil

    # the embedding model exported once for the session, reused by the servers started here
    shutil.copytree(embedder.cache_dir / "embeddings", app_paths().cache / "embeddings")
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "homelab.md").write_text(
        "# Homelab\n\nIntro line.\n\n## Backups\n\nThe NAS backs up to the cloud every night "
        "at 02:00 with restic.\nSnapshots are kept for 30 days.\n",
        encoding="utf-8",
    )
    notes.add_collection(folder, "lab")
    notes.sync()
    conv = repo.create_conversation("Sourdough talk")
    repo.add_message(conv.id, "user", "How long should the levain ferment?")
    repo.add_message(conv.id, "assistant", "About eight hours at room temperature.")
    return conv.id


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


def test_stdio_server_lists_tools_and_cites_file_lines(indexed):
    from mcp import Client, StdioServerParameters

    db = app_paths().database
    before = db.read_bytes()
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "assistant", "mcp", "serve"],
        env={"ASSISTANT_HOME": os.environ["ASSISTANT_HOME"]},
        cwd=str(Path(__file__).resolve().parents[2]),
    )

    async def drive():
        async with Client(params, read_timeout_seconds=120) as client:
            listed = await client.list_tools()
            found = await client.call_tool("search_notes", {"query": "when does the NAS back up"})
            collections = await client.call_tool("list_collections", {})
            history = await client.call_tool("search_history", {"query": "levain"})
            conversation = await client.call_tool("get_conversation", {"conversation_id": indexed})
            missing = await client.call_tool("get_conversation", {"conversation_id": 999})
            return listed, found, collections, history, conversation, missing

    listed, found, collections, history, conversation, missing = asyncio.run(drive())
    assert sorted(t.name for t in listed.tools) == TOOLS
    assert all(t.annotations.read_only_hint for t in listed.tools)
    hits = text_of(found)
    assert hits.startswith("[1] lab/homelab.md:7-8 — Homelab > Backups\n")
    assert "02:00 with restic" in hits
    assert "lab: " in text_of(collections) and "(1 files," in text_of(collections)
    assert f"conversation {indexed} “Sourdough talk”" in text_of(history)
    assert "«levain»" in text_of(history)
    assert "About eight hours" in text_of(conversation)
    assert missing.is_error and "There is no conversation 999" in text_of(missing)
    assert db.read_bytes() == before  # read-only: nothing was written


def test_ask_notes_answers_with_sources_and_stores_nothing(indexed, monkeypatch):
    from mcp import Client

    from assistant.mcp_server import build_server
    from assistant.runtime import Runtime

    model = FakeModel()
    model.enqueue("Every night at 02:00 [1].")
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: model)
    rt = Runtime()

    async def drive():
        async with Client(build_server(rt)) as client:
            return await client.call_tool("ask_notes", {"question": "When does the NAS back up?"})

    answer = text_of(asyncio.run(drive()))
    assert answer.startswith("Every night at 02:00 [1].\n\nSources:\n[1] lab/homelab.md:7-8")
    assert "<<<PASSAGE 1" in model.history[0][-1].content  # the passages went to the model
    assert [c.id for c in rt.repo.list_conversations()] == [indexed]  # no conversation stored


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_http_server_needs_the_bearer_token(indexed):
    from mcp import Client
    from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

    port = free_port()
    env = {**os.environ, "ASSISTANT_MCP_TOKEN": "tok-123"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "mcp", "serve", "--http", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for_port(port, timeout=60)
        url = f"http://127.0.0.1:{port}/mcp"
        denied = httpx.post(url, json={}, headers={"Authorization": "Bearer wrong"})
        assert denied.status_code == 401
        assert httpx.post(url, json={}).status_code == 401

        async def drive():
            http = create_mcp_http_client(headers={"Authorization": "Bearer tok-123"})
            async with Client(streamable_http_client(url, http_client=http)) as client:
                listed = await client.list_tools()
                collections = await client.call_tool("list_collections", {})
                return listed, collections

        listed, collections = asyncio.run(drive())
        assert sorted(t.name for t in listed.tools) == TOOLS
        assert text_of(collections).startswith("lab: ")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert b"Serving MCP at http://127.0.0.1:" in err
    assert b"tok-123" not in err  # a token from the environment is not printed


def test_bad_http_address_is_one_sentence(capsys):
    from tests.test_cli import run_cli

    code, _, err = run_cli(["mcp", "serve", "--http", "localhost"], capsys)
    assert code == 2
    assert err.strip() == (
        "assistant: --http takes HOST:PORT, e.g. 127.0.0.1:8765, not “localhost”."
    )
