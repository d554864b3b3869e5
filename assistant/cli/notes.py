"""``assistant notes ...``: add, remove, list, sync, watch, status, search.

With no folder registered, commands that need an index register the bundled
sample notes (collection 'samples') and say so; ``notes remove samples``
turns that off for good.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assistant.cli.console import (
    EXIT_INTERRUPTED,
    CancelOnSigint,
    out,
    print_json,
    print_json_line,
    progress_bar,
    say,
)
from assistant.cli.options import runtime
from assistant.domain import plural

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from assistant.domain import Citation
    from assistant.notes.repository import Collection
    from assistant.notes.service import NotesService
    from assistant.notes.sync import SyncProgress, SyncReport
    from assistant.runtime import Runtime

NO_FOLDERS = "No notes folders yet: `assistant notes add PATH` or `assistant notes add --samples`."


class SyncProgressView:
    """Feeds a sync's progress to a rich bar, or to a line every few seconds
    when stderr is not a terminal. While files are read the bar counts files
    (the file in hand and how far, for a big one) and says how many passages
    have vectors so far; once all are read it counts passages embedded.
    Notices (a rebuild, a repair, waiting for another sync) are printed at
    once, before the work they announce."""

    def __init__(self, bar: Progress | None, enabled: bool) -> None:
        self.bar = bar
        self.enabled = enabled
        self.task: TaskID | None = None
        self.last_line = 0.0
        self.last_text = ""
        self.shown: list[str] = []  # notices already printed

    def __call__(self, p: SyncProgress) -> None:
        from assistant.textsafe import one_line

        if p.notice:
            self.shown.append(p.notice)
            if self.bar is not None:
                self.bar.console.print(one_line(p.notice), markup=False, highlight=False)
            else:
                say(p.notice)
        if not self.enabled:
            return
        name = one_line(p.collection)
        vectors = (
            f"{p.chunks_done}/{plural(p.chunks_total, 'passage')} embedded"
            if (p.chunks_total)
            else ""
        )
        if p.phase == "reading" and p.files_total:
            what, done, total = f"{name}: reading", p.files_done, p.files_total
            rate = "  ".join(x for x in (p.current[-40:], vectors) if x)
        elif p.phase in ("embedding", "keywords") and p.chunks_total:
            verb = "keyword index" if p.phase == "keywords" else "embedding"
            what, done, total = f"{name}: {verb}", p.chunks_done, p.chunks_total
            rate = f"{p.chunks_per_second:.1f} passages/s" if p.phase == "embedding" else ""
        else:
            what, done, total, rate = f"{name}: {p.phase}…", 0, 0, ""
        if self.bar is not None:
            if self.task is None:
                self.task = self.bar.add_task(what, total=total or None, rate=rate)
            self.bar.update(self.task, description=what, completed=done, total=total or None,
                            rate=rate)  # fmt: skip
            return
        now = time.monotonic()
        final = p.phase == "embedding" and 0 < p.chunks_total == p.chunks_done
        if now - self.last_line >= 5.0 or final:
            left = p.seconds_left
            eta = f", ~{left:.0f}s left" if left is not None and p.phase == "embedding" else ""
            line = f"{what} {done}/{total} {rate}{eta}".rstrip()
            if line != self.last_text:
                self.last_line, self.last_text = now, line
                sys.stderr.write(line + "\n")
                sys.stderr.flush()


@contextmanager
def sync_progress(quiet: bool) -> Iterator[SyncProgressView]:
    with progress_bar(enabled=not quiet) as bar:
        yield SyncProgressView(bar, enabled=not quiet)


def run_sync(notes: NotesService, quiet: bool, collection: str | None = None) -> SyncReport:
    with CancelOnSigint() as cancel, sync_progress(quiet) as view:
        report = notes.sync(progress=view, cancel=cancel, collection=collection)
    for message in report.messages:
        if message not in view.shown:
            say(message)
    return report


def summary(report: SyncReport) -> str:
    parts = [
        f"{report.files_added} added",
        f"{report.files_changed} changed",
        f"{report.files_renamed} renamed",
        f"{report.files_deleted} deleted",
        f"{report.files_unchanged} unchanged",
        f"{report.files_skipped} skipped",
    ]
    head = "Stopped" if report.cancelled else "Synced"
    text = (
        f"{head} {plural(report.collections, 'collection')} in {report.seconds:.1f}s: "
        + ", ".join(parts)
        + f"; {plural(report.chunks_embedded, 'passage')} embedded, {report.chunks_reused} "
        f"reused, {report.chunks_removed} removed."
    )
    if report.chunks_without_vectors:
        missing = report.chunks_without_vectors
        text += (
            f" {plural(missing, 'stored passage')} {'has' if missing == 1 else 'have'} no "
            "vectors yet (keyword search finds them; the next sync embeds them)."
        )
    return text


def ensure_notes_ready(rt: Runtime, quiet: bool = False) -> NotesService:
    """Offer the samples when nothing is registered, and run a sync first when
    the index needs one (a folder never synced, a keyword or vector index to
    rebuild or repair). If another process is syncing right now, search what
    is indexed so far instead of waiting for it."""
    from assistant.errors import NotesError

    notes = rt.notes
    if notes.offer_samples() is not None:
        say(
            "No notes folder registered yet: using the bundled sample notes "
            "(`assistant notes add PATH` adds yours; "
            "`assistant notes remove samples` drops these)."
        )
    if notes.pending_work() is not None:
        if notes.busy_elsewhere():
            say(
                "Another process is syncing your notes: searching what is indexed so far "
                "(`assistant notes status` says how far it is)."
            )
        else:
            report = run_sync(notes, quiet)
            if report.cancelled:
                raise NotesError("Sync cancelled; the index is incomplete.")
    for m in notes.messages:
        say(m)
    notes.messages = []
    return notes


def print_sources(citations: Iterable[Citation]) -> None:
    """Sources after an answer: ``[n] collection/path:start-end (page) — heading``."""
    citations = list(citations)
    if not citations:
        say("(no passages from your notes matched)")
        return
    from assistant.domain import USED_MARK
    from assistant.textsafe import one_line

    used = any(c.used for c in citations)
    out(f"\nSources{f' ({USED_MARK}the answer comes from)' if used else ''}:")
    for c in citations:
        page = f" ({c.place})" if c.place else ""
        heading = f" — {c.heading}" if c.heading else ""
        where = f"{c.collection}/{c.location}" if c.collection else c.location
        mark = USED_MARK if c.used else " " * len(USED_MARK) if used else ""
        out(f"  {mark}[{c.n}] {one_line(where)}{page}{one_line(heading)}")


def collection_dict(c: Collection) -> dict[str, Any]:
    return {
        "name": c.name,
        "root": c.root,
        "files": c.files,
        "chunks": c.chunks,
        "skipped": c.skipped,
        "created_at": c.created_at.isoformat(),
        "last_synced_at": c.last_synced_at.isoformat() if c.last_synced_at else None,
    }


# ------------------------------------------------------------------ commands
@click.group()
def notes() -> None:
    """Index folders of notes and search them."""


@notes.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--name", help="Collection name (default: the folder's name).")
@click.option("--samples", is_flag=True, help="Register the bundled sample notes.")
@click.pass_context
def add(ctx: click.Context, path: Path | None, name: str | None, samples: bool) -> int:
    """Register a folder of notes (a collection)."""
    from assistant.errors import NotesError

    service = runtime(ctx).notes
    if samples:
        coll = service.add_samples()
    elif path is not None:
        coll = service.add_collection(path, name)
    else:
        raise NotesError("Give a folder to add, or --samples for the bundled sample notes.")
    out(f"Added collection '{coll.name}' at {coll.root}; run `assistant notes sync` to index it.")
    return 0


@notes.command()
@click.argument("name")
@click.pass_context
def remove(ctx: click.Context, name: str) -> int:
    """Forget a collection and its index entries."""
    runtime(ctx).notes.remove_collection(name)
    out(f"Removed collection '{name}' and its index entries.")
    return 0


@notes.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> int:
    """List collections."""
    collections = runtime(ctx).notes.collections()
    if as_json:
        print_json([collection_dict(c) for c in collections])
    elif not collections:
        out(NO_FOLDERS)
    else:
        for c in collections:
            synced = f"{c.last_synced_at:%Y-%m-%d %H:%M}" if c.last_synced_at else "never synced"
            out(f"{c.name:<16} {c.files:>6} files {c.chunks:>7} chunks  {synced}  {c.root}")
    return 0


@notes.command()
@click.option("--collection", metavar="NAME", help="Only this collection.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the sync report as JSON.")
@click.pass_context
def sync(ctx: click.Context, collection: str | None, quiet: bool, as_json: bool) -> int:
    """Bring the index up to date with the folders."""
    service = runtime(ctx).notes
    if service.offer_samples() is not None:
        say("No notes folder registered yet: indexing the bundled sample notes.")
    report = run_sync(service, quiet, collection)
    if as_json:
        d = asdict(report)
        d["seconds"] = round(d["seconds"], 3)
        print_json(d)
    else:
        out(summary(report))
    return EXIT_INTERRUPTED if report.cancelled else 0


@notes.command()
@click.option("--collection", metavar="NAME", help="Only this collection.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def watch(ctx: click.Context, collection: str | None, quiet: bool) -> int:
    """Sync now, then again whenever files change."""
    import logging

    service = runtime(ctx).notes
    service.offer_samples()
    if collection:
        service.repo.collection(collection)  # a clear error for a wrong name
    report = run_sync(service, quiet, collection)
    say(summary(report))
    logging.getLogger("watchfiles").setLevel(logging.ERROR)

    def on_report(r: SyncReport) -> None:
        for message in r.messages:
            say(message)
        say(time.strftime("%H:%M:%S ") + summary(r))

    say("Watching for changes; Ctrl-C stops.")
    try:
        service.watch(threading.Event(), on_report, collection=collection)
    except KeyboardInterrupt:
        pass
    say("Stopped watching.")
    return 0


@notes.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> int:
    """Collections, counts, index size, embedding model, skipped files."""
    from assistant.textsafe import one_line

    service = runtime(ctx).notes
    st = service.status()
    if as_json:
        print_json(
            {
                "collections": [collection_dict(c) for c in st.collections],
                "files": st.files,
                "chunks": st.chunks,
                "vectors": st.vectors,
                "vectors_missing": st.vectors_missing,
                "index_bytes": st.index_bytes,
                "embedding_model": st.embedding_model,
                "configured_embedding_model": service.configured_model(),
                "syncing": st.syncing,
                "keyword_index_current": st.keywords_current,
                "last_sync": st.last_sync.isoformat() if st.last_sync else None,
                "skipped": [s.__dict__ for s in st.skipped],
                "messages": st.messages,
            }
        )
        return 0
    for m in st.messages:
        say(m)
    if not st.collections:
        out(NO_FOLDERS)
    for c in st.collections:
        synced = f"{c.last_synced_at:%Y-%m-%d %H:%M}" if c.last_synced_at else "never synced"
        out(
            f"{one_line(c.name)}: {one_line(c.root)} — {c.files} files, {c.chunks} chunks, "
            f"last sync {synced}"
        )
    out(f"Files: {st.files}  Chunks: {st.chunks}  Vectors: {st.vectors}")
    if st.syncing:
        out(
            f"A sync is running: {st.vectors} of {st.chunks} passages have vectors so far; "
            "the others are found by keyword meanwhile."
        )
    elif st.vectors_missing:
        out(
            f"{st.vectors_missing} passages have no vectors yet (found by keyword); "
            "`assistant notes sync` embeds them."
        )
    if not st.keywords_current:
        out("The keyword index is from an older version; the next sync rebuilds it.")
    out(f"Index size: {st.index_bytes / 1024:.1f} KiB")
    configured = service.configured_model()
    if st.vectors_model:
        out(f"Vectors built by: {st.vectors_model}")
        if st.vectors_model.split("@")[0] != configured:
            out(f"Embedding model set: {configured} (the next sync rebuilds the vectors with it)")
    else:
        out(f"Embedding model: {configured}")
    out(f"Last sync: {st.last_sync:%Y-%m-%d %H:%M} UTC" if st.last_sync else "Last sync: never")
    if st.skipped:
        out(f"Skipped files ({len(st.skipped)}):")
        for s in st.skipped:
            out(f"  {one_line(s.collection)}/{one_line(s.path)}: {one_line(s.reason)}")
    return 0


def read_queries(query: tuple[str, ...], queries_file: Path | None) -> list[str]:
    from assistant.errors import NotesError

    if queries_file is not None:
        try:
            lines = queries_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise NotesError(f"Could not read queries from {queries_file}: {exc}.") from None
        return [q for q in lines if q.strip()]
    if query == ("-",):
        try:
            return [q for q in sys.stdin.read().splitlines() if q.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise NotesError(f"Could not read queries from standard input: {exc}.") from None
    text = " ".join(query).strip()
    if not text:
        raise NotesError("Nothing to search for: give a query, '-' for stdin or --queries FILE.")
    return [text]


@notes.command()
@click.argument("query", nargs=-1)
@click.option("--queries", "queries_file", type=click.Path(path_type=Path), metavar="FILE",
              help="Read one query per line from FILE.")  # fmt: skip
@click.option("-k", "k", type=int, default=10, help="Hits per query (default 10).")
@click.option("--collection", metavar="NAME", help="Only this collection.")
@click.option("--path", "path_glob", metavar="GLOB", help="Only files whose path matches GLOB.")
@click.option("--mode", type=click.Choice(["hybrid", "keyword", "vector"]), default="hybrid",
              help="hybrid (default) or one side only.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="One JSON object per query.")
@click.option("--quiet", is_flag=True, help="No progress bar if a sync runs first.")
@click.pass_context
def search(
    ctx: click.Context,
    query: tuple[str, ...],
    queries_file: Path | None,
    k: int,
    collection: str | None,
    path_glob: str | None,
    mode: str,
    as_json: bool,
    quiet: bool,
) -> int:
    """Hybrid (keyword + meaning) search; QUERY '-' reads one query per line from stdin."""
    from assistant.errors import NotesError
    from assistant.notes.retriever import highlight

    queries = read_queries(query, queries_file)
    if k < 1:
        raise NotesError("-k must be at least 1.")
    from assistant.textsafe import one_line

    service = ensure_notes_ready(runtime(ctx), quiet)
    results = service.search_many(queries, k, collection, path_glob, mode)
    for m in service.messages:
        say(m)
    problem = service.index_problem() if mode != "keyword" else None
    if problem:
        say(
            f"(the saved vector index cannot be used: {problem}; these are keyword results "
            "only, and the next `assistant notes sync` rebuilds it)"
        )
    elif mode != "keyword":
        with_vectors, passages = service.coverage()
        if with_vectors < passages:
            say(
                f"(vectors for {with_vectors} of {passages} passages so far; "
                "the rest are found by keyword only)"
            )
    if as_json:
        for q, hits in zip(queries, results, strict=True):
            print_json_line({"query": q, "hits": [h.to_dict() for h in hits]})
        return 0
    for n, (q, hits) in enumerate(zip(queries, results, strict=True)):
        if len(queries) > 1:
            out(("\n" if n else "") + f"# {q}")
        if not hits:
            out("No passages match.")
        for rank, h in enumerate(hits, start=1):
            heading = f"  — {one_line(h.heading)}" if h.heading else ""
            page = f" ({h.place})" if h.place else ""
            ranks = (
                f"keyword #{h.keyword_rank or '-'}, vector #{h.vector_rank or '-'}, "
                f"score {h.score:.4f}"
            )
            where = one_line(f"{h.collection}/{h.location}")
            out(f"{rank:>2}. {where}{page}{heading}  [{ranks}]")
            out(f"    {highlight(h.snippet, h.highlights, '**', '**')}")
    return 0
