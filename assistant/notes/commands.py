"""``assistant notes ...``: add, remove, list, sync, watch, status, search.

Only argparse is imported at module level (``assistant --help`` stays
instant); the notes machinery loads inside the command functions. With no
folder registered, commands that need an index register the bundled sample
notes (collection 'samples') and say so; ``notes remove samples`` turns that
off for good.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any


def _service(args: argparse.Namespace) -> Any:
    from assistant.cli import runtime_from
    from assistant.notes.service import NotesService

    return NotesService.from_runtime(runtime_from(args))


def _out(text: str = "", err: bool = False) -> None:
    from assistant.cli import out

    out(text, err=err)


def _json_line(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


class ProgressLine:
    """A one-line progress bar on stderr (redrawn in place on a terminal)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.drawn = False

    def __call__(self, p: Any) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        final = p.phase == "embedding" and p.chunks_done == p.chunks_total
        if now - self.last < (0.2 if self.tty else 5.0) and not final:
            return
        self.last = now
        from assistant.textsafe import sanitize

        if p.phase == "embedding" and p.chunks_total:
            width = 24
            filled = int(width * p.chunks_done / p.chunks_total)
            left = p.seconds_left
            eta = f"  ~{left:.0f}s left" if left is not None else ""
            line = (
                f"{sanitize(p.collection)}: [{'#' * filled}{'-' * (width - filled)}] "
                f"{p.files_done}/{p.files_total} files  {p.chunks_done}/{p.chunks_total} chunks  "
                f"{p.chunks_per_second:.1f} chunks/s{eta}"
            )
        elif p.phase == "reading" and p.files_total:
            line = f"{sanitize(p.collection)}: reading {p.files_done}/{p.files_total} files"
        else:
            line = f"{sanitize(p.collection)}: {p.phase}…"
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + line)
            self.drawn = True
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.drawn = False


def _report_dict(report: Any) -> dict[str, Any]:
    from dataclasses import asdict

    d = asdict(report)
    d["seconds"] = round(d["seconds"], 3)
    return d


def _run_sync(notes: Any, args: argparse.Namespace, collection: str | None = None) -> Any:
    from assistant.cli import CancelOnSigint

    bar = ProgressLine(enabled=not getattr(args, "quiet", False))
    with CancelOnSigint() as cancel:
        try:
            report = notes.sync(progress=bar, cancel=cancel, collection=collection)
        finally:
            bar.close()
    for message in report.messages:
        _out(message, err=True)
    return report


def _summary(report: Any) -> str:
    parts = [
        f"{report.files_added} added",
        f"{report.files_changed} changed",
        f"{report.files_renamed} renamed",
        f"{report.files_deleted} deleted",
        f"{report.files_unchanged} unchanged",
        f"{report.files_skipped} skipped",
    ]
    return (
        f"Synced {report.collections} collection(s) in {report.seconds:.1f}s: "
        + ", ".join(parts)
        + f"; {report.chunks_embedded} passages embedded, {report.chunks_reused} reused, "
        f"{report.chunks_removed} removed."
    )


def _ensure_ready(notes: Any, args: argparse.Namespace) -> None:
    """Offer the samples when nothing is registered; sync folders never synced."""
    if notes.offer_samples() is not None:
        _out(
            "No notes folder registered yet: using the bundled sample notes "
            "(`assistant notes add PATH` adds yours; "
            "`assistant notes remove samples` drops these).",
            err=True,
        )
    if any(c.last_synced_at is None for c in notes.collections()):
        report = _run_sync(notes, args)
        if report.cancelled:
            from assistant.notes.errors import NotesError

            raise NotesError("Sync cancelled; the index is incomplete.")


# ------------------------------------------------------------------ commands
def cmd_add(args: argparse.Namespace) -> int:
    from pathlib import Path

    from assistant.notes.errors import NotesError

    notes = _service(args)
    if args.samples:
        coll = notes.add_samples()
    elif args.path:
        coll = notes.add_collection(Path(args.path), args.name)
    else:
        raise NotesError("Give a folder to add, or --samples for the bundled sample notes.")
    _out(f"Added collection '{coll.name}' at {coll.root}; run `assistant notes sync` to index it.")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    notes = _service(args)
    notes.remove_collection(args.name)
    _out(f"Removed collection '{args.name}' and its index entries.")
    return 0


def _collection_dict(c: Any) -> dict[str, Any]:
    return {
        "name": c.name,
        "root": c.root,
        "files": c.files,
        "chunks": c.chunks,
        "skipped": c.skipped,
        "created_at": c.created_at.isoformat(),
        "last_synced_at": c.last_synced_at.isoformat() if c.last_synced_at else None,
    }


def cmd_list(args: argparse.Namespace) -> int:
    notes = _service(args)
    collections = notes.collections()
    if args.json:
        from assistant.cli import print_json

        print_json([_collection_dict(c) for c in collections])
    elif not collections:
        _out("No notes folders yet: `assistant notes add PATH` or `assistant notes add --samples`.")
    else:
        for c in collections:
            synced = f"{c.last_synced_at:%Y-%m-%d %H:%M}" if c.last_synced_at else "never synced"
            _out(f"{c.name:<16} {c.files:>6} files {c.chunks:>7} chunks  {synced}  {c.root}")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    notes = _service(args)
    if notes.offer_samples() is not None:
        _out("No notes folder registered yet: indexing the bundled sample notes.", err=True)
    report = _run_sync(notes, args, args.collection)
    if args.json:
        from assistant.cli import print_json

        print_json(_report_dict(report))
    else:
        _out(_summary(report), err=False)
    return 130 if report.cancelled else 0


def cmd_watch(args: argparse.Namespace) -> int:
    import logging

    notes = _service(args)
    notes.offer_samples()
    if args.collection:
        notes.repo.collection(args.collection)  # a clear error for a wrong name
    report = _run_sync(notes, args, args.collection)
    _out(_summary(report), err=True)
    logging.getLogger("watchfiles").setLevel(logging.ERROR)

    def on_report(r: Any) -> None:
        for message in r.messages:
            _out(message, err=True)
        _out(time.strftime("%H:%M:%S ") + _summary(r), err=True)

    _out("Watching for changes; Ctrl-C stops.", err=True)
    try:
        notes.watch(threading.Event(), on_report, collection=args.collection)
    except KeyboardInterrupt:
        pass
    _out("Stopped watching.", err=True)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    notes = _service(args)
    st = notes.status()
    if args.json:
        from assistant.cli import print_json

        print_json(
            {
                "collections": [_collection_dict(c) for c in st.collections],
                "files": st.files,
                "chunks": st.chunks,
                "vectors": st.vectors,
                "index_bytes": st.index_bytes,
                "embedding_model": st.embedding_model,
                "last_sync": st.last_sync.isoformat() if st.last_sync else None,
                "skipped": [s.__dict__ for s in st.skipped],
                "messages": st.messages,
            }
        )
        return 0
    for m in st.messages:
        _out(m, err=True)
    if not st.collections:
        _out("No notes folders yet: `assistant notes add PATH` or `assistant notes add --samples`.")
    for c in st.collections:
        synced = f"{c.last_synced_at:%Y-%m-%d %H:%M}" if c.last_synced_at else "never synced"
        _out(f"{c.name}: {c.root} — {c.files} files, {c.chunks} chunks, last sync {synced}")
    _out(f"Files: {st.files}  Chunks: {st.chunks}  Vectors: {st.vectors}")
    _out(f"Index size: {st.index_bytes / 1024:.1f} KiB  Embedding model: {st.embedding_model}")
    _out(f"Last sync: {st.last_sync:%Y-%m-%d %H:%M} UTC" if st.last_sync else "Last sync: never")
    if st.skipped:
        _out(f"Skipped files ({len(st.skipped)}):")
        for s in st.skipped:
            _out(f"  {s.collection}/{s.path}: {s.reason}")
    return 0


def _read_queries(args: argparse.Namespace) -> list[str]:
    from assistant.notes.errors import NotesError

    if args.queries:
        try:
            with open(args.queries, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise NotesError(f"Could not read queries from {args.queries}: {exc}.") from None
        return [q for q in lines if q.strip()]
    if args.query == ["-"]:
        try:
            return [q for q in sys.stdin.read().splitlines() if q.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise NotesError(f"Could not read queries from standard input: {exc}.") from None
    query = " ".join(args.query).strip()
    if not query:
        raise NotesError("Nothing to search for: give a query, '-' for stdin or --queries FILE.")
    return [query]


def cmd_search(args: argparse.Namespace) -> int:
    from assistant.notes.errors import NotesError
    from assistant.notes.retriever import highlight

    queries = _read_queries(args)
    if args.k < 1:
        raise NotesError("-k must be at least 1.")
    notes = _service(args)
    _ensure_ready(notes, args)
    results = notes.search_many(queries, args.k, args.collection, args.path, args.mode)
    for m in notes.messages:
        _out(m, err=True)
    if args.json:
        for query, hits in zip(queries, results, strict=True):
            _json_line({"query": query, "hits": [h.to_dict() for h in hits]})
        return 0
    for n, (query, hits) in enumerate(zip(queries, results, strict=True)):
        if len(queries) > 1:
            _out(("\n" if n else "") + f"# {query}")
        if not hits:
            _out("No passages match.")
        for rank, h in enumerate(hits, start=1):
            heading = f"  — {h.heading}" if h.heading else ""
            page = f" (page {h.page})" if h.page else ""
            ranks = (
                f"keyword #{h.keyword_rank or '-'}, vector #{h.vector_rank or '-'}, "
                f"score {h.score:.4f}"
            )
            _out(f"{rank:>2}. {h.collection}/{h.location}{page}{heading}  [{ranks}]")
            _out(f"    {highlight(h.snippet, h.highlights, '**', '**')}")
    return 0


# ------------------------------------------------------------------ parser
def register(subparsers: Any) -> None:
    notes = subparsers.add_parser("notes", help="index folders of notes and search them")
    sub = notes.add_subparsers(dest="notes_action", metavar="ACTION", required=True)

    p = sub.add_parser("add", help="register a folder of notes (a collection)")
    p.add_argument("path", nargs="?", help="the folder")
    p.add_argument("--name", help="collection name (default: the folder's name)")
    p.add_argument("--samples", action="store_true", help="register the bundled sample notes")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("remove", help="forget a collection and its index entries")
    p.add_argument("name")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("list", help="list collections")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("sync", help="bring the index up to date with the folders")
    p.add_argument("--collection", metavar="NAME", help="only this collection")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the sync report as JSON")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("watch", help="sync now, then again whenever files change")
    p.add_argument("--collection", metavar="NAME", help="only this collection")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("status", help="collections, counts, index size, skipped files")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("search", help="hybrid (keyword + meaning) search over your notes")
    p.add_argument("query", nargs="*", help="the query; '-' reads one query per line from stdin")
    p.add_argument("--queries", metavar="FILE", help="read one query per line from FILE")
    p.add_argument("-k", type=int, default=10, help="hits per query (default 10)")
    p.add_argument("--collection", metavar="NAME", help="only this collection")
    p.add_argument("--path", metavar="GLOB", help="only files whose path matches GLOB")
    p.add_argument(
        "--mode", choices=("hybrid", "keyword", "vector"), default="hybrid",
        help="hybrid (default) or one side only",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="one JSON object per query")
    p.add_argument("--quiet", action="store_true", help="no progress bar if a sync runs first")
    p.set_defaults(func=cmd_search)


# ------------------------------------------------------------ ask --notes
def notes_grounding(rt: Any, args: argparse.Namespace) -> Any:
    """The grounding provider ``assistant ask --notes`` passes to the chat service."""
    from assistant.notes.service import NotesService

    notes = NotesService.from_runtime(rt)
    _ensure_ready(notes, args)
    for m in notes.messages:
        _out(m, err=True)
    notes.messages = []
    return notes.grounding()


def print_sources(citations: Any) -> None:
    """Sources after an answer: ``[n] path:start-end (page) — heading``."""
    if not citations:
        _out("(no passages from your notes matched)", err=True)
        return
    _out("\nSources:")
    for c in citations:
        page = f" (page {c['page']})" if c.get("page") else ""
        heading = f" — {c['heading']}" if c.get("heading") else ""
        _out(f"  [{c['n']}] {c['collection']}/{c['location']}{page}{heading}")
