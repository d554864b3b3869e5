"""Model downloads from a plain URL against a real local HTTP server: full
download, resume after a cut connection, checksum mismatch, server errors, a
truncated GGUF refused (a 1 MB cut, a 4-byte file holding ``GGUF``), and the
CLI around it."""

from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from assistant.errors import ModelError
from assistant.llm.download import pull


def _tiny_gguf() -> bytes:
    import tempfile

    from tests.models.conftest import write_tiny_gguf

    with tempfile.TemporaryDirectory() as folder:
        return write_tiny_gguf(Path(folder) / "tiny.gguf").read_bytes()


PAYLOAD = _tiny_gguf()  # a whole GGUF of about 1 MB
FILES: dict[str, bytes] = {}  # other paths the server answers


class Handler(http.server.BaseHTTPRequestHandler):
    cut_after: int | None = None  # bytes to send before dropping the connection
    ranges: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path.endswith("missing.gguf"):
            self.send_error(404)
            return
        data = FILES.get(self.path.rsplit("/", 1)[-1], PAYLOAD)
        rng = self.headers.get("Range")
        type(self).ranges.append(rng or "")
        start = 0
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if type(self).cut_after is not None:
            self.wfile.write(body[: type(self).cut_after])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    Handler.cut_after = None
    Handler.ranges = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_full_download_verified(server, tmp_path):
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    path = pull(f"{server}/models/tiny.gguf", tmp_path, sha256=sha)
    assert path == tmp_path / "tiny.gguf"
    assert path.read_bytes() == PAYLOAD
    assert not (tmp_path / "tiny.gguf.part").exists()


def test_cut_connection_resumes(server, tmp_path):
    Handler.cut_after = 300_000
    with pytest.raises(ModelError) as err:
        pull(f"{server}/tiny.gguf", tmp_path)
    assert "run the same command again to resume" in str(err.value)
    part = tmp_path / "tiny.gguf.part"
    assert part.stat().st_size == 300_000
    assert not (tmp_path / "tiny.gguf").exists()  # never a half file in place
    Handler.cut_after = None
    path = pull(f"{server}/tiny.gguf", tmp_path, sha256=hashlib.sha256(PAYLOAD).hexdigest())
    assert Handler.ranges[-1] == "bytes=300000-"
    assert path.read_bytes() == PAYLOAD


def test_checksum_mismatch_deletes(server, tmp_path):
    with pytest.raises(ModelError) as err:
        pull(f"{server}/tiny.gguf", tmp_path, sha256="0" * 64)
    assert "sha256" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_http_error_is_one_sentence(server, tmp_path):
    with pytest.raises(ModelError) as err:
        pull(f"{server}/missing.gguf", tmp_path)
    assert "404" in str(err.value)


@pytest.mark.parametrize("cut", [1_000_000, 4])
def test_truncated_gguf_is_refused(server, tmp_path, bundled_gguf, cut):
    """Issue 13 item 9: the server sends all it has, but the file is a cut GGUF."""
    with open(bundled_gguf, "rb") as src:
        FILES["cut.gguf"] = src.read(cut)
    try:
        with pytest.raises(ModelError) as err:
            pull(f"{server}/cut.gguf", tmp_path)
    finally:
        FILES.clear()
    text = str(err.value)
    assert text.startswith(f"The file at {server}/cut.gguf is not a usable model: cut.gguf")
    assert ("cut short" in text) if cut > 4 else ("only 4 bytes" in text)
    assert list(tmp_path.iterdir()) == []  # nothing renamed into place, nothing kept


def test_shorter_than_the_server_said_is_kept_to_resume(server, tmp_path):
    Handler.cut_after = len(PAYLOAD) // 2
    with pytest.raises(ModelError) as err:
        pull(f"{server}/tiny.gguf", tmp_path)
    assert f"ended early ({len(PAYLOAD) // 2:,} of {len(PAYLOAD):,} bytes)" in str(err.value)
    assert not (tmp_path / "tiny.gguf").exists()


def test_unfinished_download_is_refused_as_model(server, tmp_path):
    from assistant.llm.catalog import check_gguf

    part = tmp_path / "model.gguf.part"
    part.write_bytes(b"\x00" * 10)
    with pytest.raises(ModelError) as err:
        check_gguf(part)
    assert "unfinished download" in str(err.value)


def test_cli_pull_use_and_list(server, isolated_home):
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "assistant", *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )

    proc = cli("models", "pull", f"{server}/tiny.gguf", "--use")
    assert proc.returncode == 0, proc.stderr
    target = isolated_home / "cache" / "models" / "tiny.gguf"
    assert target.read_bytes() == PAYLOAD
    assert str(target) in (isolated_home / "config" / "config.toml").read_text()
    listing = json.loads(cli("models", "list", "--json").stdout)
    assert [m["name"] for m in listing["models"] if m["in_use"]] == ["tiny.gguf"]
    proc = cli("models", "pull", "qwen2.5-1.5b-instruct")  # no unchecked shortcut names
    assert proc.returncode == 2 and "models search" in proc.stderr
    proc = cli("models", "pull", f"{server}/missing.gguf")
    assert proc.returncode == 2 and "404" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("models", "use", str(Path("/nonexistent/x.gguf")))
    assert proc.returncode == 2 and "not found" in proc.stderr
