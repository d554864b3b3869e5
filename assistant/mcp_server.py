"""``assistant mcp serve``: the user's notes and history for other agents,
over MCP (the official SDK's server), read-only.

Tools: ``search_notes`` (passages with collection/path:lines to cite),
``ask_notes`` (a grounded answer from the configured model, with its
sources), ``search_history``, ``get_conversation`` and
``list_collections``. Nothing they do writes: ``ask_notes`` stores no
conversation. Over stdio (what Claude Desktop, Cursor and VS Code start) or
streamable HTTP, where every request must carry ``Authorization: Bearer
TOKEN``; a request without it is answered 401 before the SDK sees it.

This is a shell beside the UI: it wires the runtime to the SDK and prints
nothing (stdout is the protocol); the CLI says where it listens.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.runtime import Runtime

SERVER_NAME = "assistant-notes"
MAX_HITS = 20


def build_server(rt: Runtime) -> Any:
    """The MCPServer with the five read-only tools."""
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    server = MCPServer(
        SERVER_NAME,
        instructions=(
            "Search and cite the user's own notes (file:lines) and their past conversations "
            "with their local assistant. Everything is read-only."
        ),
        log_level="ERROR",  # stderr is the client's log pane: no INFO chatter there
    )
    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False)

    @server.tool(
        description="Search the user's notes (hybrid keyword and vector search). Returns "
        "numbered passages, each with collection/path:start-end to cite.",
        annotations=read_only,
    )
    def search_notes(query: str, k: int = 6, collection: str | None = None) -> str:
        return _sentence(lambda: _search_notes(rt, query, k, collection))

    @server.tool(
        description="Answer a question from the user's notes with their local model; the "
        "answer cites passages as [n] and lists the sources with file:lines.",
        annotations=read_only,
    )
    def ask_notes(question: str, collection: str | None = None) -> str:
        return _sentence(lambda: _ask_notes(rt, question, collection))

    @server.tool(
        description="Full-text search of the user's past conversations; each hit names the "
        "conversation and message ids (see get_conversation).",
        annotations=read_only,
    )
    def search_history(query: str, limit: int = 10) -> str:
        return _sentence(lambda: _search_history(rt, query, limit))

    @server.tool(
        description="One conversation (its current branch) as Markdown, with the sources "
        "its answers cited.",
        annotations=read_only,
    )
    def get_conversation(conversation_id: int) -> str:
        from assistant.chat.transfer import thread_markdown

        return _sentence(lambda: thread_markdown(rt.chat.thread(conversation_id)))

    @server.tool(
        description="The user's notes collections: name, folder, files and passages.",
        annotations=read_only,
    )
    def list_collections() -> str:
        return _sentence(lambda: _list_collections(rt))

    return server


def _sentence(run: Callable[[], str]) -> str:
    """``run()``; a problem the user could fix (an unknown conversation or
    collection) is the tool's error sentence, not a traceback."""
    from mcp.server.mcpserver.exceptions import ToolError

    from assistant.errors import AssistantError

    try:
        return run()
    except AssistantError as exc:
        raise ToolError(str(exc)) from None


def _list_collections(rt: Runtime) -> str:
    rows = rt.notes.collections()
    if not rows:
        return "No notes collection is registered."
    return "\n".join(f"{c.name}: {c.root} ({c.files} files, {c.chunks} passages)" for c in rows)


def _search_notes(rt: Runtime, query: str, k: int, collection: str | None) -> str:
    from assistant.tools.base import ToolContext
    from assistant.tools.builtin import builtin_tools

    search = next(t for t in builtin_tools(lambda: rt.notes) if t.name == "search_notes")
    arguments = {"query": query, "k": max(1, min(MAX_HITS, k)), "collection": collection}
    output = search.run(arguments, ToolContext())
    return output if isinstance(output, str) else output.text


def _ask_notes(rt: Runtime, question: str, collection: str | None) -> str:
    from assistant.chat.notes_answer import answer_from_notes

    grounding = rt.notes.grounding(collection=collection)
    result = answer_from_notes(
        rt.model_handle.get(),
        grounding,
        question,
        rt.generation_options(),
        rt.settings.system_prompt,
    )
    if not result.citations:
        return result.text
    sources = "\n".join(c.label for c in result.citations)
    return f"{result.text}\n\nSources:\n{sources}"


def _search_history(rt: Runtime, query: str, limit: int) -> str:
    hits = rt.repo.search(query, limit=max(1, min(50, limit)))
    if not hits:
        return f"No message matches “{query}”."
    return "\n".join(
        f"conversation {h.conversation_id} “{h.conversation_title}”, message {h.message_id} "
        f"({h.role}): {h.marked('«', '»')}"
        for h in hits
    )


def bearer_guard(app: Any, token: str) -> Any:
    """``app`` behind a check of ``Authorization: Bearer TOKEN`` (constant time)."""
    from starlette.responses import JSONResponse

    expected = f"Bearer {token}".encode()

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, expected):
                response = JSONResponse(
                    {"error": "a bearer token is needed (Authorization: Bearer TOKEN)"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await app(scope, receive, send)

    return guarded


def serve_stdio(rt: Runtime) -> None:
    build_server(rt).run("stdio")


def serve_http(rt: Runtime, host: str, port: int, token: str) -> None:
    import uvicorn

    app = bearer_guard(build_server(rt).streamable_http_app(host=host), token)
    uvicorn.run(app, host=host, port=port, log_level="warning")
