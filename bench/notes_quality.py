"""Retrieval quality through the user's code path, on SciFact or the Chinese set.

Writes one file per document (title as the first line) into a folder,
registers it as a collection and syncs it with ``NotesService.sync``. While
that first sync runs, a second ``NotesService`` on the same database (as
another process would) polls a keyword search for the first query, so the
time from ``notes add`` to the first keyword hit is measured against the
whole sync. Then every query runs in one batch through
``NotesService.search_many`` (what ``assistant notes search --json --queries
FILE`` calls) in keyword, vector and hybrid mode, and hybrid once more with
the language gate off (equal-weight fusion whatever the model's languages),
to show what the gate does. Passages map back to their file, keeping each
file's best rank.

    python -m bench.notes_quality [--dataset scifact-train|cmrc2018-zh] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from bench._scifact import (
    dedupe,
    load_corpus,
    load_queries,
    machine_line,
    ndcg_at,
    recall_at,
    write_folder,
)


def poll_first_hit(database: Path, paths, query: str, stop: threading.Event, out: dict) -> None:
    """Keyword-search ``query`` every 50 ms from a separate service (its own
    connections, like another process) until it finds something."""
    from assistant.notes.service import NotesService
    from assistant.store.database import Database

    reader = NotesService(Database(database), paths)
    while not stop.is_set():
        if reader.search(query, k=1, mode="keyword"):
            out["first_hit"] = time.perf_counter()
            return
        time.sleep(0.05)


def evaluate(notes, queries, qrels, mode: str) -> tuple[float, float, float]:
    t = time.perf_counter()
    hits = notes.search_many([q for _, q in queries], k=300, mode=mode)
    elapsed = time.perf_counter() - t
    ndcg = recall = 0.0
    for (qid, _), ranked_hits in zip(queries, hits, strict=True):
        ranked = dedupe(Path(h.path).stem for h in ranked_hits)
        ndcg += ndcg_at(ranked, qrels[qid], 10)
        recall += recall_at(ranked, qrels[qid], 100)
    return ndcg / len(queries), recall / len(queries), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="scifact-train", help="a BEIR folder in shared/")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep the index")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="notes-quality-"))
    os.environ["ASSISTANT_HOME"] = str(work / "home")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from assistant.notes.service import NotesService
    from assistant.paths import app_paths
    from assistant.store.database import Database

    print(machine_line())
    docs = load_corpus(name=args.dataset)
    queries, qrels = load_queries(args.dataset)
    folder = work / args.dataset
    if not folder.exists():
        write_folder(docs, folder)
    paths = app_paths()
    notes = NotesService(Database(paths.database), paths)
    fresh = not notes.collections()
    if fresh:
        notes.embedder.load()  # the export is cached; not part of the sync's time
        started = time.perf_counter()
        notes.add_collection(folder, args.dataset)
        stop, seen = threading.Event(), {}
        poller = threading.Thread(
            target=poll_first_hit, args=(paths.database, paths, queries[0][1], stop, seen)
        )
        poller.start()
    else:
        started = time.perf_counter()
    report = notes.sync()
    total = time.perf_counter() - started
    print(
        f"sync: {report.files_added} files, {report.chunks_stored} passages stored, "
        f"{report.chunks_embedded} embedded in {total:.1f}s ({notes.embedder.name})"
    )
    if fresh:
        stop.set()
        poller.join()
        if "first_hit" in seen:
            first = seen["first_hit"] - started
            print(
                f"first keyword hit {first:.2f}s after `notes add`, full sync {total:.1f}s: "
                f"ratio {first / total:.4f}"
            )
    else:
        print("(index reused from --keep: the first-hit timing needs a fresh folder)")
    print(machine_line())
    results = {}
    for mode in ("keyword", "vector", "hybrid"):
        results[mode] = evaluate(notes, queries, qrels, mode)
        ndcg, recall, elapsed = results[mode]
        print(
            f"{mode:<8} nDCG@10 {ndcg:.4f}  recall@100 {recall:.4f}  "
            f"({len(queries)} queries in {elapsed:.1f}s)"
        )
    notes.retriever.language_gate = False
    ndcg, recall, elapsed = evaluate(notes, queries, qrels, "hybrid")
    notes.retriever.language_gate = True
    print(
        f"hybrid without the language gate (equal weights everywhere) nDCG@10 {ndcg:.4f}  "
        f"recall@100 {recall:.4f}  ({elapsed:.1f}s)"
    )
    print(f"embedding model languages: {sorted(notes.embedding_languages() or ['all'])}")
    best_part = max(results["keyword"][0], results["vector"][0])
    change = results["hybrid"][0] - best_part
    verdict = "beats" if change > 0 else ("equals" if change == 0 else "does NOT beat")
    print(f"hybrid {verdict} the better of its parts ({change:+.4f} nDCG@10)")
    print(machine_line())


if __name__ == "__main__":
    main()
