"""Download a GGUF model from a plain http(s) URL: resumable, verified, never half-used.

(A model named on the Hugging Face hub, ``owner/repo[:QUANT]``, goes through
``assistant.llm.hub`` instead.)

Bytes go to ``NAME.gguf.part``; an interrupted download resumes from there with
an HTTP Range request (a server that ignores Range makes us start over). The
file is renamed into place only when it is complete by every measure we have:
as long as the server said (``Content-Length`` / ``Content-Range``), a GGUF
header and tensor table that parse to the end of the data (a file cut short,
or a 4-byte file holding ``GGUF``, is refused), and the sha256 when one is
given. So the app never loads an unfinished file.
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
from assistant.llm.gguf_meta import GGUFDamaged, read_header
from assistant.paths import private_dir

CHUNK = 1 << 20


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None
    resumed_from: int
    label: str = ""


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


def _server_total(resp: object, have: int) -> int | None:
    """The full length of the file as the server states it (Content-Range
    total for a resumed request, else Content-Length), or None."""
    headers = getattr(resp, "headers", {})
    content_range = headers.get("Content-Range", "")
    if "/" in content_range:
        total = content_range.rsplit("/", 1)[1].strip()
        if total.isdigit():
            return int(total)
    length = headers.get("Content-Length")
    if length and length.isdigit():
        return have + int(length)
    return None


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

    if not url.startswith(("http://", "https://")):
        raise ModelError(
            f"'{url}' is neither an http(s) URL nor a hub repository (owner/repo); "
            "find one with `assistant models search WORDS`."
        )
    private_dir(dest_dir)
    final = dest_dir / (name or file_name_for(url))
    if final.exists():
        raise ModelError(f"{final} already exists; remove it first to download again.")
    part = final.with_name(final.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    total: int | None = None
    try:
        with httpx.stream(
            "GET", url, headers=headers, follow_redirects=True, timeout=timeout
        ) as resp:
            if resp.status_code == 416 and have:  # already complete
                total = have
            elif resp.status_code >= 400:
                raise ModelError(f"The server answered {resp.status_code} for {url}.")
            else:
                if resp.status_code != 206:
                    have = 0  # no resume support: start over
                total = _server_total(resp, have)
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
    except httpx.RemoteProtocolError:
        if total is not None and have < total:  # the connection closed before the end
            raise ModelError(
                f"The download of {url} ended early ({have:,} of {total:,} bytes); "
                "run the same command again to resume."
            ) from None
        raise ModelError(
            f"The connection broke while downloading {url}; run the same command again to resume."
        ) from None
    except httpx.HTTPError as exc:
        raise ModelError(
            f"Could not download {url}: {exc}; run the same command again to resume."
        ) from None
    if total is not None and have < total:
        raise ModelError(
            f"The download of {url} ended early ({have:,} of {total:,} bytes); "
            "run the same command again to resume."
        )
    if total is not None and have > total:
        part.unlink(missing_ok=True)
        raise ModelError(
            f"The server sent {have:,} bytes for {url} but said it had {total:,}; "
            "the file was deleted."
        )
    try:
        read_header(part)
    except GGUFDamaged as exc:
        part.unlink(missing_ok=True)
        what = str(exc).replace(part.name, final.name, 1)
        raise ModelError(f"The file at {url} is not a usable model: {what}") from None
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
    """GGUF files downloaded from URLs (and the assembled bundled model)."""
    if not models_dir.is_dir():
        return []
    return sorted(p for p in models_dir.glob("*.gguf") if p.is_file())
