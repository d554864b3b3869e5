"""MCP servers' tools, through the official ``mcp`` SDK's client.

Servers come from ``[mcp.NAME]`` tables in config.toml and from ``mcp.json``
in the config folder (the ``mcpServers`` format of Claude Desktop and
Cursor, so a user copies what they have); on a name in both, config.toml
wins. ``${VAR}`` in a command's arguments and environment, a URL and its
headers is read from the environment when the server starts.

The decision a reader must know: the SDK is async and the app is threads.
One background thread runs an asyncio loop for every server; each server
lives in one task of it (the SDK's client must be entered and left in the
same task) until the app closes it. A chat thread hands a call over and waits
for its answer while watching the reply's cancel flag, so a stop ends the
wait at once. Every way a server fails is one sentence: it does not start
(a missing program, a crash, no answer within ``timeout``), it dies or hangs
in the middle of a call. The chat goes on; the model is told the same
sentence as the call's result. A server's stderr goes to a log file in the
data folder, never onto the terminal.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
import threading
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from assistant.domain import ToolSpec
from assistant.errors import AssistantError
from assistant.tools.base import Tool, ToolContext, ToolFailed

if TYPE_CHECKING:
    from assistant.config import McpServerSettings
    from assistant.tools.registry import ToolRegistry

T = TypeVar("T")
MCP_JSON = "mcp.json"
POLL_SECONDS = 0.05
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class McpError(AssistantError):
    """An MCP server could not be used; the sentence names it."""


# ------------------------------------------------------------ settings
def expand(value: str, server: str) -> str:
    """``${VAR}`` replaced by the environment's value; a missing one is a sentence."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise McpError(
                f"The MCP server {server} needs the environment variable {name}, which is not set."
            )
        return os.environ[name]

    return _VAR.sub(one, value)


def read_mcp_json(path: Path) -> dict[str, McpServerSettings]:
    """The servers of an ``mcp.json`` (``{"mcpServers": {NAME: {...}}}``):
    ``command``/``args``/``env`` or ``url`` (or ``serverUrl``)/``headers``;
    ``"disabled": true`` is honoured, keys of other apps are ignored."""
    from pydantic import ValidationError

    from assistant.config import McpServerSettings, validation_sentence

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise McpError(f"{path} could not be read as JSON ({exc}).") from None
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        raise McpError(f"{path} has no mcpServers object.")
    found: dict[str, McpServerSettings] = {}
    keys = ("command", "args", "env", "cwd", "url", "headers", "trusted", "timeout")
    for name, entry in servers.items():
        if not isinstance(entry, dict):
            raise McpError(f"The server {name} in {path} is not an object.")
        fields = {k: entry[k] for k in keys if k in entry}
        if "url" not in fields and isinstance(entry.get("serverUrl"), str):
            fields["url"] = entry["serverUrl"]
        fields["enabled"] = not entry.get("disabled", False)
        try:
            found[str(name)] = McpServerSettings(**fields)
        except ValidationError as exc:
            why = validation_sentence(exc).removeprefix("Setting ")
            raise McpError(f"The server {name} in {path}: {why}") from None
    return found


def configured_servers(
    table: Mapping[str, McpServerSettings], config_dir: Path
) -> tuple[dict[str, McpServerSettings], list[str]]:
    """(servers by name, sentences about an mcp.json that could not be read)."""
    warnings: list[str] = []
    try:
        servers = read_mcp_json(config_dir / MCP_JSON)
    except McpError as exc:
        servers, warnings = {}, [str(exc)]
    servers.update(table)
    return {n: s for n, s in servers.items() if s.enabled}, warnings


def tool_name(server: str, tool: str) -> str:
    """``server__tool`` in the letters every model API accepts, at most 64."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", f"{server}__{tool}")
    return name[:64]


# ---------------------------------------------------------- the loop
class _Loop:
    """One asyncio loop on a daemon thread for every MCP server."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="mcp-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)


_LOOP: _Loop | None = None
_LOOP_LOCK = threading.Lock()


def _shared_loop() -> _Loop:
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None:
            _LOOP = _Loop()
        return _LOOP


def _wait(
    future: concurrent.futures.Future[T], timeout: float, cancel: threading.Event | None
) -> T:
    """The future's result; ``TimeoutError`` after ``timeout``; ``ToolFailed``
    when ``cancel`` is set first (the call is abandoned)."""
    waited = 0.0
    while True:
        try:
            return future.result(timeout=POLL_SECONDS)
        except concurrent.futures.TimeoutError:
            waited += POLL_SECONDS
            if cancel is not None and cancel.is_set():
                future.cancel()
                raise ToolFailed("Stopped by the user.") from None
            if waited >= timeout:
                future.cancel()
                raise TimeoutError from None


def _why(exc: BaseException) -> str:
    """An exception from the SDK or a transport in a few words."""
    if isinstance(exc, BaseExceptionGroup):
        inner = exc.exceptions[0] if exc.exceptions else exc
        return _why(inner)
    if isinstance(exc, FileNotFoundError):
        return f"the program {exc.filename or ''} was not found".replace("  ", " ")
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200].rstrip(".")


# ----------------------------------------------------------- a server
class McpServer:
    """One configured server: started on ``start()``, its tools listed."""

    def __init__(self, name: str, settings: McpServerSettings, log_dir: Path | None) -> None:
        self.name = name
        self.settings = settings
        self.log_dir = log_dir
        self._client: Any = None
        self._closing: asyncio.Event | None = None
        self._task: concurrent.futures.Future[None] | None = None
        self._dead: str | None = None
        self._log_file: Path | None = None
        self._loop = _shared_loop()

    # .............................................................. start
    def _transport(self) -> Any:
        from mcp import StdioServerParameters
        from mcp.client.stdio import stdio_client
        from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

        s = self.settings
        if s.url:
            url = expand(s.url, self.name)
            headers = {k: expand(v, self.name) for k, v in s.headers.items()}
            client = create_mcp_http_client(headers=headers) if headers else None
            return streamable_http_client(url, http_client=client)
        assert s.command
        params = StdioServerParameters(
            command=expand(s.command, self.name),
            args=[expand(a, self.name) for a in s.args],
            env={k: expand(v, self.name) for k, v in s.env.items()} or None,
            cwd=s.cwd,
        )
        return stdio_client(params, errlog=self._errlog())

    def _errlog(self) -> Any:
        """Where the server's stderr goes (held open for its life)."""
        if self.log_dir is not None:
            try:
                from assistant.paths import private_dir

                private_dir(self.log_dir)
                safe = re.sub(r"[^A-Za-z0-9_.-]", "_", self.name)
                self._log_file = self.log_dir / f"mcp-{safe}.log"
                return open(self._log_file, "a", encoding="utf-8")
            except OSError:
                pass
        return open(os.devnull, "w")

    async def _live(self, ready: asyncio.Future[Any]) -> None:
        from mcp import Client

        self._closing = asyncio.Event()
        try:
            transport = self._transport()
            async with Client(transport, read_timeout_seconds=self.settings.timeout) as client:
                self._client = client
                listed = await client.list_tools()
                if not ready.done():
                    ready.set_result(listed)
                await self._closing.wait()
        except BaseException as exc:  # every failure becomes the server's one sentence
            if not ready.done():
                ready.set_exception(exc)
            else:
                self._dead = _why(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self._client = None
            if self._dead is None and ready.done() and not ready.cancelled():
                self._dead = "it was closed"

    async def _start(self) -> Any:
        ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._task_handle = asyncio.ensure_future(self._live(ready))
        return await ready

    def start(self) -> list[Tool]:
        """Start the server and list its tools; a ``McpError`` sentence if it
        cannot be used."""
        timeout = self.settings.timeout
        try:
            listed = _wait(self._loop.submit(self._start()), timeout, None)
        except TimeoutError:
            self.close(wait=False)
            raise McpError(
                f"The MCP server {self.name} did not start within {timeout:g} s; its tools "
                "are left out."
            ) from None
        except AssistantError:
            raise
        except BaseException as exc:
            log = f"; its messages are in {self._log_file}" if self._log_file else ""
            raise McpError(
                f"The MCP server {self.name} could not start ({_why(exc)}{log}); its tools "
                "are left out."
            ) from None
        tools = []
        for tool in listed.tools:
            hints = tool.annotations
            read_only = bool(hints and hints.read_only_hint)
            schema = dict(tool.input_schema or {"type": "object", "properties": {}})
            tools.append(
                Tool(
                    ToolSpec(
                        tool_name(self.name, tool.name),
                        (tool.description or tool.name).strip()[:1024],
                        schema,
                    ),
                    self._caller(tool.name),
                    source=f"mcp:{self.name}",
                    read_only=read_only,
                    asks_first=not self.settings.trusted,
                )
            )
        return tools

    # ............................................................... call
    def _caller(self, remote_name: str) -> Any:
        def run(arguments: Mapping[str, Any], context: ToolContext) -> str:
            return self.call(remote_name, dict(arguments), context.cancel)

        return run

    def call(self, name: str, arguments: dict[str, Any], cancel: threading.Event | None) -> str:
        if self._dead is not None or self._client is None:
            why = self._dead or "it is not running"
            raise ToolFailed(f"The MCP server {self.name} cannot be used: {why}.")
        client = self._client
        timeout = self.settings.timeout

        async def call() -> Any:
            return await client.call_tool(name, arguments, read_timeout_seconds=timeout)

        try:
            result = _wait(self._loop.submit(call()), timeout + 1, cancel)
        except TimeoutError:
            raise ToolFailed(
                f"The MCP server {self.name} did not answer the call to {name} within "
                f"{timeout:g} s."
            ) from None
        except AssistantError:
            raise
        except BaseException as exc:
            from mcp import MCPError
            from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

            code = exc.code if isinstance(exc, MCPError) else None
            if code == REQUEST_TIMEOUT:
                raise ToolFailed(
                    f"The MCP server {self.name} did not answer the call to {name} within "
                    f"{timeout:g} s."
                ) from None
            if code is None or code == CONNECTION_CLOSED:  # the server (or the link) is gone
                self._dead = self._dead or _why(exc)
            raise ToolFailed(
                f"The MCP server {self.name} failed during the call to {name} ({_why(exc)})."
            ) from None
        text = _result_text(result)
        if getattr(result, "is_error", False):
            raise ToolFailed(f"{name} reported an error: {text[:500] or 'no details'}")
        return text

    def close(self, wait: bool = True) -> None:
        """Stop the server (a stdio one's process ends with it); ``wait``
        False cancels it at once (one that never finished starting)."""
        closing = self._closing
        if closing is not None:
            self._loop.loop.call_soon_threadsafe(closing.set)
        handle = getattr(self, "_task_handle", None)
        if handle is not None:

            async def finish() -> None:
                if not wait:
                    handle.cancel()
                try:
                    await asyncio.wait_for(asyncio.shield(handle), 5)
                except BaseException:
                    handle.cancel()

            try:
                self._loop.submit(finish()).result(timeout=10)
            except BaseException:
                pass


def _result_text(result: Any) -> str:
    parts: list[str] = []
    for block in getattr(result, "content", None) or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(str(getattr(block, "text", "")))
        elif kind == "resource":
            resource = getattr(block, "resource", None)
            text = getattr(resource, "text", None)
            parts.append(str(text) if text is not None else "[a binary resource, not shown]")
        else:
            parts.append(f"[{kind or 'content'} not shown]")
    structured = getattr(result, "structured_content", None)
    if not parts and structured is not None:
        parts.append(json.dumps(structured, ensure_ascii=False))
    return "\n".join(parts)


# --------------------------------------------------------- registry
class McpServers:
    """The servers added to a registry, to close them together."""

    def __init__(self) -> None:
        self.servers: list[McpServer] = []

    def close(self) -> None:
        for server in self.servers:
            server.close()


def add_mcp_servers(
    registry: ToolRegistry,
    table: Mapping[str, McpServerSettings],
    config_dir: Path,
    log_dir: Path | None = None,
) -> McpServers:
    """Make every configured server a provider of ``registry``: started the
    first time the tools are listed."""
    servers, warnings = configured_servers(table, config_dir)
    registry.warnings.extend(warnings)
    started = McpServers()
    for name, settings in servers.items():
        server = McpServer(name, settings, log_dir)
        started.servers.append(server)
        registry.add_provider(f"MCP server {name}", server.start)
    return started
