"""Retrieval quality on SciFact through the user's code path.

Writes one file per abstract into a temporary folder, registers it as a
collection, syncs it with ``NotesService.sync`` and runs every claim in one
batch through ``NotesService.search_many`` (what ``assistant notes search
--json --queries FILE`` calls) in keyword, vector and hybrid mode. Passages are
mapped back to their file (the abstract id), keeping each file's best rank.

    python -m bench.notes_quality
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench._scifact import dedupe, load_corpus, load_queries, ndcg_at, recall_at, write_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep the index")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="scifact-"))
    os.environ["ASSISTANT_HOME"] = str(work / "home")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from assistant.notes.service import NotesService
    from assistant.paths import app_paths
    from assistant.store.database import Database

    docs = load_corpus()
    queries, qrels = load_queries()
    folder = work / "scifact"
    if not folder.exists():
        write_folder(docs, folder)
    paths = app_paths()
    notes = NotesService(Database(paths.database), paths)
    if not notes.collections():
        notes.add_collection(folder, "scifact")
    started = time.perf_counter()
    report = notes.sync()
    print(
        f"sync: {report.files_added} files, {report.chunks_embedded} chunks embedded "
        f"in {time.perf_counter() - started:.1f}s ({notes.embedder.name})"
    )
    texts = [q for _, q in queries]
    results = {}
    for mode in ("keyword", "vector", "hybrid"):
        t = time.perf_counter()
        hits = notes.search_many(texts, k=300, mode=mode)
        elapsed = time.perf_counter() - t
        ndcg = recall = 0.0
        for (qid, _), ranked_hits in zip(queries, hits, strict=True):
            ranked = dedupe(Path(h.path).stem for h in ranked_hits)
            ndcg += ndcg_at(ranked, qrels[qid], 10)
            recall += recall_at(ranked, qrels[qid], 100)
        results[mode] = (ndcg / len(queries), recall / len(queries))
        print(
            f"{mode:<8} nDCG@10 {results[mode][0]:.4f}  recall@100 {results[mode][1]:.4f}  "
            f"({len(queries)} queries in {elapsed:.1f}s)"
        )
    best_part = max(results["keyword"][0], results["vector"][0])
    verdict = "beats" if results["hybrid"][0] > best_part else "does NOT beat"
    print(f"hybrid {verdict} both parts (+{results['hybrid'][0] - best_part:.4f} nDCG@10)")


if __name__ == "__main__":
    main()
