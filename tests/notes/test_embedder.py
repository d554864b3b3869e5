"""The embedder's ONNX export: fused, int8, and still the bundled model's vectors."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest

PASSAGES = [
    "Vitamin D deficiency is common in patients with chronic kidney disease.",
    "The sourdough starter needs feeding twice a day with flour and water.",
    "Backups run nightly at 02:00 and are kept for thirty days on the NAS.",
    "Mitochondria produce most of the cell's supply of adenosine triphosphate.",
    "Our quarterly planning meeting moved to the second Tuesday of March.",
]
QUERIES = [
    ("low vitamin D in kidney patients", 0),
    ("how often do I feed the bread starter", 1),
    ("when do the backups happen", 2),
    ("which organelle makes ATP", 3),
    ("date of the planning meeting", 4),
]


def graph_ops(path: Path) -> collections.Counter:
    import onnx

    return collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)


@pytest.fixture(scope="module")
def reference():
    """sentence-transformers' own vectors for the same texts."""
    from sentence_transformers import SentenceTransformer

    from assistant.notes.embedder import bundled_model_folder

    model = SentenceTransformer(str(bundled_model_folder()), device="cpu")
    texts = PASSAGES + [q for q, _ in QUERIES]
    return model.encode(texts, normalize_embeddings=True)


def check_matches_reference(embedder, reference) -> None:
    vectors = embedder.embed(PASSAGES + [q for q, _ in QUERIES])
    cosines = np.sum(vectors * reference, axis=1)
    assert cosines.min() > 0.98, cosines
    passages, queries = vectors[: len(PASSAGES)], vectors[len(PASSAGES) :]
    for row, (_, expected) in enumerate(QUERIES):
        assert int(np.argmax(passages @ queries[row])) == expected


def test_default_export_is_fused_int8_and_matches_the_model(embedder, reference):
    assert embedder.backend == "onnx-int8"
    assert embedder.name.endswith("@onnx-int8-v2")
    ops = graph_ops(embedder._onnx_path(True))
    layers = 6  # all-MiniLM-L6-v2
    # Attention fused everywhere; every layer but the first quantised.
    assert ops["QAttention"] == layers - 1 and ops["Attention"] == 1
    assert ops["SkipLayerNormalization"] == 2 * layers
    assert ops["MatMulInteger"] == 3 * (layers - 1) and ops["MatMul"] == 3
    check_matches_reference(embedder, reference)


def test_export_without_fusion_still_gives_the_same_vectors(tmp_path, monkeypatch, reference):
    """An optimiser that fails keeps the plain graph: slower, same answers."""
    import onnxruntime.transformers.optimizer as optimizer

    from assistant.notes.embedder import SentenceEmbedder

    def broken(*args, **kwargs):
        raise RuntimeError("cannot fuse this graph")

    monkeypatch.setattr(optimizer, "optimize_model", broken)
    emb = SentenceEmbedder(cache_dir=tmp_path)
    emb.load()
    ops = graph_ops(emb._onnx_path(True))
    assert ops["QAttention"] == 0 and ops["Attention"] == 0 and ops["MatMulInteger"] > 0
    check_matches_reference(emb, reference)


def test_a_new_export_removes_older_ones(tmp_path):
    from assistant.notes.embedder import SentenceEmbedder

    emb = SentenceEmbedder(cache_dir=tmp_path)
    current = emb._onnx_path(True).parent
    current.mkdir(parents=True)
    (current / "model-int8.onnx").write_bytes(b"current export")
    stale = current.with_name(f"{emb.model_name}-0123456789abcdef")
    stale.mkdir()
    (stale / "model-int8.onnx").write_bytes(b"old export")
    keep = [
        current.with_name("other-model-0123456789abcdef"),  # another model
        current.with_name(f"{emb.model_name}-large-0123456789abcdef"),  # a longer name
    ]
    for folder in keep:
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"keep me")
    emb._remove_old_exports(current)
    assert not stale.exists()
    assert (current / "model-int8.onnx").read_bytes() == b"current export"
    assert all((f / "model.onnx").read_bytes() == b"keep me" for f in keep)
