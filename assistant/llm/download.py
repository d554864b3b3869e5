"""Download GGUF models over HTTP(S): resumable, verified, never half-used.

Bytes go to ``NAME.gguf.part``; an interrupted download resumes from there with
an HTTP Range request (a server that ignores Range makes us start over). Only a
complete file that starts with the GGUF magic — and matches the sha256 when one
is known — is renamed into place, so the app never loads an unfinished file.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from assistant.errors import ModelError
from assistant.llm.catalog import GGUF_MAGIC
from assistant.paths import private_dir

CHUNK = 1 << 20

# A few instruct models that work well here; `assistant models pull NAME`.
KNOWN_MODELS: dict[str, str] = {
    "qwen2.5-1.5b-instruct": "https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct-GGUF/resolve/main/qwen2.5-1.5b-instruct-q4_k_m.gguf",
    "qwen2.5-3b-instruct": "https://huggingface.co/Qwen/Qwen2.5-3B-Instruct-GGUF/resolve/main/qwen2.5-3b-instruct-q4_k_m.gguf",
    "llama-3.2-3b-instruct": "https://huggingface.co/bartowski/Llama-3.2-3B-Instruct-GGUF/resolve/main/Llama-3.2-3B-Instruct-Q4_K_M.gguf",
}


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None
    resumed_from: int


def file_name_for(url: str) -> str:
    name = Path(unquote(urlparse(url).path)).name
    if not name:
        raise ModelError(f"Cannot tell a file name from {url}; pass --name.")
    return name if name.endswith(".gguf") else name + ".gguf"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def pull(
    url: str,
    dest_dir: Path,
    *,
    name: str | None = None,
    sha256: str | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download ``url`` into ``dest_dir`` and return the final path."""
    import httpx

    url = KNOWN_MODELS.get(url, url)
    if not url.startswith(("http://", "https://")):
        raise ModelError(f"'{url}' is neither a known model name nor an http(s) URL.")
    private_dir(dest_dir)
    final = dest_dir / (name or file_name_for(url))
    if final.exists():
        raise ModelError(f"{final} already exists; remove it first to download again.")
    part = final.with_name(final.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with httpx.stream(
            "GET", url, headers=headers, follow_redirects=True, timeout=timeout
        ) as resp:
            if resp.status_code == 416 and have:  # already complete
                pass
            elif resp.status_code >= 400:
                raise ModelError(f"The server answered {resp.status_code} for {url}.")
            else:
                if resp.status_code != 206:
                    have = 0  # no resume support: start over
                length = resp.headers.get("Content-Length")
                total = have + int(length) if length and length.isdigit() else None
                start = have
                with open(part, "ab" if have else "wb") as out:
                    os.chmod(part, 0o600)
                    for block in resp.iter_bytes():  # as received: a cut keeps every byte
                        if cancel is not None and cancel.is_set():
                            raise ModelError(
                                f"Download stopped; run the same command again to resume "
                                f"from {have // 2**20} MB."
                            )
                        out.write(block)
                        have += len(block)
                        if progress:
                            progress(Progress(have, total, start))
                    out.flush()
                    os.fsync(out.fileno())
                if total is not None and have < total:
                    raise ModelError(
                        f"The download of {url} ended early ({have} of {total} bytes); "
                        "run the same command again to resume."
                    )
    except httpx.HTTPError as exc:
        raise ModelError(
            f"Could not download {url}: {exc}; run the same command again to resume."
        ) from None
    with open(part, "rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            part.unlink()
            raise ModelError(f"{url} is not a GGUF model file.")
    if sha256:
        actual = sha256_of(part)
        if actual.lower() != sha256.lower():
            part.unlink()
            raise ModelError(
                f"The downloaded file's sha256 is {actual}, not {sha256}; it was deleted."
            )
    os.replace(part, final)
    return final


def installed_models(models_dir: Path) -> list[Path]:
    if not models_dir.is_dir():
        return []
    return sorted(p for p in models_dir.glob("*.gguf") if p.is_file())
