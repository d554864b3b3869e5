"""Real MCP servers for the tests, written with the SDK: ``python -m
tests.tools.mcp_servers MODE [PORT]``.

ok      stdio server with tools add, shout, crash (the process dies mid-call)
        and sleep (never answers)
http    the same tools over streamable HTTP on 127.0.0.1:PORT; it needs the
        header ``X-Token: secret-7`` (any other request gets 401)
hang    reads its stdin and never answers, not even the handshake
exit    writes to stderr and exits at once
"""

from __future__ import annotations

import os
import sys
import time


def build():  # type: ignore[no-untyped-def]
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("test-tools")

    @server.tool(description="Add two whole numbers.")
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool(description="The text in capitals.")
    def shout(text: str) -> str:
        return text.upper() + "\x1b[31m!"

    @server.tool(description="Kills the server in the middle of the call.")
    def crash() -> str:
        os._exit(3)

    @server.tool(description="The value of an environment variable of the server.")
    def env_value(name: str) -> str:
        return os.environ.get(name, "(unset)")

    @server.tool(description="Never answers.")
    def sleep() -> str:
        time.sleep(600)
        return "late"

    return server


def serve_http(port: int) -> None:
    import uvicorn
    from starlette.responses import PlainTextResponse

    app = build().streamable_http_app()

    async def guarded(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if headers.get(b"x-token") != b"secret-7":
                await PlainTextResponse("no", status_code=401)(scope, receive, send)
                return
        await app(scope, receive, send)

    uvicorn.run(guarded, host="127.0.0.1", port=port, log_level="error")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "ok":
        build().run("stdio")
    elif mode == "http":
        serve_http(int(sys.argv[2]))
    elif mode == "hang":
        for _line in sys.stdin:
            pass
        time.sleep(600)
    elif mode == "exit":
        sys.stderr.write("this server is broken\n")
        sys.exit(1)
