"""Ingest speed: our embedder against a plain ``SentenceTransformer.encode``.

The SciFact abstracts are written one file per abstract and chunked exactly as
a sync does; then the same chunk texts are embedded twice in this run, first
by ``SentenceTransformer(...).encode(texts)`` with its defaults, then by
``SentenceEmbedder.embed`` (ONNX Runtime, int8 weights, token-budget batches
sorted by length). Quality is compared on the same run: vector-only nDCG@10
over the chunks (best chunk per abstract) with each set of vectors.

    python -m bench.notes_ingest [--limit N] [--backends onnx-int8,onnx,torch]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench._scifact import dedupe, load_corpus, load_queries, ndcg_at, write_folder


def chunk_folder(folder: Path, embedder) -> tuple[list[str], list[str]]:
    from assistant.notes.chunking import Chunker
    from assistant.notes.loaders import kind_for, load_document

    chunker = Chunker(embedder.count_tokens, max_tokens=embedder.max_length - 2)
    texts, owners = [], []
    for path in sorted(folder.iterdir()):
        doc = load_document(path, kind_for(path) or "text", path.read_bytes())
        for c in chunker.chunk(doc):
            texts.append(c.embedding_text())
            owners.append(path.stem)
    return texts, owners


def vector_ndcg(doc_vectors, owners, query_vectors, queries, qrels) -> float:
    scores = query_vectors @ doc_vectors.T
    total = 0.0
    for row, (qid, _) in enumerate(queries):
        top = np.argsort(-scores[row])[:200]
        total += ndcg_at(dedupe(owners[i] for i in top), qrels[qid], 10)
    return total / len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="only the first N abstracts")
    parser.add_argument("--backends", default="onnx-int8", help="comma-separated backends")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    from assistant.notes.embedder import SentenceEmbedder, bundled_model_folder

    work = Path(tempfile.mkdtemp(prefix="ingest-"))
    docs = load_corpus(args.limit)
    write_folder(docs, work / "corpus")
    queries, qrels = load_queries()
    kept = {d["_id"] for d in docs}
    queries = [(q, t) for q, t in queries if qrels[q] & kept]

    first = SentenceEmbedder(cache_dir=work / "cache", backend=args.backends.split(",")[0])
    texts, owners = chunk_folder(work / "corpus", first)
    print(
        f"corpus: {len(docs)} abstracts -> {len(texts)} chunks; torch threads "
        f"{torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}"
    )

    plain = SentenceTransformer(str(bundled_model_folder()), device="cpu")
    plain.encode(texts[:8])  # warm-up, as for ours below
    t = time.perf_counter()
    base_vectors = plain.encode(texts, normalize_embeddings=True)
    base_time = time.perf_counter() - t
    base_q = plain.encode([q for _, q in queries], normalize_embeddings=True)
    base_ndcg = vector_ndcg(base_vectors, owners, base_q, queries, qrels)
    print(
        f"plain SentenceTransformer.encode: {base_time:.1f}s, "
        f"{len(texts) / base_time:.1f} chunks/s, {len(docs) / base_time:.1f} abstracts/s, "
        f"vector nDCG@10 {base_ndcg:.4f}"
    )
    abstracts = [f"{d['title']}\n\n{d['text']}" for d in docs]
    t = time.perf_counter()
    plain.encode(abstracts, normalize_embeddings=True)
    abstract_time = time.perf_counter() - t
    print(
        f"plain SentenceTransformer.encode of the whole abstracts (truncated to the "
        f"model's window, the issue's baseline): {abstract_time:.1f}s, "
        f"{len(docs) / abstract_time:.1f} abstracts/s"
    )
    for backend in args.backends.split(","):
        emb = SentenceEmbedder(cache_dir=work / "cache", backend=backend)
        emb.load()
        emb.embed(texts[:8])
        t = time.perf_counter()
        vectors = emb.embed(texts)
        elapsed = time.perf_counter() - t
        q = emb.embed([q for _, q in queries])
        score = vector_ndcg(vectors, owners, q, queries, qrels)
        cos = float(np.mean(np.sum(vectors * base_vectors, axis=1)))
        print(
            f"SentenceEmbedder[{emb.backend}]: {elapsed:.1f}s, "
            f"{len(texts) / elapsed:.1f} chunks/s, "
            f"{len(docs) / elapsed:.1f} abstracts/s, speed-up x{base_time / elapsed:.2f} "
            f"on the same chunks, x{abstract_time / elapsed:.2f} against the whole-abstract "
            f"baseline, vector nDCG@10 {score:.4f} "
            f"(change {score - base_ndcg:+.4f}), mean cosine to plain {cos:.4f}"
        )


if __name__ == "__main__":
    main()
