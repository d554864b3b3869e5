"""``NotesService``: the one object the CLI, the UI and chat grounding use.

It owns the embedder (loaded lazily, on whichever thread first needs it), the
vector index (opened and checked against the chunk rows on first use, rebuilt
or repaired with a message when they disagree) and the repository. Every
public method is safe to call from a worker thread; index changes are
serialised by one lock so a background sync and a search can overlap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.errors import NotesError
from assistant.notes.loaders import DEFAULT_MAX_FILE_BYTES
from assistant.notes.repository import Collection, NotesRepository, SkippedFile
from assistant.notes.retriever import Hit, HybridRetriever
from assistant.notes.sync import FolderSyncer, SyncProgress, SyncReport
from assistant.paths import AppPaths, private_dir

if TYPE_CHECKING:
    from assistant.notes.grounding import NotesGrounding
    from assistant.store.database import Database

SAMPLES_NAME = "samples"
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
    ) -> None:
        self.db = db
        self.paths = paths
        self.repo = NotesRepository(db)
        self._embedder = embedder
        self._embedding_model = embedding_model
        self.max_file_bytes = max_file_bytes
        self._index: Any = None
        self._lock = threading.RLock()  # lazy loading of the embedder and the index
        self._sync_lock = threading.Lock()  # one sync at a time; searches never wait on it
        self.messages: list[str] = []  # rebuild/repair notices for the user
        self.retriever = HybridRetriever(self.repo, self.vector_index, self.embed_queries)

    # ------------------------------------------------------------ embedder
    @property
    def embedder(self) -> Any:
        with self._lock:
            if self._embedder is None:
                from assistant.notes.embedder import SentenceEmbedder

                folder = Path(self._embedding_model).expanduser() if self._embedding_model else None
                self._embedder = SentenceEmbedder(folder, cache_dir=self.paths.cache)
            return self._embedder

    def embed_queries(self, queries: Sequence[str]) -> np.ndarray:
        return self.embedder.embed(list(queries))

    # -------------------------------------------------------- vector index
    @property
    def index_folder(self) -> Path:
        return self.paths.index

    def vector_index(self) -> Any:
        """The open vector index, checked against the chunk rows on first use."""
        with self._lock:
            if self._index is None:
                self._index = self._open_index()
            return self._index

    def _open_index(self) -> Any:
        from assistant.notes.vectors import (
            IndexNeedsRebuild,
            VectorIndex,
            discard,
            remove_tmp_leftovers,
        )

        folder = private_dir(self.index_folder)
        remove_tmp_leftovers(folder)
        embedder = self.embedder
        embedder.load()
        if embedder.notice:
            self.messages.append(embedder.notice)
        model, dim = embedder.name, embedder.dimension
        try:
            index = VectorIndex.load(folder, model, dim)
        except IndexNeedsRebuild as why:
            index = VectorIndex(folder, model, dim)
            if self.repo.chunk_count():
                self.messages.append(f"Rebuilding the notes index: {why}.")
            discard(folder)
        self._reconcile(index)
        return index

    def _reconcile(self, index: Any) -> None:
        """Make the vectors match the chunk rows: embed missing, drop extra."""
        rows = set(self.repo.chunk_ids())
        have = set(index.ids().tolist())
        extra = have - rows
        missing = sorted(rows - have)
        if not extra and not missing:
            return
        if extra:
            index.remove(sorted(extra))
        if missing:
            if have:
                self.messages.append(
                    f"Repairing the notes index: {len(missing)} passages had no vectors."
                )
            from assistant.notes.chunking import Chunk

            texts = [
                Chunk(0, 0, heading, body, 0).embedding_text()
                for _, heading, body in self.repo.chunk_texts(missing)
            ]
            ids = [cid for cid, _, _ in self.repo.chunk_texts(missing)]
            index.add(ids, self.embedder.embed(texts))
        index.save()

    # IndexOps for the syncer
    def embed(
        self, texts: list[str], progress: Callable[[int], None], cancel: threading.Event | None
    ) -> np.ndarray:
        return self.embedder.embed(texts, progress, cancel)

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        self.vector_index().add(ids, vectors)

    def remove(self, ids: list[int]) -> None:
        if ids:
            self.vector_index().remove(ids)

    def reconstruct(self, ids: list[int]) -> np.ndarray:
        return self.vector_index().reconstruct(ids)

    def save(self) -> None:
        index = self.vector_index()
        if index.dirty:
            index.save()

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
        with self._sync_lock:
            ids = self.repo.remove_collection(name)
            if ids:
                self.remove(ids)
                self.save()
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
        """Sync every collection (or one); safe to run in a worker thread."""
        from assistant.notes.chunking import Chunker

        targets = [self.repo.collection(collection)] if collection else self.repo.collections()
        report = SyncReport()
        with self._sync_lock:
            index = self.vector_index()
            report.messages += self.messages
            self.messages = []
            embedder = self.embedder
            window = embedder.max_length - 2
            chunker = Chunker(embedder.count_tokens, max_tokens=window)
            syncer = FolderSyncer(self.repo, chunker, self, self.max_file_bytes)
            try:
                for target in targets:
                    report.merge(syncer.sync(target, progress, cancel))
                    if report.cancelled:
                        break
            finally:
                if index.dirty:
                    index.save()
        report.collections = len(targets)
        return report

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
        collections = self.repo.collections()
        index = self.vector_index() if self.repo.chunk_count() or self._index else None
        synced = [c.last_synced_at for c in collections if c.last_synced_at]
        messages, self.messages = self.messages, []
        return NotesStatus(
            collections=collections,
            files=sum(c.files for c in collections),
            chunks=sum(c.chunks for c in collections),
            vectors=index.count if index is not None else 0,
            index_bytes=index.size_bytes() if index is not None else 0,
            embedding_model=self.embedder.name if index is not None else self.embedder.model_name,
            last_sync=max(synced) if synced else None,
            skipped=self.repo.skipped_files(),
            messages=messages,
        )

    # ----------------------------------------------------------- grounding
    def grounding(self, k: int = 6, collection: str | None = None) -> NotesGrounding:
        """A ``GroundingProvider`` for ``ChatService.send(..., grounding=...)``."""
        from assistant.notes.grounding import NotesGrounding

        return NotesGrounding(self, k=k, collection=collection)

    @property
    def syncing(self) -> bool:
        """True while a sync runs (for the UI's index state)."""
        return self._sync_lock.locked()


__all__ = ["NotesService", "NotesStatus", "SyncProgress", "SyncReport", "Hit"]
