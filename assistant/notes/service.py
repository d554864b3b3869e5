"""``NotesService``: the one object the CLI, the UI and chat grounding use.

It owns the embedder (loaded lazily, on whichever thread first needs it), the
vector index (opened and checked against the chunk rows on first use, rebuilt
or repaired with a message when they disagree) and the repository. Every
public method is safe to call from a worker thread; index changes are
serialised by one lock so a background sync and a search can overlap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.errors import Cancelled, NotesError
from assistant.notes.loaders import DEFAULT_MAX_FILE_BYTES
from assistant.notes.repository import Collection, NotesRepository, SkippedFile
from assistant.notes.retriever import Hit, HybridRetriever
from assistant.notes.sync import FolderSyncer, ProgressRelay, SyncProgress, SyncReport
from assistant.notes.writer import WriterLock
from assistant.paths import AppPaths, private_dir

if TYPE_CHECKING:
    from assistant.notes.grounding import NotesGrounding
    from assistant.store.database import Database

SAMPLES_NAME = "samples"
# Passages are cut to the embedding model's window, but never longer than
# this (bge-m3 reads 8,192 word pieces; a passage that long is a poor answer).
MAX_PASSAGE_TOKENS = 512
SAMPLES_DECLINED = "samples-declined"


@dataclass
class NotesStatus:
    collections: list[Collection]
    files: int
    chunks: int
    vectors: int
    index_bytes: int
    embedding_model: str
    last_sync: datetime | None
    skipped: list[SkippedFile] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    vectors_model: str | None = None  # the model that built the saved vectors, if any
    syncing: bool = False  # a sync runs (here or in another process)
    keywords_current: bool = True  # the keyword index matches the tokenizer

    @property
    def vectors_missing(self) -> int:
        return max(0, self.chunks - self.vectors)


def sample_notes_folder() -> Path:
    """The sample notes shipped in ``data/`` (package ``assistant.sample_notes``)."""
    from importlib.resources import files

    try:
        path = Path(str(files("assistant.sample_notes")))
    except ModuleNotFoundError:
        # An editable install maps data/ as a namespace that the submodule
        # import cannot see; the checkout's own data/ is the same folder.
        path = Path(__file__).resolve().parents[2] / "data"
    if not path.is_dir():
        raise NotesError("The bundled sample notes are missing; reinstall assistant.")
    return path


class NotesService:
    def __init__(
        self,
        db: Database,
        paths: AppPaths,
        embedder: Any = None,
        embedding_model: str | None = None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        max_passages_per_file: int | None = None,
    ) -> None:
        self.db = db
        self.paths = paths
        self.repo = NotesRepository(db)
        self._embedder = embedder
        self._embedding_model = embedding_model
        self.max_file_bytes = max_file_bytes
        self.max_passages_per_file = max_passages_per_file  # None: MAX_PASSAGES_PER_FILE
        self._index: Any = None
        self._index_stamp: tuple[int, int] | None = None  # manifest the index was read from
        self._index_problem: str | None = None  # why the saved vectors cannot be used
        self._lock = threading.RLock()  # lazy loading of the embedder and the index
        self._sync_lock = threading.Lock()  # one sync at a time in this process
        self.writer = WriterLock(self.index_folder)  # one writer across processes
        self.messages: list[str] = []  # rebuild/repair notices for the user
        self.retriever = HybridRetriever(
            self.repo, self.vector_index, self.embed_queries, self.embedding_languages
        )

    # ------------------------------------------------------------ embedder
    @property
    def embedder(self) -> Any:
        with self._lock:
            if self._embedder is None:
                from assistant.notes.embedder import SentenceEmbedder

                self._embedder = SentenceEmbedder(
                    model=self._embedding_model, cache_dir=self.paths.cache
                )
            return self._embedder

    def embed_queries(self, queries: Sequence[str]) -> np.ndarray:
        embed = getattr(self.embedder, "embed_queries", None)
        if embed is not None:
            return np.asarray(embed(list(queries)))
        return np.asarray(self.embedder.embed(list(queries)))

    def embedding_languages(self) -> frozenset[str] | None:
        """Languages the embedding model declares (None: unknown, assume all)."""
        languages = getattr(self.embedder, "languages", None)
        return frozenset(languages) if languages else None

    # -------------------------------------------------------- vector index
    @property
    def index_folder(self) -> Path:
        return self.paths.index

    def vector_index(self) -> Any:
        """The vector index to search: in the process that is syncing, the
        live one; elsewhere the last complete generation on disk, read again
        when a writer saved a newer one. Never written here: a saved index
        that cannot be used (another model, a corrupt file) is left for the
        next sync to rebuild, and searches meanwhile use keywords only."""
        from assistant.notes.vectors import manifest_stamp

        with self._lock:
            if self.writer.held and self._index is not None:
                return self._index
            stamp = manifest_stamp(self.index_folder)
            if self._index is None or stamp != self._index_stamp:
                self._index, self._index_problem = self._read_index()
                self._index_stamp = stamp
            return self._index

    def _read_index(self) -> tuple[Any, str | None]:
        """(index, None) or (empty index, why the saved one cannot be used)."""
        from assistant.notes.vectors import IndexNeedsRebuild, VectorIndex

        embedder = self.embedder
        embedder.load()
        model, dim = embedder.name, embedder.dimension
        why: IndexNeedsRebuild | None = None
        for _attempt in range(3):  # a writer may replace the generation as we read
            try:
                return VectorIndex.load(self.index_folder, model, dim), None
            except IndexNeedsRebuild as exc:
                why = exc
                time.sleep(0.05)
        return VectorIndex(self.index_folder, model, dim), str(why)

    def _open_for_writing(self, relay: ProgressRelay, report: SyncReport) -> Any:
        """Under the writer lock: the index as last saved (by any process),
        rebuilt when it cannot be used, with the notice said before the work."""
        from assistant.notes.vectors import (
            IndexNeedsRebuild,
            VectorIndex,
            discard,
            manifest_stamp,
            remove_tmp_leftovers,
        )

        folder = private_dir(self.index_folder)
        remove_tmp_leftovers(folder)
        embedder = self.embedder
        embedder.load()
        if embedder.notice and embedder.notice not in report.messages:
            report.messages.append(embedder.notice)
        model, dim = embedder.name, embedder.dimension
        with self._lock:
            stamp = manifest_stamp(folder)
            if self._index is not None and stamp == self._index_stamp and not self._index_problem:
                return self._index
            try:
                index = VectorIndex.load(folder, model, dim)
            except IndexNeedsRebuild as why:
                index = VectorIndex(folder, model, dim)
                if self.repo.chunk_count():
                    self._say(relay, report, f"Rebuilding the notes index: {why}.")
                discard(folder)
            self._index, self._index_stamp, self._index_problem = index, stamp, None
            return index

    @staticmethod
    def _say(relay: ProgressRelay, report: SyncReport, text: str) -> None:
        """A notice shown before the work it announces, and kept in the report."""
        relay.notice(text)
        report.messages.append(text)

    def _plan_repair(self, index: Any, relay: ProgressRelay, report: SyncReport) -> list[int]:
        """Make the vectors match the chunk rows: drop vectors of passages that
        are gone now; return the passages that need one (embedded by the worker)."""
        rows = set(self.repo.chunk_ids())
        have = set(index.ids().tolist())
        extra = have - rows
        missing = sorted(rows - have)
        if extra:
            index.remove(sorted(extra))
        if missing and have:
            self._say(
                relay, report, f"Repairing the notes index: {len(missing)} passages had no vectors."
            )
        return missing

    def _refresh_keywords(
        self, relay: ProgressRelay, report: SyncReport, cancel: threading.Event | None
    ) -> bool:
        """Rebuild the keyword index when the tokenizer changed (vectors are
        kept); False when cancelled."""
        from assistant.notes.keywords import prepare_pairs, tokenizer_version

        version = tokenizer_version()
        if self.repo.keyword_index_version() == version:
            return True
        total = self.repo.chunk_count()
        if total:
            self._say(
                relay,
                report,
                f"Rebuilding the keyword index of {total} passages: the way words are "
                "found changed (segmentation for Chinese and Japanese, stemming per "
                "language); vectors are kept.",
            )
            relay.tell(phase="keywords", chunks_done=0, chunks_total=total)

        def progress(done: int, of: int) -> None:
            relay.tell(chunks_done=done, chunks_total=of)

        if not self.repo.reindex_keywords(version, prepare_pairs, progress, cancel):
            report.cancelled = True
            return False
        return True

    # Kept for callers that add vectors directly (benchmarks, tests).
    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        self.vector_index().add(ids, vectors)

    def remove(self, ids: list[int]) -> None:
        if ids:
            self.vector_index().remove(ids)

    def reconstruct(self, ids: list[int]) -> np.ndarray:
        return self.vector_index().reconstruct(ids)

    def save(self) -> None:
        """Save the live index (only while holding the writer lock)."""
        from assistant.notes.vectors import manifest_stamp

        with self.writing():
            index = self.vector_index()
            if index.dirty:
                index.save()
                self._index_stamp = manifest_stamp(self.index_folder)

    @contextmanager
    def writing(
        self, cancel: threading.Event | None = None, on_wait: Callable[[], None] | None = None
    ) -> Iterator[None]:
        """Hold the writer lock (waiting for another process's sync if needed)."""
        self.writer.acquire(cancel, on_wait)
        try:
            yield
        finally:
            self.writer.release()

    # --------------------------------------------------------- collections
    def collections(self) -> list[Collection]:
        return self.repo.collections()

    def add_collection(self, folder: Path, name: str | None = None) -> Collection:
        root = Path(folder).expanduser()
        if not root.exists():
            raise NotesError(f"There is no folder at {root}.")
        if not root.is_dir():
            raise NotesError(f"{root} is not a folder.")
        root = root.resolve()
        name = (name or root.name or "notes").strip()
        if not name or any(c in name for c in "/\\\n"):
            raise NotesError(f"'{name}' cannot be a collection name.")
        return self.repo.add_collection(name, str(root))

    def remove_collection(self, name: str) -> None:
        from assistant.notes.vectors import manifest_stamp

        with self._sync_lock, self.writing():
            ids = self.repo.remove_collection(name)
            if ids:
                index = self._open_for_writing(ProgressRelay(None), SyncReport())
                index.remove(ids)
                if index.dirty:
                    index.save()
                    self._index_stamp = manifest_stamp(self.index_folder)
        if name == SAMPLES_NAME:
            private_dir(self.index_folder)
            (self.index_folder / SAMPLES_DECLINED).touch(mode=0o600)

    def add_samples(self) -> Collection:
        (self.index_folder / SAMPLES_DECLINED).unlink(missing_ok=True)
        return self.add_collection(sample_notes_folder(), SAMPLES_NAME)

    def offer_samples(self) -> Collection | None:
        """With no folder registered (and the samples never removed), register
        the bundled sample notes so search works out of the box."""
        if self.repo.collections() or (self.index_folder / SAMPLES_DECLINED).exists():
            return None
        return self.add_samples()

    # ---------------------------------------------------------------- sync
    def sync(
        self,
        progress: Callable[[SyncProgress], None] | None = None,
        cancel: threading.Event | None = None,
        collection: str | None = None,
    ) -> SyncReport:
        """Sync every collection (or one); safe to run in a worker thread.

        Takes the writer lock (waiting, with a notice, while another process
        syncs), rebuilds the keyword index if its tokenizer changed, then reads
        the folders with vectors filling in behind (``assistant.notes.sync``)."""
        from assistant.notes.vectors import manifest_stamp

        targets = [self.repo.collection(collection)] if collection else self.repo.collections()
        report = SyncReport()
        relay = ProgressRelay(progress)
        started = time.perf_counter()
        with self._sync_lock:
            report.messages += self.messages
            self.messages = []
            try:
                self.writer.acquire(
                    cancel,
                    lambda: relay.tell(
                        phase="waiting",
                        notice="Another process is syncing the notes; waiting for it to finish…",
                    ),
                )
            except Cancelled:
                report.cancelled = True
                return report
            index = None
            try:
                index = self._open_for_writing(relay, report)
                if not self._refresh_keywords(relay, report, cancel):
                    return report
                self._run_sync(index, targets, relay, report, cancel)
            finally:
                if index is not None and index.dirty:
                    index.save()
                    with self._lock:
                        self._index_stamp = manifest_stamp(self.index_folder)
                self.writer.release()
        report.collections = len(targets)
        report.seconds = time.perf_counter() - started
        return report

    def _run_sync(
        self,
        index: Any,
        targets: list[Collection],
        relay: ProgressRelay,
        report: SyncReport,
        cancel: threading.Event | None,
    ) -> None:
        from assistant.notes.chunking import Chunker
        from assistant.notes.sync import Backlog, EmbedWorker

        backlog = Backlog(index)
        backlog.add(self._plan_repair(index, relay, report))
        embedder = self.embedder
        worker = EmbedWorker(self.repo, backlog, self._embed, index.save, relay, cancel)
        worker.start()
        window = min(embedder.max_length, MAX_PASSAGE_TOKENS) - 2
        chunker = Chunker(embedder.count_tokens, max_tokens=window)
        syncer = FolderSyncer(self.repo, chunker, index, backlog, self.max_file_bytes, worker)
        if self.max_passages_per_file is not None:
            syncer.max_passages = self.max_passages_per_file
        try:
            for target in targets:
                report.merge(syncer.sync(target, relay, cancel))
                if report.cancelled:
                    break
        finally:
            worker.finish()
            relay.tell(phase="embedding", current="")
            worker.join()
        report.chunks_embedded += worker.embedded
        report.cancelled = report.cancelled or worker.cancelled
        if worker.error is not None:
            raise worker.error
        left = len(backlog)
        report.chunks_without_vectors = left
        if left:
            report.messages.append(
                f"{left} passages have no vectors yet: keyword search finds them now, "
                "and the next sync embeds them."
            )

    def _embed(
        self, texts: list[str], progress: Callable[[int], None], cancel: threading.Event | None
    ) -> np.ndarray:
        return np.asarray(self.embedder.embed(texts, progress, cancel))

    # IndexOps-style entry point kept for callers that embed directly.
    def embed(
        self, texts: list[str], progress: Callable[[int], None], cancel: threading.Event | None
    ) -> np.ndarray:
        return self._embed(texts, progress, cancel)

    def watch(
        self,
        stop: threading.Event,
        on_report: Callable[[SyncReport], None],
        progress: Callable[[SyncProgress], None] | None = None,
        collection: str | None = None,
        debounce_ms: int = 800,
    ) -> None:
        """Sync whenever files under the collections change, until ``stop`` is set.

        Blocks; run it in a worker thread (the UI) or in the foreground (the
        CLI's ``notes watch``). Each sync's report goes to ``on_report``."""
        from watchfiles import watch

        roots = [c.root for c in self.repo.collections() if collection in (None, c.name)]
        roots = [r for r in roots if Path(r).is_dir()]
        if not roots:
            raise NotesError("No notes folders to watch: `assistant notes add PATH` first.")
        for _changes in watch(
            *roots, stop_event=stop, debounce=debounce_ms, raise_interrupt=False, rust_timeout=500
        ):
            on_report(self.sync(progress=progress, cancel=stop, collection=collection))

    # -------------------------------------------------------------- search
    def search(
        self,
        query: str,
        k: int = 10,
        collection: str | None = None,
        path_glob: str | None = None,
        mode: str = "hybrid",
    ) -> list[Hit]:
        return self.search_many([query], k, collection, path_glob, mode)[0]

    def search_many(
        self,
        queries: Sequence[str],
        k: int = 10,
        collection: str | None = None,
        path_glob: str | None = None,
        mode: str = "hybrid",
    ) -> list[list[Hit]]:
        if collection is not None:
            self.repo.collection(collection)  # a clear error for a wrong name
        return self.retriever.search_many(queries, k, collection, path_glob, mode)

    # ------------------------------------------- changes made by others
    def fingerprint(self) -> tuple[object, ...]:
        """Cheap (the collection rows and the index manifest, no embedder):
        it changes when another process (``assistant notes add``/``sync``)
        changes the notes, so a running app can notice."""
        rows = tuple(
            (c.name, c.root, c.files, c.chunks, c.last_synced_at) for c in self.repo.collections()
        )
        return rows, self._saved_index_file()

    def _saved_index_file(self) -> str | None:
        import json

        try:
            manifest = json.loads((self.index_folder / "manifest.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        name = manifest.get("file") if isinstance(manifest, dict) else None
        return str(name) if name else None

    def reload_if_changed(self) -> bool:
        """Drop the vector index read earlier if another process saved a
        newer one (it is read again on next use); True when it did."""
        if self.syncing:
            return False  # this process is the writer
        with self._lock:
            index = self._index
            if index is None:
                return False
            saved = self._saved_index_file()
            if saved is None or saved == f"vectors-{index.generation}.faiss":
                return False
            self._index = None
            return True

    # -------------------------------------------------------------- status
    def status(self) -> NotesStatus:
        """Counts and state, read without loading the vectors or the model:
        vectors as last saved (or live, in the process that is syncing)."""
        from assistant.notes.keywords import tokenizer_version
        from assistant.notes.vectors import read_manifest

        collections = self.repo.collections()
        synced = [c.last_synced_at for c in collections if c.last_synced_at]
        messages, self.messages = self.messages, []
        manifest = read_manifest(self.index_folder) or {}
        live = self._index if self.writer.held else None
        vectors = live.count if live is not None else int(manifest.get("count") or 0)
        chunks = sum(c.chunks for c in collections)
        size = 0
        if self.index_folder.is_dir():
            for f in self.index_folder.glob("*"):
                try:
                    size += f.stat().st_size
                except OSError:
                    pass
        return NotesStatus(
            collections=collections,
            files=sum(c.files for c in collections),
            chunks=chunks,
            vectors=vectors,
            index_bytes=size,
            embedding_model=(manifest.get("model") if vectors else None) or self.configured_model(),
            last_sync=max(synced) if synced else None,
            skipped=self.repo.skipped_files(),
            messages=messages,
            vectors_model=manifest.get("model") if vectors else None,
            syncing=self.syncing or self.writer.busy_elsewhere(),
            keywords_current=(not chunks)
            or self.repo.keyword_index_version() == tokenizer_version(),
        )

    def configured_model(self) -> str:
        """The embedding model the settings ask for (folder name or hub id)."""
        name = getattr(self.embedder, "model_name", None)
        return str(name) if name else str(getattr(self.embedder, "name", "unknown"))

    def pending_work(self) -> str | None:
        """Why a sync should run before searching, or None: a collection never
        synced, a keyword index from another tokenizer, vectors missing or
        built by another model. Cheap: counts and the manifest only.

        A manifest that is gone or cannot be read is not work to do first:
        rebuilding means embedding every passage again (minutes for a few
        thousand), so the search answers from keywords at once, as with a
        corrupt index file (``index_problem`` says so), and the next sync
        rebuilds."""
        from assistant.notes.keywords import tokenizer_version
        from assistant.notes.vectors import read_manifest

        collections = self.repo.collections()
        if any(c.last_synced_at is None for c in collections):
            return "a collection was never synced"
        chunks = self.repo.chunk_count()
        if not chunks:
            return None
        if self.repo.keyword_index_version() != tokenizer_version():
            return "the keyword index needs rebuilding"
        manifest = read_manifest(self.index_folder)
        if manifest is None or not isinstance(manifest.get("count"), int):
            return None  # lost or unreadable: keywords now, the rebuild at the next sync
        if manifest["count"] != chunks:
            return "some passages have no vectors yet"
        embedder = self.embedder
        model = str(manifest.get("model") or "")
        if model.split("@")[0] != getattr(embedder, "model_name", model.split("@")[0]):
            return "the embedding model changed"
        return None

    # ----------------------------------------------------------- grounding
    def grounding(
        self, k: int = 6, collection: str | None = None, language: str | None = None
    ) -> NotesGrounding:
        """A ``GroundingProvider`` for ``ChatService.send(..., grounding=...)``;
        ``language``: answer in it (None: in the question's language)."""
        from assistant.notes.grounding import NotesGrounding

        return NotesGrounding(self, k=k, collection=collection, language=language)

    @property
    def syncing(self) -> bool:
        """True while a sync runs in this process (for the UI's index state)."""
        return self._sync_lock.locked()

    def busy_elsewhere(self) -> bool:
        """True while another process holds the writer lock (a sync runs there)."""
        return self.writer.busy_elsewhere()

    def index_problem(self) -> str | None:
        """Why the saved vectors cannot be used now (a manifest gone or
        unreadable, a corrupt index file, another model), or None; searches
        meanwhile find passages by keyword only, and the next sync rebuilds."""
        if not self.repo.chunk_count():
            return None
        self.vector_index()
        return self._index_problem

    def passage_text(self, chunk_id: int) -> str | None:
        """A passage as the index holds it (its heading first, when the text
        does not start with it); None when it is no longer indexed."""
        rows = self.repo.chunk_texts([chunk_id])
        if not rows:
            return None
        _, heading, body = rows[0]
        return f"{heading}\n\n{body}" if heading and heading not in body else body

    def coverage(self) -> tuple[int, int]:
        """(passages with a vector, passages): how far vectors have filled in."""
        chunks = self.repo.chunk_count()
        index = self.vector_index()
        return min(index.count, chunks), chunks


__all__ = ["NotesService", "NotesStatus", "SyncProgress", "SyncReport", "Hit"]
