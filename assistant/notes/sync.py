"""Bring the index up to date with the folders: content hashes decide.

Size and mtime are only a quick check: a file whose (size, mtime) is unchanged
is not even read. Otherwise its sha256 decides: same hash, nothing to do; a new
path with the hash of a vanished file is a rename (the path is updated, nothing
is embedded); a copy of a file we hold reuses its vectors; an edited file is
re-chunked and only passages whose text changed are embedded.

The one decision to know: reading and embedding overlap. Each file's passages
and keyword entries are committed as soon as it is read (in small groups), so
keyword search finds a file within a moment of the sync reaching it; the ids
of passages that need a vector go on a ``Backlog`` that an ``EmbedWorker``
thread works through behind the reader. A passage stored without a vector is
normal: a search finds it by keyword meanwhile, and if the sync stops (Ctrl-C,
a kill) the next sync embeds it. Only the holder of the writer lock runs
this; the index is saved every ``SAVE_EVERY`` seconds and at the end.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.errors import Cancelled
from assistant.notes.chunking import Chunk, Chunker
from assistant.notes.keywords import prepare_keywords
from assistant.notes.loaders import IGNORED_DIRS, Skipped, kind_for, load_document, read_bytes
from assistant.notes.repository import Collection, KeywordEntry, NotesRepository
from assistant.textsafe import one_line

# The most passages one file gives: about 2.4 MB of text, a long book whole.
# A 10 MB note on one line (a dump, a log with no line ends) made 7,881 of
# them and some 47 minutes of embedding; its first passages are kept and the
# sync says what was left out.
MAX_PASSAGES_PER_FILE = 2000
GROUP_CHUNKS = 512  # passages per write transaction while reading
GROUP_SECONDS = 0.5  # ...or this long since the last one: the first files show up at once
# Passages the embedding worker takes from the backlog at a time: a round's
# vectors are kept only once it is done, so a Ctrl-C loses at most one round.
EMBED_ROUND = 64
SAVE_EVERY = 15.0  # seconds between saves of the vector index during a sync


@dataclass
class SyncProgress:
    """What a progress display needs.

    ``phase``: 'waiting' (for another process's sync), 'scanning', 'keywords'
    (rebuilding the keyword index), 'reading' (files read and stored, vectors
    filling in behind), 'embedding' (all files stored, vectors still filling
    in). ``notice`` is a sentence to show now, before the work it announces.
    """

    phase: str
    collection: str
    files_done: int = 0
    files_total: int = 0
    chunks_done: int = 0
    chunks_total: int = 0
    elapsed: float = 0.0
    notice: str | None = None
    current: str = ""  # the file being read, and how far, for big files

    @property
    def chunks_per_second(self) -> float:
        return self.chunks_done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        rate = self.chunks_per_second
        if self.phase not in ("embedding", "reading") or rate <= 0:
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
    chunks_stored: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    chunks_removed: int = 0
    chunks_without_vectors: int = 0  # stored, found by keyword, embedded by the next sync
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


class ProgressRelay:
    """One progress callback fed from the reading thread and the embedding
    worker: it keeps the counts of both, stamps the elapsed time and never
    calls the user's callback from two threads at once."""

    def __init__(self, callback: Callable[[SyncProgress], None] | None) -> None:
        self.callback = callback
        self.started = time.perf_counter()
        self._lock = threading.Lock()
        self.phase = "scanning"
        self.collection = ""
        self.files_done = 0
        self.files_total = 0
        self.chunks_done = 0
        self.chunks_total = 0
        self.current = ""
        self.notices: list[str] = []

    def tell(self, **changes: object) -> None:
        with self._lock:
            notice = changes.pop("notice", None)
            for key, value in changes.items():
                setattr(self, key, value)
            if isinstance(notice, str):
                self.notices.append(notice)
            if self.callback is None:
                return
            self.callback(
                SyncProgress(
                    self.phase,
                    self.collection,
                    self.files_done,
                    self.files_total,
                    self.chunks_done,
                    self.chunks_total,
                    time.perf_counter() - self.started,
                    notice if isinstance(notice, str) else None,
                    self.current,
                )
            )

    def notice(self, text: str) -> None:
        self.tell(notice=text)


class VectorStore(Protocol):
    """What the syncer and the worker need from the vector index."""

    def add(self, ids: Iterable[int], vectors: np.ndarray) -> None: ...

    def remove(self, ids: Iterable[int]) -> int: ...

    def reconstruct_present(self, ids: Iterable[int]) -> dict[int, np.ndarray]: ...

    def save(self) -> None: ...


class Embed(Protocol):
    def __call__(
        self, texts: list[str], progress: Callable[[int], None], cancel: threading.Event | None
    ) -> np.ndarray: ...


class Backlog:
    """Ids of stored passages that still need a vector, oldest first.

    The reader adds ids and removes ids of passages it replaced; the worker
    takes ids, embeds them and adds their vectors. Removing and adding go
    through here under one lock, so a passage replaced while its vector was
    being computed never gets that vector (no orphans)."""

    def __init__(self, index: VectorStore) -> None:
        self.index = index
        self._lock = threading.Lock()
        self._pending: dict[int, None] = {}
        self._in_flight: set[int] = set()
        self._dropped: set[int] = set()
        self.wake = threading.Event()

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending) + len(self._in_flight)

    def add(self, ids: Iterable[int]) -> None:
        with self._lock:
            self._pending.update(dict.fromkeys(ids))
        self.wake.set()

    def take(self, n: int) -> list[int]:
        with self._lock:
            ids = list(self._pending)[:n]
            for i in ids:
                del self._pending[i]
            self._in_flight.update(ids)
            return ids

    def give_back(self, ids: list[int]) -> None:
        """Ids taken but not embedded (cancelled): they stay pending."""
        with self._lock:
            keep = [i for i in ids if i in self._in_flight and i not in self._dropped]
            self._in_flight.difference_update(ids)
            self._dropped.difference_update(ids)
            self._pending = dict.fromkeys(keep) | self._pending

    def remove(self, ids: list[int]) -> None:
        """Passages that no longer exist: out of the backlog and the index."""
        if not ids:
            return
        with self._lock:
            for i in ids:
                self._pending.pop(i, None)
                if i in self._in_flight:
                    self._dropped.add(i)
            self.index.remove(ids)

    def store(self, ids: list[int], vectors: np.ndarray, taken: list[int]) -> int:
        """Add the vectors of ``ids`` (a subset of ``taken``) unless replaced
        meanwhile; returns how many were added."""
        with self._lock:
            keep = [n for n, i in enumerate(ids) if i not in self._dropped]
            if keep:
                self.index.add([ids[n] for n in keep], vectors[keep])
            self._in_flight.difference_update(taken)
            self._dropped.difference_update(taken)
            return len(keep)


class EmbedWorker(threading.Thread):
    """Embeds the backlog behind the reader, saving the index now and then."""

    def __init__(
        self,
        repo: NotesRepository,
        backlog: Backlog,
        embed: Embed,
        save: Callable[[], None],
        relay: ProgressRelay,
        cancel: threading.Event | None,
    ) -> None:
        super().__init__(name="notes-embed", daemon=True)
        self.repo = repo
        self.backlog = backlog
        self.embed = embed
        self.save_index = save
        self.relay = relay
        self.cancel = cancel
        self.reading_done = threading.Event()
        self.embedded = 0
        self.error: BaseException | None = None
        self.cancelled = False

    def finish(self) -> None:
        """No more passages will come: embed what is left, then stop."""
        self.reading_done.set()
        self.backlog.wake.set()

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # handed to the reading thread, which raises it
            self.error = exc

    def _run(self) -> None:
        last_save = time.perf_counter()
        while True:
            if self.cancel is not None and self.cancel.is_set():
                self.cancelled = True
                return
            taken = self.backlog.take(EMBED_ROUND)
            if not taken:
                if self.reading_done.is_set():
                    return
                self.backlog.wake.wait(0.2)
                self.backlog.wake.clear()
                continue
            rows = self.repo.chunk_texts(taken)
            texts = [Chunk(0, 0, heading, body, 0).embedding_text() for _, heading, body in rows]
            base = self.embedded

            def on_batch(n: int, base: int = base) -> None:
                self.relay.tell(chunks_done=base + n, chunks_total=self._total())

            try:
                vectors = self.embed(texts, on_batch, self.cancel)
            except Cancelled:
                self.backlog.give_back(taken)
                self.cancelled = True
                return
            self.embedded += self.backlog.store([cid for cid, _, _ in rows], vectors, taken)
            self.relay.tell(chunks_done=self.embedded, chunks_total=self._total())
            if time.perf_counter() - last_save > SAVE_EVERY:
                self.save_index()
                last_save = time.perf_counter()

    def _total(self) -> int:
        """Passages embedded so far plus those waiting (in hand ones included)."""
        return self.embedded + len(self.backlog)


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
                skipped.append((printable_name(rel), 0, 0, f"cannot be read ({exc.strerror})"))
                continue
            if not is_utf8_name(entry.name):
                # The database and every output are UTF-8: a name that is not
                # cannot be stored or shown as it is. Listed in a readable form.
                what = "folder" if stat.S_ISDIR(st.st_mode) else "file"
                skipped.append(
                    (printable_name(rel), 0, st.st_mtime_ns,
                     f"{what} name is not valid UTF-8 (rename it to have it indexed)")
                )  # fmt: skip
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


def is_utf8_name(name: str) -> bool:
    """False for a name with bytes that are not UTF-8 (Python keeps them as
    lone surrogates, which cannot be encoded)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_name(name: str) -> str:
    """A file name that may hold undecodable bytes, with those bytes as
    ``\\xNN`` escapes (``bad-\\xff.md``), so it can be stored and shown."""
    if is_utf8_name(name):
        return name
    return os.fsencode(name).decode("utf-8", "backslashreplace")


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
    keywords: list[KeywordEntry]
    reuse: dict[tuple[str, str], int]  # (heading, text) -> chunk id whose vector fits
    changed: bool  # an edit of a file we held (else a new file)
    left_out: str | None = None  # the sentence saying what the cap left out


class FolderSyncer:
    """Reads one collection's files into the repository; passages that need
    a vector go on the backlog for the embedding worker."""

    def __init__(
        self,
        repo: NotesRepository,
        chunker: Chunker,
        index: VectorStore,
        backlog: Backlog,
        max_file_bytes: int,
        worker: EmbedWorker | None = None,
        max_passages: int = MAX_PASSAGES_PER_FILE,
    ) -> None:
        self.repo = repo
        self.chunker = chunker
        self.index = index
        self.backlog = backlog
        self.max_file_bytes = max_file_bytes
        self.worker = worker
        self.max_passages = max_passages

    def _stopped(self, cancel: threading.Event | None) -> bool:
        if self.worker is not None and self.worker.error is not None:
            raise self.worker.error
        return cancel is not None and cancel.is_set()

    def sync(
        self,
        collection: Collection,
        relay: ProgressRelay | None = None,
        cancel: threading.Event | None = None,
    ) -> SyncReport:
        started = time.perf_counter()
        relay = relay or ProgressRelay(None)
        report = SyncReport(collections=1)
        root = Path(collection.root)
        if not root.is_dir():
            report.messages.append(
                f"Folder {root} of collection '{collection.name}' is missing; its index is kept."
            )
            return report
        relay.tell(phase="scanning", collection=collection.name, files_done=0, files_total=0,
                   current="")  # fmt: skip
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
        hashed: list[tuple[ScannedFile, str]] = []
        relay.tell(phase="reading", files_done=0, files_total=len(candidates))
        for n, f in enumerate(candidates):
            if self._stopped(cancel):
                report.cancelled = True
                break
            try:
                digest = _hash_file(f.absolute, self.max_file_bytes)
            except Skipped as why:
                skipped.append((f.path, f.size, f.mtime_ns, str(why)))
                report.files_skipped += 1
                continue
            old = known.get(f.path)
            if old is not None and old.content_hash == digest and old.skip_reason is None:
                touched.append((old.id, f.size, f.mtime_ns))
                report.files_unchanged += 1
                continue
            hashed.append((f, digest))
            if n % 200 == 0:
                relay.tell(current=f"checking {one_line(f.path)}")

        # -------- renames: a new path holding the exact bytes of a vanished file
        by_hash = {
            s.content_hash: s for s in vanished.values() if s.content_hash and not s.skip_reason
        }
        fresh: list[tuple[ScannedFile, str]] = []
        for f, digest in hashed:
            old = by_hash.pop(digest, None) if f.path not in known else None
            if old is not None:
                self.repo.move_file(old.id, f.path, f.size, f.mtime_ns)
                del vanished[old.path]
                report.files_renamed += 1
            else:
                fresh.append((f, digest))
        if vanished and not report.cancelled:
            removed = self.repo.delete_files([s.id for s in vanished.values()])
            self.backlog.remove(removed)
            report.files_deleted += len(vanished)
            report.chunks_removed += len(removed)
        self.repo.touch_files(touched)
        removed = self.repo.record_skipped(collection.id, skipped)
        self.backlog.remove(removed)
        report.chunks_removed += len(removed)

        # -------- read, chunk and store each file; vectors follow behind
        copies = self.repo.files_by_hash(d for _, d in fresh)
        group: list[_Pending] = []
        last_flush = time.perf_counter()
        files_done = 0
        relay.tell(files_done=0, files_total=len(fresh))
        for f, digest in fresh:
            if report.cancelled or self._stopped(cancel):
                report.cancelled = True
                break
            relay.tell(current=one_line(f.path))
            try:
                item = self._read(f, digest, known, copies, relay, cancel)
            except Skipped as why:
                removed = self.repo.record_skipped(
                    collection.id, [(f.path, f.size, f.mtime_ns, str(why))]
                )
                self.backlog.remove(removed)
                report.files_skipped += 1
                files_done += 1
                continue
            except Cancelled:
                report.cancelled = True
                break
            if item.left_out:
                report.messages.append(item.left_out)
            group.append(item)
            size = sum(len(p.chunks) for p in group)
            if size >= GROUP_CHUNKS or time.perf_counter() - last_flush >= GROUP_SECONDS:
                files_done += self._store_group(collection, group, report)
                group = []
                last_flush = time.perf_counter()
                relay.tell(files_done=files_done)
        if group:
            files_done += self._store_group(collection, group, report)
            relay.tell(files_done=files_done)
        relay.tell(current="")
        if not report.cancelled:
            self.repo.mark_synced(collection.id)
        report.seconds = time.perf_counter() - started
        return report

    def _read(
        self,
        f: ScannedFile,
        digest: str,
        known: dict,
        copies: dict[str, int],
        relay: ProgressRelay,
        cancel: threading.Event | None,
    ) -> _Pending:
        """Load, chunk and prepare one file (raises ``Skipped`` or ``Cancelled``)."""
        data = read_bytes(f.absolute, self.max_file_bytes)
        if hashlib.sha256(data).hexdigest() != digest:
            raise Skipped("changed while it was being read; it is read at the next sync")
        label = one_line(f.path)

        # a big file's share: cutting it into passages, then its keyword terms
        def chunk_progress(share: float) -> None:
            relay.tell(current=f"{label} {share * CHUNKING_SHARE:.0%}")

        def keyword_progress(share: float) -> None:
            if cancel is not None and cancel.is_set():
                raise Cancelled("sync cancelled")
            if share:
                done = CHUNKING_SHARE + share * (1 - CHUNKING_SHARE)
                relay.tell(current=f"{label} {done:.0%}")

        doc = load_document(f.absolute, f.kind, data)
        del data
        chunks = self.chunker.chunk(doc, cancel, chunk_progress)
        left_out = None
        if len(chunks) > self.max_passages:
            left_out = _left_out(label, chunks, self.max_passages)
            chunks = chunks[: self.max_passages]
        keywords = prepare_keywords(chunks, keyword_progress)
        if cancel is not None and cancel.is_set():
            raise Cancelled("sync cancelled")
        old_state = known.get(f.path)
        sources = [old_state.id if old_state is not None else None, copies.get(digest)]
        reusable = self.repo.chunks_of_files([s for s in sources if s is not None])
        reuse: dict[tuple[str, str], int] = {}
        for fid in sources:
            for cid, heading, body in reusable.get(fid, []) if fid is not None else []:
                reuse.setdefault((heading, body), cid)
        changed = old_state is not None and old_state.skip_reason is None
        return _Pending(f, digest, chunks, keywords, reuse, changed, left_out)

    def _store_group(
        self, collection: Collection, group: list[_Pending], report: SyncReport
    ) -> int:
        """Commit a group of files (passages and keyword entries); reuse the
        vectors of unchanged passages, queue the rest. Returns the file count."""
        wanted: list[int] = []
        for item in group:
            for c in item.chunks:
                cid = item.reuse.get((c.heading, c.text))
                wanted.append(cid if cid is not None else -1)
        # old vectors are read before the old passages are removed below
        old_vectors = self.index.reconstruct_present(i for i in wanted if i >= 0)
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
                    p.keywords,
                )
                for p in group
            ],  # fmt: skip
        )
        reused_ids = [nid for nid, old in zip(new_ids, wanted, strict=True) if old in old_vectors]
        if reused_ids:
            vectors = np.vstack([old_vectors[o] for o in wanted if o in old_vectors])
            self.index.add(reused_ids, vectors)
        self.backlog.remove(removed)
        self.backlog.add(nid for nid, old in zip(new_ids, wanted, strict=True)
                         if old not in old_vectors)  # fmt: skip
        report.chunks_reused += len(reused_ids)
        report.chunks_removed += len(removed)
        report.chunks_stored += len(new_ids)
        for item in group:
            if item.changed:
                report.files_changed += 1
            else:
                report.files_added += 1
        return len(group)


def _left_out(label: str, chunks: list[Chunk], kept: int) -> str:
    """The sentence for a file cut at ``kept`` passages: how many there were,
    how much of the text the kept ones hold, and where they end."""
    total_chars = sum(len(c.text) for c in chunks) or 1
    share = sum(len(c.text) for c in chunks[:kept]) / total_chars
    last = chunks[kept - 1]
    where = f"line {last.end_line}" if last.page is None else f"page {last.page}"
    return (
        f"{label} is very long: only its first {kept:,} of {len(chunks):,} passages are "
        f"indexed (about {share:.0%} of its text, up to {where}); split it into smaller "
        "files to index the rest."
    )


# Of a big file's progress, the part spent cutting it into passages; the
# rest is its keyword terms (12 MB text log, measured: 5.2 s and 3.1 s).
CHUNKING_SHARE = 0.6


def _hash_file(path: Path, max_bytes: int) -> str:
    """sha256 of a file, read in blocks (the whole file is read only when it
    has to be indexed)."""
    return hashlib.sha256(read_bytes(path, max_bytes)).hexdigest()
