"""Saved model states: a conversation continued in a new process starts where
the last one stopped instead of re-reading the whole history.

After a reply, the KV cache of the sequence (llama.cpp's
``llama_state_seq_get_data``: raw bytes, never pickle) is written to the cache
folder with the exact tokens it holds. When a later prompt starts with some
of those tokens, the state is read back and llama.cpp only evaluates what is
new. One file per state::

    b"ASSTATE2" | u32 header length | header JSON | int32 tokens | state bytes

The header names the model (the sha256 of its file), the context settings and
the llama.cpp version the state was made with, and one sha256 over the model,
the settings, the tokens and the state bytes together: a state whose bytes
belong to other tokens (a swapped token array) fails it like a flipped byte.
Files live in one folder per (model, settings) key. A file whose magic,
header, model, settings or checksum do not match is ignored and deleted: a
stale or corrupt state is never trusted. A longer state of the same path
replaces the shorter ones it extends, and the least recently used files go
first when the folder grows past its cap.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"ASSTATE2"  # 2: the checksum covers the key and the tokens too
MIN_SAVE_TOKENS = 256  # shorter prompts are faster to evaluate than to read back
MIN_GAIN_TOKENS = 64  # restore only when it spares at least this many tokens


@dataclass(frozen=True)
class SavedState:
    path: Path
    tokens: np.ndarray  # int32
    payload_offset: int
    payload_bytes: int
    sha256: str  # of the key, the tokens and the state bytes (``_digest``)

    def common_prefix(self, tokens: Sequence[int]) -> int:
        n = min(len(self.tokens), len(tokens))
        if n == 0:
            return 0
        mine = self.tokens[:n]
        theirs = np.asarray(tokens[:n], dtype=np.int32)
        diff = np.nonzero(mine != theirs)[0]
        return int(diff[0]) if len(diff) else n


class StateCache:
    """States of one model with one set of context settings, under ``root``.

    ``model_sha256(compute)`` names the model: a reader asks with ``compute``
    False (a model never hashed has no saved states), the first save with
    True, so hashing a big file happens once, after a reply, never at load."""

    def __init__(
        self,
        root: Path,
        cap_bytes: int,
        model_sha256: str | Callable[[bool], str | None],
        settings: dict[str, object],
    ) -> None:
        self.root = root
        self.cap_bytes = cap_bytes
        self._model_sha256 = model_sha256
        self._model: str | None = model_sha256 if isinstance(model_sha256, str) else None
        self.settings = json.dumps(settings, sort_keys=True)

    def model_key(self, compute: bool) -> str | None:
        if self._model is None and callable(self._model_sha256):
            self._model = self._model_sha256(compute)
        return self._model

    @property
    def model(self) -> str:
        return self._model or ""

    @property
    def folder(self) -> Path:
        key = hashlib.sha256(f"{self.model}|{self.settings}".encode()).hexdigest()[:24]
        return self.root / key

    # ------------------------------------------------------------ reading
    def _read_header(self, path: Path) -> SavedState | None:
        try:
            with open(path, "rb") as fh:
                if fh.read(len(MAGIC)) != MAGIC:
                    return None
                (length,) = struct.unpack("<I", fh.read(4))
                if length > 1 << 20:
                    return None
                header = json.loads(fh.read(length).decode("utf-8"))
                n = int(header["n_tokens"])
                raw = fh.read(4 * n)
                if len(raw) != 4 * n:
                    return None
                if header.get("model") != self.model or header.get("settings") != self.settings:
                    return None
                offset = len(MAGIC) + 4 + length + 4 * n
                size = int(header["payload_bytes"])
                if path.stat().st_size != offset + size:
                    return None
                return SavedState(
                    path,
                    np.frombuffer(raw, dtype="<i4").astype(np.int32),
                    offset,
                    size,
                    str(header["sha256"]),
                )
        except (OSError, ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError):
            return None

    def states(self) -> list[SavedState]:
        """Every usable state in this model's folder; unusable files are removed."""
        if self.model_key(compute=False) is None:
            return []
        found = []
        try:
            entries = list(self.folder.glob("*.state"))
        except OSError:
            return []
        for path in entries:
            saved = self._read_header(path)
            if saved is None:
                path.unlink(missing_ok=True)
            else:
                found.append(saved)
        return found

    def best(
        self, tokens: Sequence[int], already: int = 0, whole_past: int | None = None
    ) -> tuple[SavedState, int] | None:
        """The state sharing the longest prefix with ``tokens``, when it spares
        at least ``MIN_GAIN_TOKENS`` over the ``already`` cached ones. A state
        longer than ``whole_past`` tokens counts only when ``tokens`` go on
        from all of it (see ``LlamaCppModel._restore_state``)."""
        best: tuple[SavedState, int] | None = None
        for saved in self.states():
            shared = saved.common_prefix(tokens)
            n = len(saved.tokens)
            if whole_past is not None and n > whole_past and not shared == n < len(tokens):
                continue
            if best is None or shared > best[1]:
                best = (saved, shared)
        if best is None or best[1] < already + MIN_GAIN_TOKENS:
            return None
        return best

    def payload(self, saved: SavedState) -> bytes | None:
        """The state bytes, or None (and the file removed) when they do not
        match their checksum."""
        try:
            with open(saved.path, "rb") as fh:
                fh.seek(saved.payload_offset)
                data = fh.read(saved.payload_bytes)
        except OSError:
            return None
        if (
            len(data) != saved.payload_bytes
            or self._digest(saved.tokens.astype("<i4").tobytes(), data) != saved.sha256
        ):
            self.discard(saved)
            return None
        try:
            os.utime(saved.path)  # used: the newest for the LRU order
        except OSError:
            pass
        return data

    def _digest(self, tokens: bytes, payload: bytes) -> str:
        """What a state's checksum covers: whose state (model and settings),
        for which tokens, and its bytes."""
        h = hashlib.sha256(f"{self.model}|{self.settings}|{len(tokens)}|".encode())
        h.update(tokens)
        h.update(payload)
        return h.hexdigest()

    def discard(self, saved: SavedState) -> None:
        saved.path.unlink(missing_ok=True)

    # ------------------------------------------------------------ writing
    def save(self, tokens: Sequence[int], payload: bytes) -> Path | None:
        """Write a state; drop the states it extends; keep the folder under the cap."""
        from assistant.paths import private_dir

        if self.model_key(compute=True) is None:
            return None
        tokens_arr = np.asarray(tokens, dtype="<i4")
        header = json.dumps(
            {
                "model": self.model,
                "settings": self.settings,
                "n_tokens": len(tokens_arr),
                "payload_bytes": len(payload),
                "sha256": self._digest(tokens_arr.tobytes(), payload),
            }
        ).encode()
        size = len(MAGIC) + 4 + len(header) + tokens_arr.nbytes + len(payload)
        if size > self.cap_bytes:
            return None
        private_dir(self.folder)
        name = hashlib.sha256(tokens_arr.tobytes()).hexdigest()[:32] + ".state"
        target = self.folder / name
        try:
            if target.stat().st_size == size:  # saved already: only used again
                os.utime(target)
                return target
        except OSError:
            pass
        tmp = self.folder / f".{name}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as fh:
                os.chmod(tmp, 0o600)
                fh.write(MAGIC + struct.pack("<I", len(header)) + header)
                fh.write(tokens_arr.tobytes())
                fh.write(payload)
            os.replace(tmp, target)
        except OSError:
            tmp.unlink(missing_ok=True)
            return None
        for saved in self.states():
            if saved.path != target and len(saved.tokens) < len(tokens_arr):
                if saved.common_prefix(tokens_arr.tolist()) == len(saved.tokens):
                    self.discard(saved)  # this state extends it
        self.evict()
        return target

    def evict(self) -> None:
        """Remove the least recently used states (of every model) past the cap."""
        files = []
        for path in self.root.glob("*/*.state"):
            try:
                st = path.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.cap_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
        for leftover in self.root.glob("*/.*.tmp"):
            try:
                if leftover.stat().st_mtime < os.path.getmtime(leftover.parent) - 3600:
                    leftover.unlink(missing_ok=True)
            except OSError:
                pass


# ---------------------------------------------------------- model hashes
def model_sha256(path: Path, cache_file: Path | None, *, compute: bool) -> str | None:
    """The sha256 of a model file, remembered per (path, size, mtime). A hub
    blob is named by its sha256 and the bundled model's is known, so those
    are free; others are hashed once (``compute``), when a state is first saved."""
    path = Path(path)
    try:
        real = path.resolve(strict=True)
        st = real.stat()
    except OSError:
        return None
    if len(real.name) == 64 and all(c in "0123456789abcdef" for c in real.name):
        return real.name  # the hub cache names blobs by their sha256 (checked at download)
    stamp = path.with_name(path.name + ".verified")  # the bundled model's stamp
    try:
        size, mtime, digest = stamp.read_text().split()
        if int(size) == st.st_size and int(mtime) == st.st_mtime_ns:
            return digest
    except (OSError, ValueError):
        pass
    key = f"{real}|{st.st_size}|{st.st_mtime_ns}"
    known: dict[str, str] = {}
    if cache_file is not None:
        try:
            loaded = json.loads(cache_file.read_text(encoding="utf-8"))
            known = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            known = {}
        if key in known:
            return known[key]
    if not compute:
        return None
    digest_obj = hashlib.sha256()
    with open(real, "rb") as fh:
        while block := fh.read(1 << 22):
            digest_obj.update(block)
    digest = digest_obj.hexdigest()
    if cache_file is not None:
        from assistant.fileio import atomic_write_text

        known = {k: v for k, v in known.items() if Path(k.split("|")[0]).exists()}
        known[key] = digest
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(cache_file, json.dumps(known), mode=0o600)
        except OSError:
            pass
    return digest
