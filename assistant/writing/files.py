"""Reading a text to work on, and writing a result back without risk.

The original file is never touched until the whole result exists: writing
back first copies the original to ``FILE.bak`` and then replaces the file
atomically, so an error or a kill at any moment leaves the original (or,
after the swap, the backup) intact.

What is replaced is the file the user means: for a symbolic link, the file it
points to (the link stays a link, the backup goes beside the real file). A
file without write permission is refused, although the atomic swap (which only
needs the folder to be writable) could replace it: read-only is the user's
"do not change this".
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from assistant.errors import WritingError

BACKUP_SUFFIX = ".bak"


def read_input_text(path: Path) -> str:
    """The file's text, or one sentence saying why it cannot be used."""
    if not path.exists():
        raise WritingError(f"File not found: {path}.")
    if path.is_dir():
        raise WritingError(f"{path} is a folder, not a text file.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WritingError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    return decode_text(data, str(path))


def decode_text(data: bytes, label: str) -> str:
    if b"\x00" in data[:8192]:
        raise WritingError(f"{label} looks like a binary file, not text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise WritingError(f"{label} is not UTF-8 text.") from None


def writable_target(path: Path) -> Path:
    """The file that writing ``path`` back replaces (a link's final target),
    or a ``WritingError`` saying why it must not or cannot be replaced."""
    from assistant.crashlog import describe_os_error

    shown = str(path)
    try:
        target = path.resolve(strict=True) if path.is_symlink() else path
        if target != path:
            shown = f"{path} (a link to {target})"
        info = target.stat()
    except OSError as exc:
        raise WritingError(describe_os_error(exc)) from None
    except RuntimeError:  # a loop of links
        raise WritingError(f"{path} is a loop of symbolic links.") from None
    if not stat.S_ISREG(info.st_mode):
        raise WritingError(f"{shown} is not a regular file, so it cannot be written back.")
    if not info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise WritingError(
            f"{shown} is read-only, so it was left unchanged; make it writable "
            f"(chmod u+w {target}) if it should be edited."
        )
    if not os.access(target, os.W_OK):
        raise WritingError(
            f"You may not write {shown}, so it was left unchanged; check its owner and mode."
        )
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise WritingError(
            f"The folder {target.parent} is not writable, so {path} cannot be replaced "
            "safely (its backup and the new version are written beside it)."
        )
    return target


def write_back(path: Path, original_bytes: bytes, new_text: str) -> Path:
    """Keep the original beside the file, then replace the file atomically;
    returns the backup's path. A link is written through to its target."""
    from assistant.crashlog import describe_os_error
    from assistant.fileio import atomic_write_bytes, atomic_write_text

    target = writable_target(path)
    backup = target.with_name(target.name + BACKUP_SUFFIX)
    try:
        atomic_write_bytes(backup, original_bytes, mode=target.stat().st_mode & 0o777)
        atomic_write_text(target, new_text)
    except OSError as exc:  # the swap is atomic: the file is as it was
        sentence = describe_os_error(exc).rstrip(".")
        raise WritingError(f"{sentence}; {path} was left unchanged.") from None
    return backup


def check_new_file(path: Path, force: bool) -> None:
    """Fail before any work when ``path`` cannot take a new text."""
    if path.is_dir():
        raise WritingError(f"{path} is a folder; give a file name to write to.")
    if not path.parent.is_dir():
        raise WritingError(f"The folder {path.parent} does not exist.")
    if path.exists() and not force:
        raise WritingError(f"{path} already exists; add --force to replace it.")


def save_new_file(path: Path, text: str, *, force: bool) -> None:
    """Write ``text`` to ``path`` atomically, with the permissions a new file
    gets from the umask. Without ``force`` an existing file is never
    replaced, even one created while the text was being written: the
    finished file is linked into place, which fails if the name is taken."""
    import os
    import secrets

    from assistant.fileio import atomic_write_text

    if force:
        atomic_write_text(path, text)
        return
    check_new_file(path, force=False)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise WritingError(f"{path} already exists; add --force to replace it.") from None
        except OSError:  # a file system without hard links: check, then move
            if path.exists():
                raise WritingError(f"{path} already exists; add --force to replace it.") from None
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
