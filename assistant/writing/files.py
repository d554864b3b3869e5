"""Reading a text to work on, and writing a result back without risk.

The original file is never touched until the whole result exists: writing
back first copies the original to ``FILE.bak`` and then replaces the file
atomically, so an error or a kill at any moment leaves the original (or,
after the swap, the backup) intact.
"""

from __future__ import annotations

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


def write_back(path: Path, original_bytes: bytes, new_text: str) -> Path:
    """Keep the original beside the file, then replace the file atomically."""
    from assistant.fileio import atomic_write_bytes, atomic_write_text

    backup = path.with_name(path.name + BACKUP_SUFFIX)
    atomic_write_bytes(backup, original_bytes, mode=path.stat().st_mode & 0o777)
    atomic_write_text(path, new_text)
    return backup
