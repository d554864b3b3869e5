"""The one door to the notes tables: collections, files, chunks, FTS5.

Each public method is one transaction. Chunk rows and their FTS5 entries
change together (triggers); the caller mirrors chunk ids into the vector index.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from assistant.errors import CollectionNotFound, NotesError
from assistant.notes.chunking import Chunk
from assistant.notes.tables import ChunkRow, CollectionRow, NoteFileRow, NotesMetaRow
from assistant.store.database import Database
from assistant.store.tables import utcnow

# Words in more than this share of passages are left out of keyword queries.
COMMON_TERM_SHARE = 0.10
MIN_PASSAGES_FOR_PRUNING = 1000
# BM25 scores every passage that holds any of the words: about 1 ms per 1,000
# passages on a 2-core machine, so a query's words are capped at this many
# matching passages in all (the rarest word always stays).
MAX_MATCHED_PASSAGES = 15_000
TOKENIZER_KEY = "keyword_tokenizer"
# (language, heading terms, body terms): what FTS5 indexes for one chunk
KeywordEntry = tuple[str, str, str]


def query_terms(query: str) -> list[str]:
    """The words of a query as it is searched (segmented, stop words dropped)."""
    from assistant.notes.keywords import query_groups

    return [group[0] for group in query_groups(query)]


def _phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _group_match(group: Sequence[str]) -> str:
    return " OR ".join(_phrase(t) for t in group)


# (path, size, mtime_ns, content hash, kind, chunks, keyword entries)
StoredFile = tuple[str, int, int, str, str, list[Chunk], list[KeywordEntry]]


@dataclass(frozen=True)
class Collection:
    id: int
    name: str
    root: str
    created_at: datetime
    last_synced_at: datetime | None
    files: int = 0
    chunks: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class FileState:
    id: int
    path: str
    size: int
    mtime_ns: int
    content_hash: str | None
    skip_reason: str | None
    chunk_count: int


@dataclass(frozen=True)
class ChunkInfo:
    id: int
    collection: str
    root: str
    path: str
    start_line: int
    end_line: int
    page: int | None
    heading: str
    text: str
    kind: str | None = None  # the file's loader kind (pdf, pptx, xlsx...)
    lang: str | None = None


@dataclass(frozen=True)
class SkippedFile:
    collection: str
    path: str
    reason: str


class NotesRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._languages: set[str] | None = None  # languages of the indexed passages

    # ------------------------------------------------------------------ meta
    def meta(self, key: str) -> str | None:
        with self.db.reader() as s:
            return s.scalar(select(NotesMetaRow.value).where(NotesMetaRow.key == key))

    def set_meta(self, key: str, value: str) -> None:
        with self.db.session() as s, s.begin():
            row = s.get(NotesMetaRow, key)
            if row is None:
                s.add(NotesMetaRow(key=key, value=value))
            else:
                row.value = value

    # ---------------------------------------------------------- collections
    def add_collection(self, name: str, root: str) -> Collection:
        with self.db.session() as s, s.begin():
            if s.scalar(select(CollectionRow.id).where(CollectionRow.name == name)):
                raise NotesError(f"A collection named '{name}' already exists.")
            clash = s.scalar(select(CollectionRow.name).where(CollectionRow.root == root))
            if clash:
                raise NotesError(f"{root} is already registered as collection '{clash}'.")
            row = CollectionRow(name=name, root=root)
            s.add(row)
            s.flush()
            return Collection(row.id, row.name, row.root, row.created_at, None)

    def remove_collection(self, name: str) -> list[int]:
        """Delete a collection with its files and chunks; returns the chunk ids removed."""
        with self.db.session() as s, s.begin():
            cid = s.scalar(select(CollectionRow.id).where(CollectionRow.name == name))
            if cid is None:
                raise CollectionNotFound(f"There is no collection named '{name}'.")
            ids = list(
                s.scalars(
                    select(ChunkRow.id)
                    .join(NoteFileRow, NoteFileRow.id == ChunkRow.file_id)
                    .where(NoteFileRow.collection_id == cid)
                )
            )
            # delete chunks explicitly so the FTS trigger removes their text
            s.execute(
                delete(ChunkRow).where(
                    ChunkRow.file_id.in_(
                        select(NoteFileRow.id).where(NoteFileRow.collection_id == cid)
                    )
                )
            )
            s.execute(delete(NoteFileRow).where(NoteFileRow.collection_id == cid))
            s.execute(delete(CollectionRow).where(CollectionRow.id == cid))
            return ids

    def collections(self) -> list[Collection]:
        with self.db.reader() as s:
            rows = s.scalars(select(CollectionRow).order_by(CollectionRow.name)).all()
            counts = {
                cid: (files, chunks or 0, skipped or 0)
                for cid, files, chunks, skipped in s.execute(
                    select(
                        NoteFileRow.collection_id,
                        func.count(NoteFileRow.id),
                        func.sum(NoteFileRow.chunk_count),
                        func.sum(NoteFileRow.skip_reason.is_not(None)),
                    ).group_by(NoteFileRow.collection_id)
                )
            }
        out = []
        for r in rows:
            files, chunks, skipped = counts.get(r.id, (0, 0, 0))
            out.append(
                Collection(
                    r.id, r.name, r.root, r.created_at, r.last_synced_at,
                    files - skipped, chunks, skipped,
                )
            )  # fmt: skip
        return out

    def collection(self, name: str) -> Collection:
        for c in self.collections():
            if c.name == name:
                return c
        raise CollectionNotFound(f"There is no collection named '{name}'.")

    def mark_synced(self, collection_id: int) -> None:
        with self.db.session() as s, s.begin():
            s.execute(
                update(CollectionRow)
                .where(CollectionRow.id == collection_id)
                .values(last_synced_at=utcnow())
            )

    # ---------------------------------------------------------------- files
    def file_states(self, collection_id: int) -> dict[str, FileState]:
        with self.db.reader() as s:
            rows = s.execute(
                select(
                    NoteFileRow.id,
                    NoteFileRow.path,
                    NoteFileRow.size,
                    NoteFileRow.mtime_ns,
                    NoteFileRow.content_hash,
                    NoteFileRow.skip_reason,
                    NoteFileRow.chunk_count,
                ).where(NoteFileRow.collection_id == collection_id)
            ).all()
        return {r[1]: FileState(*r) for r in rows}

    def chunks_of_files(self, file_ids: Sequence[int]) -> dict[int, list[tuple[int, str, str]]]:
        """(chunk id, heading, text) per file id, for reusing vectors of unchanged passages."""
        out: dict[int, list[tuple[int, str, str]]] = {}
        with self.db.reader() as s:
            for start in range(0, len(file_ids), 500):
                rows = s.execute(
                    select(ChunkRow.file_id, ChunkRow.id, ChunkRow.heading, ChunkRow.text).where(
                        ChunkRow.file_id.in_(file_ids[start : start + 500])
                    )
                )
                for fid, cid, heading, body in rows:
                    out.setdefault(fid, []).append((cid, heading, body))
        return out

    def files_by_hash(self, hashes: Iterable[str]) -> dict[str, int]:
        """An indexed file id for each content hash we already hold."""
        wanted = list(set(hashes))
        out: dict[str, int] = {}
        with self.db.reader() as s:
            for start in range(0, len(wanted), 500):
                rows = s.execute(
                    select(NoteFileRow.content_hash, NoteFileRow.id).where(
                        NoteFileRow.content_hash.in_(wanted[start : start + 500]),
                        NoteFileRow.skip_reason.is_(None),
                    )
                )
                for h, fid in rows:
                    if h is not None:
                        out.setdefault(h, fid)
        return out

    def delete_files(self, file_ids: Sequence[int]) -> list[int]:
        """Purge files and their chunks; returns the chunk ids removed."""
        removed: list[int] = []
        with self.db.session() as s, s.begin():
            for start in range(0, len(file_ids), 500):
                part = file_ids[start : start + 500]
                removed += s.scalars(select(ChunkRow.id).where(ChunkRow.file_id.in_(part))).all()
                s.execute(delete(ChunkRow).where(ChunkRow.file_id.in_(part)))
                s.execute(delete(NoteFileRow).where(NoteFileRow.id.in_(part)))
        return removed

    def move_file(self, file_id: int, new_path: str, size: int, mtime_ns: int) -> None:
        with self.db.session() as s, s.begin():
            s.execute(
                update(NoteFileRow)
                .where(NoteFileRow.id == file_id)
                .values(path=new_path, size=size, mtime_ns=mtime_ns)
            )

    def touch_files(self, stamps: Sequence[tuple[int, int, int]]) -> None:
        """Record a new (size, mtime) for files whose content did not change."""
        if not stamps:
            return
        with self.db.session() as s, s.begin():
            s.execute(
                update(NoteFileRow),
                [{"id": fid, "size": size, "mtime_ns": m} for fid, size, m in stamps],
            )

    def record_skipped(
        self, collection_id: int, skipped: Sequence[tuple[str, int, int, str]]
    ) -> list[int]:
        """Store files that are not indexed (path, size, mtime, reason), replacing
        any indexed version; returns the chunk ids that were removed."""
        if not skipped:
            return []
        removed: list[int] = []
        with self.db.session() as s, s.begin():
            for path, size, mtime_ns, reason in skipped:
                fid = s.scalar(
                    select(NoteFileRow.id).where(
                        NoteFileRow.collection_id == collection_id, NoteFileRow.path == path
                    )
                )
                if fid is not None:
                    removed += s.scalars(select(ChunkRow.id).where(ChunkRow.file_id == fid)).all()
                    s.execute(delete(ChunkRow).where(ChunkRow.file_id == fid))
                    s.execute(
                        update(NoteFileRow)
                        .where(NoteFileRow.id == fid)
                        .values(
                            size=size, mtime_ns=mtime_ns, content_hash=None, kind=None,
                            skip_reason=reason, chunk_count=0, indexed_at=utcnow(),
                        )
                    )  # fmt: skip
                else:
                    s.add(
                        NoteFileRow(
                            collection_id=collection_id, path=path, size=size,
                            mtime_ns=mtime_ns, skip_reason=reason, chunk_count=0,
                        )
                    )  # fmt: skip
        return removed

    def store_files(
        self,
        collection_id: int,
        files: Sequence[tuple[str, int, int, str, str, list[Chunk]] | StoredFile],
    ) -> tuple[list[int], list[int]]:
        """Write (path, size, mtime, hash, kind, chunks[, keyword entries])
        files with their keyword entries, replacing old versions. Returns (new
        chunk ids in input order, old chunk ids removed). Keyword entries not
        given are prepared here (better done before, outside the write lock)."""
        from assistant.notes.keywords import prepare_keywords

        prepared = [f if len(f) == 7 else (*f, prepare_keywords(f[5])) for f in files]
        new_ids: list[int] = []
        removed: list[int] = []
        with self.db.session() as s, s.begin():
            for path, size, mtime_ns, digest, kind, chunks, keywords in prepared:
                fid = s.scalar(
                    select(NoteFileRow.id).where(
                        NoteFileRow.collection_id == collection_id, NoteFileRow.path == path
                    )
                )
                values = dict(
                    size=size, mtime_ns=mtime_ns, content_hash=digest, kind=kind,
                    skip_reason=None, chunk_count=len(chunks), indexed_at=utcnow(),
                )  # fmt: skip
                if fid is None:
                    row = NoteFileRow(collection_id=collection_id, path=path, **values)
                    s.add(row)
                    s.flush()
                    fid = row.id
                else:
                    removed += s.scalars(select(ChunkRow.id).where(ChunkRow.file_id == fid)).all()
                    s.execute(delete(ChunkRow).where(ChunkRow.file_id == fid))
                    s.execute(update(NoteFileRow).where(NoteFileRow.id == fid).values(**values))
                if chunks:
                    ids = s.scalars(
                        insert(ChunkRow).returning(ChunkRow.id, sort_by_parameter_order=True),
                        [
                            dict(
                                file_id=fid,
                                ordinal=n,
                                start_line=c.start_line,
                                end_line=c.end_line,
                                page=c.page,
                                heading=c.heading,
                                text=c.text,
                                token_count=c.token_count,
                                lang=entry[0],
                            )
                            for n, (c, entry) in enumerate(zip(chunks, keywords, strict=True))
                        ],  # fmt: skip
                    ).all()
                    self._write_keywords(s, list(zip(ids, keywords, strict=True)))
                    new_ids += ids
                    if self._languages is not None:
                        self._languages |= {entry[0] for entry in keywords}
        return new_ids, removed

    @staticmethod
    def _write_keywords(s: Session, entries: Sequence[tuple[int, KeywordEntry]]) -> None:
        if entries:
            s.execute(
                text("INSERT INTO notes_fts(rowid, heading, body) VALUES (:id, :h, :b)"),
                [{"id": cid, "h": h, "b": b} for cid, (_, h, b) in entries],
            )

    # ------------------------------------------------------ keyword index
    def keyword_index_version(self) -> str | None:
        return self.meta(TOKENIZER_KEY)

    def reindex_keywords(
        self,
        version: str,
        prepare: Callable[[list[tuple[str, str]]], list[KeywordEntry]],
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
        batch: int = 2000,
    ) -> bool:
        """Rebuild the keyword index from the chunk rows (vectors are not
        touched): ``prepare`` turns (heading, text) pairs into keyword entries.
        Written in batches; the version is recorded last, so an interrupted
        rebuild starts again from the beginning next time. Returns False when
        cancelled."""
        with self.db.reader() as s:
            ids = list(s.scalars(select(ChunkRow.id).order_by(ChunkRow.id)))
        with self.db.session() as s, s.begin():
            s.execute(text("DELETE FROM notes_fts"))
        done = 0
        for start in range(0, len(ids), batch):
            if cancel is not None and cancel.is_set():
                return False
            part = ids[start : start + batch]
            rows = self.chunk_texts(part)
            entries = prepare([(heading, body) for _, heading, body in rows])
            with self.db.session() as s, s.begin():
                pairs = [(cid, e) for (cid, _, _), e in zip(rows, entries, strict=True)]
                s.execute(update(ChunkRow), [{"id": cid, "lang": e[0]} for cid, e in pairs])
                self._write_keywords(s, pairs)
            done += len(part)
            if progress is not None:
                progress(done, len(ids))
        self.set_meta(TOKENIZER_KEY, version)
        self._languages = None
        return True

    def indexed_languages(self) -> set[str]:
        """Languages of the indexed passages (read once, then kept up to date)."""
        if self._languages is None:
            with self.db.reader() as s:
                self._languages = {
                    lang for lang in s.scalars(select(ChunkRow.lang).distinct()) if lang
                }
        return set(self._languages)

    def chunk_langs(self, ids: Sequence[int]) -> dict[int, str | None]:
        out: dict[int, str | None] = {}
        with self.db.reader() as s:
            for start in range(0, len(ids), 500):
                rows = s.execute(
                    select(ChunkRow.id, ChunkRow.lang).where(
                        ChunkRow.id.in_(ids[start : start + 500])
                    )
                )
                out.update({int(cid): lang for cid, lang in rows})
        return out

    # --------------------------------------------------------------- chunks
    def chunk_ids(self) -> list[int]:
        with self.db.reader() as s:
            return list(s.scalars(select(ChunkRow.id)))

    def chunk_texts(self, ids: Sequence[int]) -> list[tuple[int, str, str]]:
        """(id, heading, text) for the given chunk ids."""
        out: list[tuple[int, str, str]] = []
        with self.db.reader() as s:
            for start in range(0, len(ids), 500):
                out += [
                    (r[0], r[1], r[2])
                    for r in s.execute(
                        select(ChunkRow.id, ChunkRow.heading, ChunkRow.text).where(
                            ChunkRow.id.in_(ids[start : start + 500])
                        )
                    )
                ]
        return out

    def chunk_infos(self, ids: Sequence[int]) -> dict[int, ChunkInfo]:
        out: dict[int, ChunkInfo] = {}
        if not ids:
            return out
        with self.db.reader() as s:
            for start in range(0, len(ids), 500):
                rows = s.execute(
                    select(
                        ChunkRow.id,
                        CollectionRow.name,
                        CollectionRow.root,
                        NoteFileRow.path,
                        ChunkRow.start_line,
                        ChunkRow.end_line,
                        ChunkRow.page,
                        ChunkRow.heading,
                        ChunkRow.text,
                        NoteFileRow.kind,
                        ChunkRow.lang,
                    )  # fmt: skip
                    .join(NoteFileRow, NoteFileRow.id == ChunkRow.file_id)
                    .join(CollectionRow, CollectionRow.id == NoteFileRow.collection_id)
                    .where(ChunkRow.id.in_(ids[start : start + 500]))
                )
                for r in rows:
                    out[r[0]] = ChunkInfo(*r)
        return out

    def filtered_chunk_ids(self, collection: str | None, path_glob: str | None) -> list[int]:
        stmt = select(ChunkRow.id).join(NoteFileRow, NoteFileRow.id == ChunkRow.file_id)
        if collection is not None:
            stmt = stmt.join(CollectionRow, CollectionRow.id == NoteFileRow.collection_id).where(
                CollectionRow.name == collection
            )
        if path_glob:
            stmt = stmt.where(NoteFileRow.path.op("GLOB")(path_glob))
        with self.db.reader() as s:
            return list(s.scalars(stmt))

    def _informative_groups(self, groups: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
        """Drop words found in more than COMMON_TERM_SHARE of all passages,
        then the most common of the rest while together they would match more
        than MAX_MATCHED_PASSAGES.

        BM25 must score every passage that holds any ORed word, so one common
        word makes a query touch most of the index while adding almost nothing
        to the ranking; the rarest word is always kept."""
        if len(groups) < 2:
            return groups
        with self.db.reader() as s:
            total = s.execute(text("SELECT count(*) FROM notes_fts_docsize")).scalar() or 0
            if total < MIN_PASSAGES_FOR_PRUNING:
                return groups
            counts = {
                g: s.execute(
                    text("SELECT count(*) FROM notes_fts WHERE notes_fts MATCH :t"),
                    {"t": _group_match(g)},
                ).scalar()
                or 0
                for g in groups
            }
        kept = [g for g in groups if counts[g] <= COMMON_TERM_SHARE * total]
        if not kept:
            return [min(groups, key=counts.__getitem__)]
        while len(kept) > 1 and sum(counts[g] for g in kept) > MAX_MATCHED_PASSAGES:
            kept.remove(max(kept, key=counts.__getitem__))
        return kept

    def keyword_search(
        self,
        query: str,
        limit: int,
        collection: str | None = None,
        path_glob: str | None = None,
    ) -> list[tuple[int, float]]:
        """BM25 over chunk heading and text: (chunk id, score), best first.

        The query is segmented and stemmed as passages are
        (``assistant.notes.keywords``); its words are ORed so a passage needs
        only some of them, and BM25 ranks the passages that have more, and
        rarer, words first.
        """
        from assistant.notes.keywords import query_groups

        groups = query_groups(query, self.indexed_languages())
        if not groups:
            return []
        groups = self._informative_groups(groups)
        match = " OR ".join(_group_match(g) for g in groups)
        where = ["notes_fts MATCH :q"]
        params: dict[str, object] = {"q": match, "n": limit}
        joins = ""
        if collection is not None or path_glob:
            joins = (
                " JOIN notes_chunks c ON c.id = notes_fts.rowid"
                " JOIN notes_files f ON f.id = c.file_id"
                " JOIN notes_collections k ON k.id = f.collection_id"
            )
            if collection is not None:
                where.append("k.name = :collection")
                params["collection"] = collection
            if path_glob:
                where.append("f.path GLOB :glob")
                params["glob"] = path_glob
        sql = text(
            "SELECT notes_fts.rowid, bm25(notes_fts, 2.0, 1.0) AS score FROM notes_fts"
            + joins
            + " WHERE "
            + " AND ".join(where)
            + " ORDER BY score LIMIT :n"
        )
        with self.db.reader() as s:
            rows = s.execute(sql, params).all()
        return [(int(r[0]), -float(r[1])) for r in rows]

    # ---------------------------------------------------------------- status
    def skipped_files(self) -> list[SkippedFile]:
        with self.db.reader() as s:
            rows = s.execute(
                select(CollectionRow.name, NoteFileRow.path, NoteFileRow.skip_reason)
                .join(CollectionRow, CollectionRow.id == NoteFileRow.collection_id)
                .where(NoteFileRow.skip_reason.is_not(None))
                .order_by(CollectionRow.name, NoteFileRow.path)
            ).all()
        return [SkippedFile(name, path, reason or "") for name, path, reason in rows]

    def chunk_count(self) -> int:
        with self.db.reader() as s:
            return s.scalar(select(func.count(ChunkRow.id))) or 0
