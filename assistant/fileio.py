"""Atomic file writes: temporary file in the same folder, fsync, os.replace.

A crash or Ctrl-C at any moment leaves either the old file or the new one,
never a half-written mix.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data``. An ``OSError`` always names ``path``
    (a full disk fails inside ``write``, whose error names no file)."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _naming(exc, path) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _naming(exc, path) from exc
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _naming(exc: OSError, path: Path) -> OSError:
    """``exc`` with ``path`` as its file name when it names none (or a temporary file)."""
    if exc.filename and not Path(str(exc.filename)).name.endswith(".tmp"):
        return exc
    return type(exc)(exc.errno, exc.strerror or str(exc), str(path))


def atomic_write_text(path: Path, text: str, mode: int | None = None) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode)


@contextmanager
def reading_import(path: Path) -> Iterator[None]:
    """Reading a file the user gave to import: a folder, a missing file or
    one that cannot be read is a ``UsageError`` naming it in one sentence."""
    from assistant.errors import UsageError

    try:
        yield
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder; give the export file itself.") from None
    except FileNotFoundError:
        raise UsageError(f"There is no file {path}.") from None
    except OSError as exc:
        raise UsageError(f"{path} could not be read: {exc.strerror}.") from None
