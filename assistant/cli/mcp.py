"""``assistant mcp serve``: your notes and history for other agents over MCP."""

from __future__ import annotations

import os
from typing import Any

import click

from assistant.cli.console import say
from assistant.cli.options import model_options, runtime

TOKEN_ENV = "ASSISTANT_MCP_TOKEN"


@click.group()
def mcp() -> None:
    """Serve your notes and history to other agents (Claude Desktop, Cursor, VS Code)."""


@mcp.command()
@click.option(
    "--http", "address", metavar="HOST:PORT",
    help="Streamable HTTP at http://HOST:PORT/mcp instead of stdio; needs a bearer token.",
)  # fmt: skip
@model_options
@click.pass_context
def serve(ctx: click.Context, address: str | None, **_options: Any) -> int:
    """Serve search_notes, ask_notes, search_history, get_conversation and
    list_collections, read-only. Over HTTP every request needs
    "Authorization: Bearer TOKEN": the token is ASSISTANT_MCP_TOKEN, or one
    made up now and printed on stderr."""
    from assistant.errors import UsageError
    from assistant.mcp_server import serve_http, serve_stdio

    rt = runtime(ctx)
    if address is None:
        serve_stdio(rt)
        return 0
    host, colon, port_text = address.rpartition(":")
    if not colon or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"--http takes HOST:PORT, e.g. 127.0.0.1:8765, not “{address}”.")
    token = os.environ.get(TOKEN_ENV)
    if not token:
        import secrets

        token = secrets.token_urlsafe(24)
        say(f"Bearer token (set {TOKEN_ENV} to choose your own): {token}")
    say(f"Serving MCP at http://{host}:{port_text}/mcp (Ctrl-C stops).")
    serve_http(rt, host.strip("[]"), int(port_text), token)
    return 0
