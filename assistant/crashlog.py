"""One sentence for any error, for both shells.

An ``AssistantError`` already is that sentence. A file-system error becomes
one that names the path and what to do. Anything else is a bug: its
traceback goes to a crash log (owner-only, in the data folder's ``logs/``)
and the sentence names that file, so the user never sees a traceback.
"""

from __future__ import annotations

import errno
import sys
import traceback
from datetime import datetime
from pathlib import Path
from types import TracebackType

from assistant.errors import AssistantError

_OS_HINTS = {
    errno.ENOSPC: "the disk is full; free some space and try again",
    errno.EDQUOT: "the disk quota is used up; free some space and try again",
    errno.EACCES: "permission denied; check the owner and mode of that path",
    errno.EPERM: "the operation is not permitted on that path",
    errno.EROFS: "it is on a read-only file system; set ASSISTANT_HOME to a writable folder",
    errno.ENOENT: "it does not exist",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOTDIR: "a part of that path is not a folder",
}


def is_environment_error(exc: BaseException) -> bool:
    """An OSError the user's machine caused and the user can fix (full disk,
    read-only folder, permissions...), as opposed to a bug."""
    return isinstance(exc, OSError) and exc.errno in _OS_HINTS


def describe_os_error(exc: OSError) -> str:
    """One sentence for a file-system error: what, where and what to do."""
    where = exc.filename or ""
    hint = _OS_HINTS.get(exc.errno or 0) or (exc.strerror or str(exc)).rstrip(".").lower()
    return f"Could not use {where}: {hint}." if where else f"{hint[:1].upper()}{hint[1:]}."


def crash_log(exc: BaseException, tb: TracebackType | None = None) -> Path | None:
    """Write the traceback to a new log file; its path, or None if none could be written."""
    from assistant.paths import app_paths, private_dir

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    text = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
    for folder in (app_paths().data / "logs", Path("/tmp")):
        try:
            private_dir(folder)
            path = folder / f"assistant-crash-{stamp}.log"
            with open(path, "x", encoding="utf-8") as fh:
                fh.write(f"assistant crashed at {datetime.now().isoformat()}\n")
                fh.write(f"argv: {sys.argv!r}\n\n{text}")
            path.chmod(0o600)
            return path
        except OSError:
            continue
    return None


def crash_sentence(exc: BaseException) -> str:
    path = crash_log(exc)
    where = f"the details are in {path}" if path else "no log could be written"
    return (
        f"Something went wrong inside assistant ({type(exc).__name__}); {where}. "
        "Please report it with that file."
    )


def describe_error(exc: BaseException) -> str:
    """The sentence to show for ``exc`` (writing a crash log for a bug)."""
    if isinstance(exc, AssistantError):
        return str(exc).strip() or type(exc).__name__
    if isinstance(exc, OSError) and exc.errno is not None:
        return describe_os_error(exc)
    return crash_sentence(exc)
