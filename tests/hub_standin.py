"""A stand-in for the Hugging Face hub on loopback, for tests and benchmarks.

It answers what ``huggingface_hub`` asks (point it there with
``HF_ENDPOINT``): the repository listing with each file's LFS size and sha256
(``/api/models/OWNER/REPO``), the model search (``/api/models?search=``), and
``/OWNER/REPO/resolve/REV/PATH`` the way the hub does: a 302 carrying
``X-Repo-Commit``, ``X-Linked-Etag`` (the sha256) and ``X-Linked-Size`` to a
"CDN" on another host name (``localhost`` instead of ``127.0.0.1``) that
serves the bytes with ``ETag`` and ``Range``. Gated repositories answer 401
(no token) or 403 (a token without access) with ``X-Error-Code: GatedRepo``;
unknown ones 404 ``RepoNotFound``. Faults are per repository: ``status``
(e.g. 500 everywhere), ``hang`` (the listing never answers in time), and per
file: bytes served cut short or corrupted, a listed checksum that is wrong,
a throttle in bytes per second. Bytes served are counted per file.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse


@dataclass
class HostedFile:
    source: Path  # bytes on disk
    serve_bytes: int | None = None  # serve only this many bytes (a cut)
    corrupt_at: int | None = None  # flip the byte at this offset when serving
    listed_sha256: str | None = None  # what the listing claims (default: the real one)
    listed_size: int | None = None
    _sha: str | None = None

    @property
    def size(self) -> int:
        return self.source.stat().st_size

    @property
    def sha256(self) -> str:
        if self._sha is None:
            digest = hashlib.sha256()
            with open(self.source, "rb") as fh:
                while block := fh.read(1 << 20):
                    digest.update(block)
            self._sha = digest.hexdigest()
        return self._sha


@dataclass
class HostedRepo:
    files: dict[str, HostedFile]
    commit: str = ""
    gated: bool = False
    status: int | None = None  # every request about this repo answers this
    hang: float = 0.0  # the listing waits this long first
    downloads: int = 0

    def __post_init__(self) -> None:
        if not self.commit:
            self.commit = hashlib.sha1(repr(sorted(self.files)).encode()).hexdigest()


@dataclass
class Stats:
    served: dict[str, int] = field(default_factory=dict)  # sha256 -> bytes sent
    requests: list[str] = field(default_factory=list)
    ranges: list[str] = field(default_factory=list)


class HubStandIn:
    """``with HubStandIn() as hub: hub.add("me/model-GGUF", {...}); hub.endpoint``"""

    def __init__(self, token: str = "good-token") -> None:
        self.repos: dict[str, HostedRepo] = {}
        self.token = token
        self.stats = Stats()
        self.throttle: float | None = None  # bytes per second for file bodies
        # a file body stops after this many bytes until ``release`` is set
        # (a kill at a known point, with nothing left in transit)
        self.pause_at: int | None = None
        self.paused = threading.Event()
        self.release = threading.Event()
        self.chunk = 256 * 1024
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def cdn(self) -> str:
        return f"http://localhost:{self.port}"

    def add(self, repo_id: str, files: dict[str, HostedFile], **kwargs: object) -> HostedRepo:
        repo = HostedRepo(files, **kwargs)  # type: ignore[arg-type]
        self.repos[repo_id] = repo
        return repo

    def served(self, sha256: str) -> int:
        return self.stats.served.get(sha256, 0)

    def __enter__(self) -> HubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ----------------------------------------------------------- handler
    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:  # noqa: N802
                self.route(head=True)

            def do_GET(self) -> None:  # noqa: N802
                self.route(head=False)

            # -------------------------------------------------- replies
            def reply_json(
                self, status: int, body: object, headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def error(self, status: int, code: str, message: str) -> None:
                self.reply_json(
                    status,
                    {"error": message},
                    {"X-Error-Code": code, "X-Error-Message": message},
                )

            def authorized(self, repo: HostedRepo) -> bool:
                if not repo.gated:
                    return True
                auth = self.headers.get("Authorization", "")
                if auth == f"Bearer {hub.token}":
                    return True
                status = 403 if auth else 401
                self.error(status, "GatedRepo", "Access to this model is restricted.")
                return False

            # --------------------------------------------------- routes
            def route(self, head: bool) -> None:
                url = urlparse(self.path)
                path = unquote(url.path)
                with hub._lock:
                    hub.stats.requests.append(f"{self.command} {self.path}")
                if path == "/api/models":
                    return self.search(parse_qs(url.query))
                if path.startswith("/api/models/"):
                    return self.listing(path[len("/api/models/") :])
                if path.startswith("/cdn/"):
                    query = parse_qs(url.query)
                    return self.file_body(
                        path[len("/cdn/") :],
                        head,
                        (query.get("repo") or [""])[0],
                        (query.get("file") or [""])[0],
                    )
                parts = path.strip("/").split("/")
                if len(parts) >= 5 and parts[2] == "resolve":
                    return self.resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
                self.error(404, "EntryNotFound", "Not found.")

            def find(self, repo_id: str) -> HostedRepo | None:
                repo = hub.repos.get(repo_id)
                if repo is None:
                    self.error(404, "RepoNotFound", "Repository not found.")
                    return None
                if repo.status is not None:
                    self.reply_json(repo.status, {"error": "Internal Error"})
                    return None
                return repo

            def search(self, query: dict[str, list[str]]) -> None:
                text = (query.get("search") or [""])[0].lower()
                found = [
                    {
                        "id": rid,
                        "downloads": repo.downloads,
                        "likes": 1,
                        "lastModified": "2026-01-02T00:00:00.000Z",
                        "tags": ["gguf"],
                    }
                    for rid, repo in hub.repos.items()
                    if text in rid.lower() and repo.status is None
                ]
                found.sort(key=lambda r: -int(r["downloads"]))  # type: ignore[call-overload]
                self.reply_json(200, found)

            def listing(self, rest: str) -> None:
                parts = rest.split("/")
                repo_id = "/".join(parts[:2])
                repo = hub.repos.get(repo_id)
                if repo is not None and repo.hang:
                    time.sleep(repo.hang)
                repo = self.find(repo_id)
                if repo is None:
                    return
                siblings = [
                    {
                        "rfilename": name,
                        "size": f.listed_size or f.size,
                        "blobId": hashlib.sha1(name.encode()).hexdigest(),
                        "lfs": {
                            "sha256": f.listed_sha256 or f.sha256,
                            "size": f.listed_size or f.size,
                            "pointerSize": 134,
                        },
                    }
                    for name, f in repo.files.items()
                ]
                siblings.append({"rfilename": "README.md", "size": 12, "blobId": "0" * 40})
                self.reply_json(
                    200,
                    {
                        "id": repo_id,
                        "modelId": repo_id,
                        "sha": repo.commit,
                        "private": False,
                        "gated": "manual" if repo.gated else False,
                        "tags": ["gguf"],
                        "siblings": siblings,
                    },
                )

            def resolve(self, repo_id: str, revision: str, name: str) -> None:
                repo = self.find(repo_id)
                if repo is None or not self.authorized(repo):
                    return
                f = repo.files.get(name)
                if f is None or revision not in ("main", repo.commit):
                    self.error(404, "EntryNotFound", f"{name} not found.")
                    return
                self.send_response(302)
                self.send_header("Location", f"{hub.cdn}/cdn/{f.sha256}?repo={repo_id}&file={name}")
                self.send_header("X-Repo-Commit", repo.commit)
                self.send_header("X-Linked-Etag", f'"{f.sha256}"')
                self.send_header("X-Linked-Size", str(f.size))
                self.send_header("ETag", f'"{hashlib.sha1(name.encode()).hexdigest()}"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            def file_body(self, sha: str, head: bool, repo_id: str, name: str) -> None:
                repo = hub.repos.get(repo_id)
                hosted = repo.files.get(name) if repo is not None else None
                if hosted is not None and hosted.sha256 != sha:
                    hosted = None
                if hosted is None:
                    self.error(404, "EntryNotFound", "No such blob.")
                    return
                size = hosted.size
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0] or 0)
                    with hub._lock:
                        hub.stats.ranges.append(rng)
                if start >= size and size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
                self.send_header("Content-Length", str(size - start))
                self.send_header("ETag", f'"{sha}"')
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if head:
                    return
                limit = hosted.serve_bytes if hosted.serve_bytes is not None else size
                self.send_body(hosted, sha, start, limit)

            def send_body(self, hosted: HostedFile, sha: str, start: int, limit: int) -> None:
                began = time.monotonic()
                sent = 0
                with open(hosted.source, "rb") as fh:
                    fh.seek(start)
                    pos = start
                    while pos < limit:
                        want = min(hub.chunk, limit - pos)
                        if hub.pause_at is not None and pos < hub.pause_at:
                            want = min(want, hub.pause_at - pos)
                        elif hub.pause_at is not None and pos == hub.pause_at:
                            hub.paused.set()
                            hub.release.wait(60)
                        block = fh.read(want)
                        if not block:
                            break
                        if hosted.corrupt_at is not None and pos <= hosted.corrupt_at < pos + len(
                            block
                        ):
                            i = hosted.corrupt_at - pos
                            block = block[:i] + bytes([block[i] ^ 0xFF]) + block[i + 1 :]
                        try:
                            self.wfile.write(block)
                        except (BrokenPipeError, ConnectionResetError):
                            return
                        pos += len(block)
                        sent += len(block)
                        with hub._lock:
                            hub.stats.served[sha] = hub.stats.served.get(sha, 0) + len(block)
                        if hub.throttle:
                            ahead = sent / hub.throttle - (time.monotonic() - began)
                            if ahead > 0:
                                time.sleep(ahead)
                if pos < (hosted.size if hosted.serve_bytes is None else limit) or (
                    hosted.serve_bytes is not None and hosted.serve_bytes < hosted.size
                ):
                    self.close_connection = True
                    try:
                        self.connection.shutdown(2)
                    except OSError:
                        pass

        return Handler


def write_split(source: Path, folder: Path, parts: int) -> list[Path]:
    """Split a GGUF into ``parts`` files as llama.cpp's ``gguf-split`` does
    (``NAME-00001-of-0000N.gguf``): the first file keeps every metadata key,
    every file gets ``split.no`` (u16), ``split.count`` (u16) and
    ``split.tensors.count`` (i32) and holds whole tensors, each file's data
    aligned as the source is. The header is read with the ``gguf`` package;
    metadata and tensor bytes are copied as they are."""
    import struct

    from assistant.llm.gguf_meta import read_header

    reader = read_header(source)
    alignment = int(reader.alignment)
    kv_start = reader.fields["GGUF.kv_count"].offset + 8
    tensors = list(reader.tensors)
    kv_end = tensors[0].field.offset
    kv_count = int(reader.fields["GGUF.kv_count"].parts[0][0])
    raw = source.read_bytes()
    kv_bytes = raw[kv_start:kv_end]

    def kv(key: str, vtype: int, fmt: str, value: int) -> bytes:
        name = key.encode()
        return (
            struct.pack("<Q", len(name)) + name + struct.pack("<I", vtype) + struct.pack(fmt, value)
        )

    def pad(n: int) -> int:
        return (alignment - n % alignment) % alignment

    per_part = -(-len(tensors) // parts)
    stem = source.name.removesuffix(".gguf")
    out: list[Path] = []
    for n in range(parts):
        mine = tensors[n * per_part : (n + 1) * per_part]
        split_kv = (
            kv("split.no", 2, "<H", n)  # GGUF types: 2 = u16, 5 = i32
            + kv("split.count", 2, "<H", parts)
            + kv("split.tensors.count", 5, "<i", len(tensors))
        )
        infos = b""
        offset = 0
        for t in mine:
            name = t.name.encode()
            dims = [int(d) for d in t.shape]
            infos += struct.pack("<Q", len(name)) + name + struct.pack("<I", len(dims))
            infos += struct.pack(f"<{len(dims)}Q", *dims)
            infos += struct.pack("<IQ", int(t.tensor_type), offset)
            offset += int(t.n_bytes) + pad(int(t.n_bytes))
        head = b"GGUF" + struct.pack("<IQQ", 3, len(mine), (kv_count if n == 0 else 0) + 3)
        body = head + (kv_bytes if n == 0 else b"") + split_kv + infos
        body += b"\0" * pad(len(body))
        name_out = folder / f"{stem}-{n + 1:05d}-of-{parts:05d}.gguf"
        with open(name_out, "wb") as fh:
            fh.write(body)
            for t in mine:
                start = int(t.data_offset)
                fh.write(raw[start : start + int(t.n_bytes)])
                fh.write(b"\0" * pad(int(t.n_bytes)))
        out.append(name_out)
    return out
