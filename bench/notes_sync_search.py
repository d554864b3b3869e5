"""Re-sync of an unchanged 5,000-file folder, and search latency at 5k and 100k chunks.

1. 5,000 generated notes are synced once (real embedder), then synced again
   unchanged: by the same service (warm) and by a fresh one, as a new process
   would (index loaded from disk and checked against the chunk rows).
2. Single-query hybrid search latency, query embedding included, p50/p95 over
   200 queries at 5k chunks; then 95k synthetic chunks are added for the 100k
   case: random unit vectors in FAISS, and text drawn word by word from the
   SciFact abstracts (so words keep natural frequencies; a 60-word vocabulary
   would make every query word match most passages, which no real folder
   does). Queries are drawn the same way. The time is also split into query
   embedding, FTS5 and FAISS.

    python -m bench.notes_sync_search
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

WORDS = (
    "garden kettle harbour lantern meadow quartz ribbon saddle timber velvet walnut "
    "anchor basil cedar dolphin ember falcon glacier hazel iris juniper kelp lemon "
    "maple nectar orchid pepper quill raven sorrel thistle umber violet willow yarrow "
    "budget invoice meeting release backup server router deploy schema index replica "
    "recipe flour starter oven proof salt water yeast crumb crust loaf dough"
).split()


def note(rng: random.Random, i: int) -> str:
    body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 90)))
    return f"# Note {i}\n\n## Topic {rng.choice(WORDS)}\n\n{body}.\n"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def corpus_words() -> list[str]:
    """Words of the SciFact abstracts in order (natural frequencies), if present."""
    try:
        from bench._scifact import load_corpus

        docs = load_corpus(3000)
    except SystemExit:
        return WORDS
    return [w for d in docs for w in d["text"].split()]


def latency(notes, vocabulary: list[str], rng: random.Random, n: int = 200) -> str:
    parts: dict[str, list[float]] = {"total": [], "embed": [], "fts5": [], "faiss": []}
    index = notes.vector_index()
    for _ in range(n):
        query = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(3, 8)))
        t = time.perf_counter()
        notes.search(query, k=10)
        parts["total"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        vector = notes.embed_queries([query])[0]
        parts["embed"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        notes.repo.keyword_search(query, 100)
        parts["fts5"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        index.search(vector, 100)
        parts["faiss"].append((time.perf_counter() - t) * 1000)
    return ", ".join(
        f"{name} p50 {statistics.median(v):.1f} ms p95 {percentile(v, 95):.1f} ms"
        for name, v in parts.items()
    )


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="syncbench-"))
    os.environ["ASSISTANT_HOME"] = str(work / "home")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from assistant.notes.chunking import Chunk
    from assistant.notes.service import NotesService
    from assistant.paths import app_paths
    from assistant.store.database import Database

    rng = random.Random(7)
    folder = work / "notes"
    for i in range(5000):
        sub = folder / f"d{i % 50:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"note-{i}.md").write_text(note(rng, i), encoding="utf-8")
    paths = app_paths()
    db = Database(paths.database)
    notes = NotesService(db, paths)
    notes.add_collection(folder, "bench")
    t = time.perf_counter()
    first = notes.sync()
    print(
        f"first sync: {first.files_added} files, {first.chunks_embedded} chunks in "
        f"{time.perf_counter() - t:.1f}s (load average {os.getloadavg()[0]:.1f})"
    )
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        again = notes.sync()
        runs.append(time.perf_counter() - t)
        assert again.chunks_embedded == 0 and again.files_unchanged == 5000
    print(f"re-sync unchanged 5000 files (warm service): median {statistics.median(runs):.2f}s")
    fresh = NotesService(db, paths, embedder=notes.embedder)
    t = time.perf_counter()
    again = fresh.sync()
    print(
        f"re-sync unchanged 5000 files (fresh service, index loaded and checked): "
        f"{time.perf_counter() - t:.2f}s, {again.chunks_embedded} chunks embedded"
    )

    vocabulary = corpus_words()
    notes.search("warm up", k=10)
    print(f"search latency at {notes.repo.chunk_count()} chunks: {latency(notes, vocabulary, rng)}")

    coll = notes.repo.collection("bench")
    index = notes.vector_index()
    extra = 100_000 - notes.repo.chunk_count()
    t = time.perf_counter()
    batch = 5000
    for start in range(0, extra, batch):
        files = []
        for i in range(start, min(extra, start + batch), 10):
            chunks = [
                Chunk(1, 1, f"Synthetic {i}", " ".join(rng.choices(vocabulary, k=120)), 160)
                for _ in range(10)
            ]
            files.append((f"synthetic/{i}.md", 1, 1, f"h{i}", "markdown", chunks))
        ids, _ = notes.repo.store_files(coll.id, files)
        vectors = np.random.default_rng(start).standard_normal((len(ids), 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        index.add(ids, vectors)
    print(f"added {extra} synthetic chunks in {time.perf_counter() - t:.1f}s")
    notes.search("warm up", k=10)
    print(f"search latency at {notes.repo.chunk_count()} chunks: {latency(notes, vocabulary, rng)}")


if __name__ == "__main__":
    main()
