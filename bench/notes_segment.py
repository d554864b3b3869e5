"""Chinese word segmentation for keyword search: which segmenter, which mode,
and what it costs a sync.

1. Speed: jieba and rjieba (its Rust port) cut the Chinese set's paragraphs,
   in precise and search mode; how often their words agree.
2. Keyword quality on the Chinese set (nDCG@10, recall@100), the passages
   stored once and their keyword entries prepared per variant: rjieba and
   jieba (passages in search mode, queries in precise mode: what ships),
   both in precise mode, character pairs (no dictionary), and no
   segmentation at all (a run of characters is one word, as FTS5 did).
3. Sync time of the Chinese set with the segmenter and without it (embedding
   included, each in a fresh folder sharing one ONNX export): the ratio.

    python -m bench.notes_segment
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
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

DATASET = "cmrc2018-zh"


class JiebaAdapter:
    """jieba behind rjieba's two calls."""

    def __init__(self) -> None:
        import jieba

        jieba.setLogLevel(60)
        jieba.initialize()
        self.jieba = jieba

    def cut(self, text: str) -> list[str]:
        return list(self.jieba.cut(text))

    def cut_for_search(self, text: str) -> list[str]:
        return list(self.jieba.cut_for_search(text))


class Precise:
    def __init__(self, inner) -> None:
        self.inner = inner

    def cut(self, text: str) -> list[str]:
        return self.inner.cut(text)

    def cut_for_search(self, text: str) -> list[str]:
        return self.inner.cut(text)


class Bigrams:
    def cut(self, text: str) -> list[str]:
        return [text[i : i + 2] for i in range(max(1, len(text) - 1))]

    cut_for_search = cut


class Whole:
    """No segmentation: a run of Chinese characters is one word."""

    def cut(self, text: str) -> list[str]:
        return [text]

    cut_for_search = cut


@contextmanager
def segmenter(impl) -> Iterator[None]:
    import assistant.notes.keywords as keywords

    real = keywords._rjieba
    keywords._rjieba = lambda: impl  # type: ignore[assignment]
    try:
        yield
    finally:
        keywords._rjieba = real


def speed(texts: list[str]) -> None:
    import rjieba

    chars = sum(len(t) for t in texts)
    jieba = JiebaAdapter()
    results = {}
    for name, impl in (("jieba", jieba), ("rjieba", rjieba)):
        for mode in ("cut", "cut_for_search"):
            fn = getattr(impl, mode)
            t = time.perf_counter()
            out = [fn(x) for x in texts]
            elapsed = time.perf_counter() - t
            results[(name, mode)] = out
            print(f"{name:<7} {mode:<15} {elapsed:6.2f}s  {chars / elapsed / 1000:7.0f}k chars/s")
    for mode in ("cut", "cut_for_search"):
        same = sum(a == b for a, b in zip(results[("jieba", mode)], results[("rjieba", mode)],
                                          strict=True))  # fmt: skip
        print(f"jieba and rjieba agree on {same}/{len(texts)} paragraphs in {mode}")


def keyword_quality(work: Path, docs, queries, qrels) -> None:
    """Passages stored once; keyword entries rebuilt for each variant."""
    os.environ["ASSISTANT_HOME"] = str(work / "kw-home")
    import rjieba

    from assistant.notes.chunking import Chunker
    from assistant.notes.embedder import SentenceEmbedder
    from assistant.notes.keywords import prepare_pairs
    from assistant.notes.loaders import load_document
    from assistant.notes.repository import NotesRepository
    from assistant.paths import app_paths
    from assistant.store.database import Database

    folder = work / "kw-docs"
    write_folder(docs, folder)
    repo = NotesRepository(Database(app_paths().database))
    collection = repo.add_collection("zh", str(folder))
    embedder = SentenceEmbedder()
    chunker = Chunker(embedder.count_tokens, max_tokens=embedder.max_length - 2)
    files = []
    for path in sorted(folder.iterdir()):
        chunks = chunker.chunk(load_document(path, "text", path.read_bytes()))
        files.append((path.name, 1, 1, "h", "text", chunks))
    repo.store_files(collection.id, files)
    variants = [
        ("rjieba, passages search mode, queries precise (shipped)", rjieba),
        ("jieba, same modes", JiebaAdapter()),
        ("rjieba, precise mode for both", Precise(rjieba)),
        ("character pairs (no dictionary)", Bigrams()),
        ("no segmentation (a run of characters is one word)", Whole()),
    ]
    for name, impl in variants:
        with segmenter(impl):
            t = time.perf_counter()
            repo.reindex_keywords(name, prepare_pairs)
            built = time.perf_counter() - t
            ndcg = recall = 0.0
            for qid, query in queries:
                hits = repo.keyword_search(query, 100)
                infos = repo.chunk_infos([cid for cid, _ in hits])
                ranked = dedupe(Path(infos[c].path).stem for c, _ in hits if c in infos)
                ndcg += ndcg_at(ranked, qrels[qid], 10)
                recall += recall_at(ranked, qrels[qid], 100)
        print(
            f"keyword nDCG@10 {ndcg / len(queries):.4f}  recall@100 {recall / len(queries):.4f}"
            f"  (keyword index built in {built:.1f}s)  {name}"
        )


def sync_time(work: Path, docs, shared: Path, impl, run: int) -> float:
    from assistant.notes.service import NotesService
    from assistant.paths import app_paths
    from assistant.store.database import Database

    home = work / f"sync-{type(impl).__name__}-{run}"
    os.environ["ASSISTANT_HOME"] = str(home)
    (home / "cache").mkdir(parents=True)
    shutil.copytree(shared, home / "cache" / "embeddings")
    folder = home / "docs"
    write_folder(docs, folder)
    paths = app_paths()
    notes = NotesService(Database(paths.database), paths)
    notes.embedder.load()
    notes.add_collection(folder, "zh")
    with segmenter(impl):
        t = time.perf_counter()
        notes.sync()
        return time.perf_counter() - t


def main() -> None:
    import rjieba

    print(machine_line())
    docs = load_corpus(name=DATASET)
    queries, qrels = load_queries(DATASET)
    texts = [f"{d['title']}\n{d['text']}" for d in docs]
    speed(texts)
    work = Path(tempfile.mkdtemp(prefix="notes-segment-"))
    keyword_quality(work, docs, queries, qrels)
    print(machine_line())
    from assistant.notes.embedder import SentenceEmbedder

    SentenceEmbedder(cache_dir=work / "export").load()
    shared = work / "export" / "embeddings"
    # in turns (with, without, with, without): the machine's load moves
    with_seg, without = [], []
    for run in range(2):
        with_seg.append(sync_time(work, docs, shared, rjieba, run))
        without.append(sync_time(work, docs, shared, Whole(), run))
        print(f"  run {run + 1}: {with_seg[-1]:.1f}s with rjieba, {without[-1]:.1f}s without")
    a, b = statistics.median(with_seg), statistics.median(without)
    print(
        f"sync of the Chinese set (embedding included): median {a:.1f}s with rjieba, "
        f"{b:.1f}s without segmentation: ratio {a / b:.3f}"
    )
    print(machine_line())
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
