"""Bring the index up to date with the folders: content hashes decide.

Size and mtime are only a quick check: a file whose (size, mtime) is unchanged
is not even read. Otherwise its sha256 decides: same hash, nothing to do; a new
path with the hash of a vanished file is a rename (the path is updated, nothing
is embedded); a copy of a file we hold reuses its vectors; an edited file is
re-chunked and only passages whose text changed are embedded. Files are
written in groups, each one transaction, with vectors added to the in-memory
index after the commit; the index is saved at the end (and every
``SAVE_EVERY`` seconds). A kill between the two leaves chunk rows without
vectors, which the next start repairs by embedding just those.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.errors import Cancelled
from assistant.notes.chunking import Chunk, Chunker
from assistant.notes.loaders import IGNORED_DIRS, Skipped, kind_for, load_document, read_bytes
from assistant.notes.repository import Collection, NotesRepository

GROUP_CHUNKS = 512
SAVE_EVERY = 60.0


@dataclass
class SyncProgress:
    """What a progress bar needs; ``phase`` is 'scanning', 'reading' or 'embedding'."""

    phase: str
    collection: str
    files_done: int = 0
    files_total: int = 0
    chunks_done: int = 0
    chunks_total: int = 0
    elapsed: float = 0.0

    @property
    def chunks_per_second(self) -> float:
        return self.chunks_done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        rate = self.chunks_per_second
        if self.phase != "embedding" or rate <= 0:
            return None
        return (self.chunks_total - self.chunks_done) / rate


@dataclass
class SyncReport:
    collections: int = 0
    files_seen: int = 0
    files_unchanged: int = 0
    files_added: int = 0
    files_changed: int = 0
    files_renamed: int = 0
    files_deleted: int = 0
    files_skipped: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    messages: list[str] = field(default_factory=list)

    def merge(self, other: SyncReport) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(other, name)
            if isinstance(value, bool):
                setattr(self, name, getattr(self, name) or value)
            elif isinstance(value, int | float):
                setattr(self, name, getattr(self, name) + value)
            elif isinstance(value, list):
                getattr(self, name).extend(value)


@dataclass(frozen=True)
class ScannedFile:
    path: str  # relative, '/'-separated
    absolute: Path
    size: int
    mtime_ns: int
    kind: str


def scan_folder(root: Path) -> tuple[list[ScannedFile], list[tuple[str, int, int, str]]]:
    """Files to index under ``root`` and files to skip (path, size, mtime, reason).

    Symlinks are never followed: a link to something outside the folder, a
    loop or a link to a folder is listed as skipped, and a link to a file in
    the folder is skipped because that file is indexed under its own name.
    Hidden entries and tool folders (node_modules, __pycache__) are ignored
    without a listing.
    """
    files: list[ScannedFile] = []
    skipped: list[tuple[str, int, int, str]] = []
    real_root = os.path.realpath(root)
    stack = [(str(root), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            skipped.append(
                (prefix.rstrip("/") or ".", 0, 0, f"folder cannot be read ({exc.strerror})")
            )
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.name in IGNORED_DIRS:
                continue
            rel = prefix + entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                skipped.append((rel, 0, 0, f"cannot be read ({exc.strerror})"))
                continue
            if stat.S_ISLNK(st.st_mode):
                skipped.append((rel, 0, st.st_mtime_ns, _symlink_reason(entry.path, real_root)))
            elif stat.S_ISDIR(st.st_mode):
                stack.append((entry.path, rel + "/"))
            elif stat.S_ISREG(st.st_mode):
                kind = kind_for(Path(entry.name))
                if kind is None:
                    suffix = Path(entry.name).suffix.lower() or "no extension"
                    skipped.append(
                        (rel, st.st_size, st.st_mtime_ns, f"unsupported file type ({suffix})")
                    )
                else:
                    files.append(
                        ScannedFile(rel, Path(entry.path), st.st_size, st.st_mtime_ns, kind)
                    )
            else:
                what = (
                    "FIFO"
                    if stat.S_ISFIFO(st.st_mode)
                    else ("socket" if stat.S_ISSOCK(st.st_mode) else "device")
                )
                skipped.append((rel, 0, st.st_mtime_ns, f"not a regular file ({what})"))
    files.sort(key=lambda f: f.path)
    return files, skipped


def _symlink_reason(path: str, real_root: str) -> str:
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            return "symlink loop"
        return "broken symlink"
    target = os.path.realpath(path)
    if os.path.commonpath([target, real_root]) != real_root:
        return "symlink points outside the folder"
    if os.path.isdir(target):
        return "symlink to a folder (not followed)"
    return "symlink to a file in the folder (indexed under its own name)"


@dataclass
class _Pending:
    scanned: ScannedFile
    digest: str
    chunks: list[Chunk]
    reuse: dict[tuple[str, str], int]  # (heading, text) -> chunk id whose vector fits


class FolderSyncer:
    """Syncs collections into the repository and the vector index."""

    def __init__(
        self,
        repo: NotesRepository,
        chunker: Chunker,
        index_ops: IndexOps,
        max_file_bytes: int,
    ) -> None:
        self.repo = repo
        self.chunker = chunker
        self.ops = index_ops
        self.max_file_bytes = max_file_bytes

    def sync(
        self,
        collection: Collection,
        progress: Callable[[SyncProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> SyncReport:
        started = time.perf_counter()
        report = SyncReport(collections=1)
        root = Path(collection.root)

        def tell(p: SyncProgress) -> None:
            if progress is not None:
                p.elapsed = time.perf_counter() - started
                progress(p)

        if not root.is_dir():
            report.messages.append(
                f"Folder {root} of collection '{collection.name}' is missing; its index is kept."
            )
            return report
        tell(SyncProgress("scanning", collection.name))
        scanned, walk_skipped = scan_folder(root)
        known = self.repo.file_states(collection.id)
        report.files_seen = len(scanned) + len(walk_skipped)

        # -------- quick check, then hashes
        candidates: list[ScannedFile] = []
        for f in scanned:
            old = known.get(f.path)
            if old is not None and old.size == f.size and old.mtime_ns == f.mtime_ns:
                if old.skip_reason is not None:
                    report.files_skipped += 1
                else:
                    report.files_unchanged += 1
                continue
            candidates.append(f)
        present = {f.path for f in scanned} | {s[0] for s in walk_skipped}
        vanished = {p: s for p, s in known.items() if p not in present}

        skipped: list[tuple[str, int, int, str]] = []
        for path, size, mtime_ns, reason in walk_skipped:
            old = known.get(path)
            if old is None or old.skip_reason != reason:
                skipped.append((path, size, mtime_ns, reason))
        report.files_skipped += len(walk_skipped)

        touched: list[tuple[int, int, int]] = []
        hashed: list[tuple[ScannedFile, bytes, str]] = []
        tell(SyncProgress("reading", collection.name, 0, len(candidates)))
        for n, f in enumerate(candidates):
            if cancel is not None and cancel.is_set():
                report.cancelled = True
                break
            try:
                data = read_bytes(f.absolute, self.max_file_bytes)
            except Skipped as why:
                skipped.append((f.path, f.size, f.mtime_ns, str(why)))
                report.files_skipped += 1
                continue
            digest = hashlib.sha256(data).hexdigest()
            old = known.get(f.path)
            if old is not None and old.content_hash == digest and old.skip_reason is None:
                touched.append((old.id, f.size, f.mtime_ns))
                report.files_unchanged += 1
                continue
            hashed.append((f, data, digest))
            if n % 50 == 0:
                tell(SyncProgress("reading", collection.name, n, len(candidates)))

        # -------- renames: a new path holding the exact bytes of a vanished file
        by_hash = {
            s.content_hash: s for s in vanished.values() if s.content_hash and not s.skip_reason
        }
        fresh: list[tuple[ScannedFile, bytes, str]] = []
        for f, data, digest in hashed:
            old = by_hash.pop(digest, None) if f.path not in known else None
            if old is not None:
                self.repo.move_file(old.id, f.path, f.size, f.mtime_ns)
                del vanished[old.path]
                report.files_renamed += 1
            else:
                fresh.append((f, data, digest))
        if vanished and not report.cancelled:
            removed = self.repo.delete_files([s.id for s in vanished.values()])
            self.ops.remove(removed)
            report.files_deleted += len(vanished)
            report.chunks_removed += len(removed)
        self.repo.touch_files(touched)
        removed = self.repo.record_skipped(collection.id, skipped)
        self.ops.remove(removed)
        report.chunks_removed += len(removed)

        # -------- read and chunk the new content
        copies = self.repo.files_by_hash(d for _, _, d in fresh)
        old_ids = [known[f.path].id for f, _, _ in fresh if f.path in known]
        reusable = self.repo.chunks_of_files(old_ids + list(copies.values()))
        pending: list[_Pending] = []
        for f, data, digest in fresh:
            if cancel is not None and cancel.is_set():
                report.cancelled = True
                break
            try:
                chunks = self.chunker.chunk(load_document(f.absolute, f.kind, data))
            except Skipped as why:
                removed = self.repo.record_skipped(
                    collection.id, [(f.path, f.size, f.mtime_ns, str(why))]
                )
                self.ops.remove(removed)
                report.files_skipped += 1
                continue
            reuse: dict[tuple[str, str], int] = {}
            old_state = known.get(f.path)
            sources = [old_state.id if old_state is not None else None, copies.get(digest)]
            for fid in sources:
                for cid, heading, body in reusable.get(fid, []) if fid is not None else []:
                    reuse.setdefault((heading, body), cid)
            pending.append(_Pending(f, digest, chunks, reuse))
            if f.path in known and known[f.path].skip_reason is None:
                report.files_changed += 1
            else:
                report.files_added += 1
        del fresh, hashed

        # -------- embed and store, one group at a time
        total = sum(len(p.chunks) for p in pending)
        done = 0
        last_save = time.perf_counter()
        group: list[_Pending] = []
        tell(SyncProgress("embedding", collection.name, 0, len(pending), 0, total))
        files_done = 0
        for i, item in enumerate(pending):
            group.append(item)
            size = sum(len(p.chunks) for p in group)
            if size < GROUP_CHUNKS and i + 1 < len(pending):
                continue
            if cancel is not None and cancel.is_set():
                report.cancelled = True
                break

            def on_batch(n: int, base: int = done, files: int = files_done) -> None:
                tell(
                    SyncProgress("embedding", collection.name, files, len(pending), base + n, total)
                )

            try:
                embedded, reused = self._store_group(collection, group, on_batch, cancel)
            except Cancelled:
                report.cancelled = True
                break
            report.chunks_embedded += embedded
            report.chunks_reused += reused
            done += size
            files_done += len(group)
            group = []
            tell(SyncProgress("embedding", collection.name, files_done, len(pending), done, total))
            if time.perf_counter() - last_save > SAVE_EVERY:
                self.ops.save()
                last_save = time.perf_counter()
        if not report.cancelled:
            self.repo.mark_synced(collection.id)
        report.seconds = time.perf_counter() - started
        return report

    def _store_group(
        self,
        collection: Collection,
        group: list[_Pending],
        progress: Callable[[int], None],
        cancel: threading.Event | None,
    ) -> tuple[int, int]:
        texts: list[str] = []
        reuse_ids: list[int] = []
        for item in group:
            for c in item.chunks:
                cid = item.reuse.get((c.heading, c.text))
                reuse_ids.append(cid if cid is not None else -1)
                if cid is None:
                    texts.append(c.embedding_text())
        fresh_vectors = self.ops.embed(texts, progress, cancel)
        old = [i for i in reuse_ids if i >= 0]
        old_vectors = self.ops.reconstruct(old) if old else None
        vectors = np.zeros((len(reuse_ids), fresh_vectors.shape[1]), np.float32)
        fi = oi = 0
        for row, cid in enumerate(reuse_ids):
            if cid >= 0 and old_vectors is not None:
                vectors[row] = old_vectors[oi]
                oi += 1
            else:
                vectors[row] = fresh_vectors[fi]
                fi += 1
        new_ids, removed = self.repo.store_files(
            collection.id,
            [
                (
                    p.scanned.path,
                    p.scanned.size,
                    p.scanned.mtime_ns,
                    p.digest,
                    p.scanned.kind,
                    p.chunks,
                )
                for p in group
            ],
        )
        self.ops.remove(removed)
        self.ops.add(new_ids, vectors)
        return len(texts), len(old)


class IndexOps(Protocol):
    """What the syncer needs from the vector side (``NotesService`` provides it)."""

    def embed(
        self, texts: list[str], progress: Callable[[int], None], cancel: threading.Event | None
    ) -> np.ndarray: ...

    def add(self, ids: list[int], vectors: np.ndarray) -> None: ...

    def remove(self, ids: list[int]) -> None: ...

    def reconstruct(self, ids: list[int]) -> np.ndarray: ...

    def save(self) -> None: ...
