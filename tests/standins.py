"""Stand-ins for the outside world, real enough to fail for real, on loopback.

``BadServer`` is an HTTP server that speaks just enough of the OpenAI
chat-completions API to be configured as ``base_url``, and then misbehaves in
one chosen way: an HTML page or binary data instead of an event stream, no
answer at all, a stall or a dropped connection in the middle of a reply. It is
written on raw sockets (not an HTTP framework) so that each fault is exactly
what goes over the wire. ``mounted_tmpfs`` mounts a real small file system
(full disks, read-only folders). Tests and ``bench.reliability`` share them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MODES = ("ok", "slow", "html", "binary", "json", "silent", "stall", "drop", "unfinished", "error")

_HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Welcome</title></head>\n"
    b"<body><h1>It works!</h1><p>This is the default page.</p></body></html>\n"
)


def _sse(text: str | None = None, finish: str | None = None) -> bytes:
    chunk = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [
            {"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}
        ],
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class BadServer:
    """An OpenAI-compatible server on 127.0.0.1 that answers in ``mode``:

    ok          a proper event stream: WORDS, then finish_reason and [DONE]
    slow        the same, one piece every ``delay`` seconds
    html        200 with a web page (a base_url that points at a web site)
    binary      200 with application/octet-stream bytes
    json        200 with a plain (non-streamed) chat completion
    silent      accepts the connection and the request, never answers
    stall       headers and the first pieces, then nothing, connection open
    drop        the first pieces, then the connection is cut mid-body
    unfinished  the first pieces, then a clean end without a final event
    error       500 with a JSON error body
    """

    WORDS = ("The ", "lighthouse ", "keeper ", "lit ", "the ", "lamp.")

    def __init__(self, mode: str = "ok", delay: float = 0.3) -> None:
        if mode not in MODES:
            raise ValueError(mode)
        self.mode = mode
        self.delay = delay
        self.requests = 0
        self._stop = threading.Event()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> BadServer:
        self._accept.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._accept.join(timeout=5)
        for t in self._threads:
            t.join(timeout=5)
        self._sock.close()

    # ------------------------------------------------------------ serving
    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            t = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _read_request(self, conn: socket.socket) -> bytes:
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            part = conn.recv(65536)
            if not part:
                return data
            data += part
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            part = conn.recv(65536)
            if not part:
                break
            body += part
        return head

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds``; False when the server is being closed."""
        return not self._stop.wait(seconds)

    def _handle(self, conn: socket.socket) -> None:
        try:
            head = self._read_request(conn)
            self.requests += 1
            if b"/models" in head.split(b"\r\n", 1)[0]:
                body = json.dumps({"data": [{"id": "stand-in"}]}).encode()
                conn.sendall(self._head("application/json", len(body)) + body)
                return
            getattr(self, f"_{self.mode}")(conn)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    @staticmethod
    def _head(content_type: str, length: int | None = None, status: str = "200 OK") -> bytes:
        lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}"]
        lines.append(
            f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
        )
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def _stream(self, conn: socket.socket, words: int, delay: float) -> None:
        conn.sendall(self._head("text/event-stream"))
        for word in self.WORDS[:words]:
            conn.sendall(_chunked(_sse(word)))
            if delay and not self._wait(delay):
                return

    def _ok(self, conn: socket.socket) -> None:
        self._stream(conn, len(self.WORDS), 0.0)
        conn.sendall(_chunked(_sse(finish="stop")) + _chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")

    def _slow(self, conn: socket.socket) -> None:
        self._stream(conn, len(self.WORDS), self.delay)
        conn.sendall(_chunked(_sse(finish="stop")) + _chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")

    def _html(self, conn: socket.socket) -> None:
        conn.sendall(self._head("text/html; charset=utf-8", len(_HTML)) + _HTML)

    def _binary(self, conn: socket.socket) -> None:
        body = bytes(range(256)) * 64
        conn.sendall(self._head("application/octet-stream", len(body)) + body)

    def _json(self, conn: socket.socket) -> None:
        body = json.dumps(
            {
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(self.WORDS)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 9, "completion_tokens": 6},
            }
        ).encode()
        conn.sendall(self._head("application/json", len(body)) + body)

    def _error(self, conn: socket.socket) -> None:
        body = b'{"error": {"message": "model is overloaded"}}'
        conn.sendall(self._head("application/json", len(body), "500 Internal Server Error") + body)

    def _silent(self, conn: socket.socket) -> None:
        while self._wait(0.1):
            pass

    def _stall(self, conn: socket.socket) -> None:
        self._stream(conn, 3, 0.05)
        while self._wait(0.1):
            pass

    def _drop(self, conn: socket.socket) -> None:
        self._stream(conn, 3, 0.05)
        conn.sendall(b"4000\r\npartial")  # a chunk that never ends, then the cut
        conn.shutdown(socket.SHUT_RDWR)

    def _unfinished(self, conn: socket.socket) -> None:
        self._stream(conn, 3, 0.05)
        conn.sendall(b"0\r\n\r\n")


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


@contextmanager
def mounted_tmpfs(where: Path, size: str = "1m") -> Iterator[Path]:
    """A real tmpfs of ``size`` mounted at ``where`` (needs root, as in the
    project's sandbox and CI): writes beyond it fail with ENOSPC, and
    ``remount_read_only`` turns it into a read-only file system (EROFS)."""
    where.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"cannot mount a tmpfs at {where}: {result.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def remount_read_only(where: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True, capture_output=True)


def fill_disk(folder: Path) -> Path:
    """Fill the file system holding ``folder`` to the last byte; the filler's path."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 20, 65536, 4096, 512, 1):
            block = b"\0" * size
            while True:
                try:
                    os.write(fd, block)
                except OSError:
                    break
    finally:
        os.close(fd)
    return filler


def corrupt_page(database: Path, table: str = "messages", *, keep_mtime: bool = False) -> int:
    """Scribble over one leaf page of ``table`` (a real damaged page: SQLite's
    checks find it, reads that touch it fail); returns the page number.
    ``keep_mtime`` puts the file's modification time back afterwards."""
    import sqlite3

    con = sqlite3.connect(database)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        try:
            leaves = [
                r[0]
                for r in con.execute(
                    "SELECT pageno FROM dbstat WHERE name=? AND pagetype='leaf' ORDER BY pageno",
                    (table,),
                )
            ]
        except sqlite3.OperationalError:  # an SQLite built without dbstat
            leaves = []
    finally:
        con.close()
    st = database.stat()
    page = leaves[len(leaves) // 2] if leaves else st.st_size // page_size // 2
    with open(database, "r+b") as fh:
        fh.seek((page - 1) * page_size + 8)
        fh.write(b"\xde\xad\xbe\xef" * ((page_size - 8) // 4))
    if keep_mtime:
        os.utime(database, ns=(st.st_atime_ns, st.st_mtime_ns))
    return page


class FileServer:
    """An HTTP file server on 127.0.0.1 that serves ``files`` (URL path ->
    bytes or a file) in one of these ways, per path (``ways``):

    full      the whole body with its Content-Length
    cut       the whole Content-Length announced, the connection cut after ``cut`` bytes
    chunked   no Content-Length (chunked), ending cleanly after ``cut`` bytes
    """

    def __init__(
        self,
        files: dict[str, bytes | Path],
        ways: dict[str, str],
        cut: int = 1 << 20,
        types: dict[str, str] | None = None,  # path -> Content-Type (default: octet-stream)
    ):
        import http.server

        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                source = server.files.get(self.path)
                if source is None:
                    self.send_error(404)
                    return
                data = source if isinstance(source, bytes) else None
                size = len(data) if data is not None else Path(source).stat().st_size
                way = server.ways.get(self.path, "full")
                self.send_response(200)
                kind = (server.types or {}).get(self.path, "application/octet-stream")
                self.send_header("Content-Type", kind)
                if way == "chunked":
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(size))
                self.send_header("Connection", "close")
                self.end_headers()
                limit = size if way == "full" else min(server.cut, size)
                sent = 0
                for block in server._blocks(source, limit):
                    if way == "chunked":
                        self.wfile.write(_chunked(block))
                    else:
                        self.wfile.write(block)
                    sent += len(block)
                if way == "chunked":
                    self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                if way == "cut":
                    self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True

        self.files = files
        self.ways = ways
        self.cut = cut
        self.types = types
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @staticmethod
    def _blocks(source: bytes | Path, limit: int) -> Iterator[bytes]:
        if isinstance(source, bytes):
            yield source[:limit]
            return
        with open(source, "rb") as fh:
            left = limit
            while left > 0:
                block = fh.read(min(1 << 20, left))
                if not block:
                    return
                left -= len(block)
                yield block

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class FullBacklogServer:
    """A listening socket whose accept queue is full and never drained: the
    kernel drops new connection requests, so a client's connect hangs until
    its own timeout (a server that never answers, at the TCP level)."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(0)
        self.port = self._sock.getsockname()[1]
        self._fillers: list[socket.socket] = []
        for _ in range(4):  # more than the queue holds; the extra ones just wait
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", self.port))
            self._fillers.append(s)
        time.sleep(0.2)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FullBacklogServer:
        return self

    def __exit__(self, *exc: object) -> None:
        for s in self._fillers:
            s.close()
        self._sock.close()


class ToolCallingServer:
    """An OpenAI-compatible server on 127.0.0.1 that calls tools, as vLLM, the
    llama.cpp server and Ollama do over the wire.

    A request that offers ``tools`` and does not end with a tool result is
    answered with a streamed call to the first offered tool that ``plan``
    names (tool name -> arguments), sent as ``tool_calls`` deltas: the id and
    name first, then the arguments in small pieces, then ``finish_reason``
    ``tool_calls``. A request that ends with tool results is answered with
    text built from them: ``From the tool: RESULT``. Anything else gets
    ``answer`` (``Plain answer.``). Every request body is kept in ``bodies``;
    ``delay`` seconds pass between pieces (0: none).
    """

    def __init__(
        self, plan: dict[str, dict[str, object]], delay: float = 0.0, answer: str = "Plain answer."
    ) -> None:
        import http.server

        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                body = json.dumps({"data": [{"id": "tool-model", "object": "model"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                server.bodies.append(request)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for event in server.events(request):
                    if server.delay:
                        time.sleep(server.delay)
                    self.wfile.write(_chunked(f"data: {json.dumps(event)}\n\n".encode()))
                    self.wfile.flush()
                self.wfile.write(_chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")
                self.wfile.flush()

        self.plan = plan
        self.delay = delay
        self.answer = answer
        self.bodies: list[dict[str, object]] = []
        self.calls_sent = 0
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @staticmethod
    def _chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
        return {
            "id": "tc1",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def events(self, request: dict[str, object]) -> Iterator[dict[str, object]]:
        messages = request.get("messages") or []
        assert isinstance(messages, list)
        tools = request.get("tools") or []
        assert isinstance(tools, list)
        last = messages[-1] if messages else {}
        if last.get("role") == "tool":
            results = []
            for message in reversed(messages):
                if message.get("role") != "tool":
                    break
                results.insert(0, str(message.get("content") or ""))
            text = "From the tool: " + " | ".join(results)
            for word in text.split(" "):
                yield self._chunk({"content": word + " "})
            yield self._chunk({}, "stop")
            return
        offered = [t["function"]["name"] for t in tools if isinstance(t, dict)]
        wanted = next((name for name in offered if name in self.plan), None)
        if wanted is None:
            yield self._chunk({"content": self.answer})
            yield self._chunk({}, "stop")
            return
        self.calls_sent += 1
        arguments = json.dumps(self.plan[wanted])
        call_id = f"call_{self.calls_sent}"
        yield self._chunk({"role": "assistant", "content": None})
        yield self._chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": wanted, "arguments": ""},
                    }
                ]
            }
        )
        for at in range(0, len(arguments), 7):
            piece = arguments[at : at + 7]
            yield self._chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        yield self._chunk({}, "tool_calls")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ToolCallingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
