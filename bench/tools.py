"""Tools and MCP, timed side by side in one run (printed, not asserted).

1. A tool round trip (the model asks for ``now``, it runs, the model is
   asked again and answers from the result) against the same question
   answered without tools, both through ``ChatService`` on the
   OpenAI-compatible stand-in on loopback; the overhead of the round trip
   in ms (p50), and the ratio.
2. ``search_notes`` over MCP (``assistant mcp serve`` on stdio, driven by the
   SDK's client) against ``assistant notes search --json`` run in this
   process, the same queries over the sample notes: p50/p95 and the ratio.
3. Start of an MCP stdio server (``assistant mcp serve``) to its tools
   listed, through the app's own MCP client (ms, median of 3).

    .venv/bin/python -m bench.tools [--rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

QUERIES = [
    "when do the backups run",
    "sourdough starter feeding",
    "Lisbon trip hotel",
    "habits to keep every morning",
    "meeting decisions",
    "field guide birds",
]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def round_trip(rounds: int) -> None:
    from assistant.chat.service import ChatService
    from assistant.chat.tooluse import ToolUse
    from assistant.llm.remote import OpenAICompatibleModel
    from assistant.paths import app_paths
    from assistant.store.database import Database
    from assistant.store.repository import ConversationRepository
    from assistant.tools.builtin import builtin_tools
    from tests.standins import ToolCallingServer

    db = Database(app_paths().database)
    repo = ConversationRepository(db)
    now = [t for t in builtin_tools(None) if t.name == "now"]
    with_tools: list[float] = []
    without: list[float] = []
    with ToolCallingServer({"now": {}}) as server:
        model = OpenAICompatibleModel(server.base_url, model="tool-model")
        chat = ChatService(repo, model)
        for n in range(rounds + 2):
            for tools, times in ((ToolUse(now), with_tools), (None, without)):
                start = time.perf_counter()
                for _ in chat.send(None, "What time is it?", tools=tools):
                    pass
                if n >= 2:  # the first two rounds warm the connection and the database
                    times.append((time.perf_counter() - start) * 1000)
        model.close()
    db.close()
    a, b = statistics.median(with_tools), statistics.median(without)
    print(
        f"tool round trip (call now, run, continue) vs no tools, {rounds} each on the stand-in: "
        f"p50 {a:.1f} ms vs {b:.1f} ms; overhead {a - b:.1f} ms; ratio {a / b:.2f}"
    )


def search_over_mcp(rounds: int, data: Path) -> None:
    from mcp import Client, StdioServerParameters

    from assistant.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["notes", "add", str(data), "--name", "samples"]) or main(["notes", "sync"])
    assert code == 0, "the sample notes could not be indexed"
    local: list[float] = []
    for n in range(rounds + 1):
        query = QUERIES[n % len(QUERIES)]
        sink = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(sink):
            main(["notes", "search", "--json", query])
        if n:
            local.append((time.perf_counter() - start) * 1000)
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "assistant", "mcp", "serve"],
        env={"ASSISTANT_HOME": os.environ["ASSISTANT_HOME"]},
    )

    async def drive() -> list[float]:
        times: list[float] = []
        async with Client(params, read_timeout_seconds=120) as client:
            for n in range(rounds + 1):
                start = time.perf_counter()
                result = await client.call_tool("search_notes", {"query": QUERIES[n % 6]})
                if n:
                    times.append((time.perf_counter() - start) * 1000)
                assert not result.is_error
        return times

    remote = asyncio.run(drive())
    print(
        f"search_notes over MCP (stdio) vs notes search --json in one process, {rounds} queries: "
        f"p50 {statistics.median(remote):.1f} vs {statistics.median(local):.1f} ms, "
        f"p95 {pct(remote, 95):.1f} vs {pct(local, 95):.1f} ms; "
        f"ratio p50 {statistics.median(remote) / statistics.median(local):.2f}"
    )


def server_start(times: int = 3) -> None:
    from assistant.config import McpServerSettings
    from assistant.tools.mcp_client import McpServer

    found: list[float] = []
    count = 0
    for _ in range(times):
        settings = McpServerSettings(
            command=sys.executable, args=["-m", "assistant", "mcp", "serve"], timeout=120
        )
        server = McpServer("notes", settings, None)
        start = time.perf_counter()
        count = len(server.start())
        found.append((time.perf_counter() - start) * 1000)
        server.close()
    each = ", ".join(f"{t:.0f}" for t in found)
    print(
        f"MCP stdio server start to tools listed (assistant mcp serve, {count} tools): "
        f"median {statistics.median(found):.0f} ms of {times} ({each})"
    )


def main() -> None:
    from bench import cpu_flags

    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    print(f"tools bench: cpu flags: {cpu_flags()}; load {os.getloadavg()[0]:.2f}")
    data = Path(__file__).resolve().parents[1] / "data"
    with tempfile.TemporaryDirectory() as home:
        os.environ["ASSISTANT_HOME"] = home
        round_trip(args.rounds)
        search_over_mcp(args.rounds, data)
        server_start()


if __name__ == "__main__":
    main()
