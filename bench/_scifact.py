"""BEIR-layout datasets (SciFact, the Chinese CMRC set) and the retrieval
metrics shared by the notes benchmarks."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DEFAULT = "scifact-train"


def dataset_dir(name: str = DEFAULT) -> Path:
    for candidate in (DATASETS / name, Path("/work/shared/datasets") / name):
        if (candidate / "corpus.jsonl").is_file():
            return candidate
    raise SystemExit(f"Dataset {name} not found: expected ../shared/datasets/{name}")


def load_corpus(limit: int | None = None, name: str = DEFAULT) -> list[dict]:
    docs = []
    with open(dataset_dir(name) / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            docs.append(json.loads(line))
            if limit and len(docs) >= limit:
                break
    return docs


def load_queries(name: str = DEFAULT) -> tuple[list[tuple[str, str]], dict[str, set[str]]]:
    qrels: dict[str, set[str]] = {}
    with open(dataset_dir(name) / "qrels.tsv", encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            qid, did, score = line.rstrip("\n").split("\t")
            if int(score) > 0:
                qrels.setdefault(qid, set()).add(did)
    queries = []
    with open(dataset_dir(name) / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            q = json.loads(line)
            if q["_id"] in qrels:
                queries.append((q["_id"], q["text"]))
    return queries, qrels


def write_folder(docs: Sequence[dict], folder: Path) -> None:
    """One file per abstract, title as the first line: how a user's folder looks."""
    folder.mkdir(parents=True, exist_ok=True)
    for d in docs:
        (folder / f"{d['_id']}.txt").write_text(f"{d['title']}\n\n{d['text']}\n", encoding="utf-8")


def ndcg_at(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if d in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal if ideal else 0.0


def recall_at(ranked: Sequence[str], relevant: set[str], k: int = 100) -> float:
    return len(set(ranked[:k]) & relevant) / len(relevant) if relevant else 0.0


def dedupe(ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def machine_line() -> str:
    """CPU model and flags with the load average, printed beside every figure."""
    import os

    from bench import cpu_flags

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"machine: {cpu_flags()}; {os.cpu_count()} cores; load average {load}"
