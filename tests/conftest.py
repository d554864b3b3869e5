"""Every test runs with ASSISTANT_HOME in a temporary folder: no test touches
the real home directory. The bundled GGUF is assembled once per session into a
shared cache and loaded once (tests that need the real model share it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.fakes import FakeModel


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("ASSISTANT_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    # the hub's cache too: models pulled by a test (or by the user) stay apart
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return home


@pytest.fixture(scope="session")
def bundled_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from assistant.llm.catalog import bundled_model_path
    from assistant.paths import AppPaths

    base = tmp_path_factory.mktemp("model-cache")
    return bundled_model_path(AppPaths(data=base / "d", config=base / "c", cache=base))


@pytest.fixture
def home_with_model(isolated_home: Path, bundled_gguf: Path) -> Path:
    """ASSISTANT_HOME whose cache already holds the assembled bundled model."""
    models = isolated_home / "cache" / "models"
    models.mkdir(parents=True, exist_ok=True)
    for f in bundled_gguf.parent.iterdir():
        target = models / f.name
        if f.suffix == ".gguf":
            os.link(f, target) if not target.exists() else None
        else:
            shutil.copy2(f, target)
    return isolated_home


@pytest.fixture(scope="session")
def real_model(bundled_gguf: Path):
    from assistant.llm.llama import LlamaCppModel

    return LlamaCppModel(bundled_gguf, n_ctx=4096, n_threads=2, seed=7)


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory):
    """The real bundled embedder (ONNX int8 export cached for the session):
    notes and memories are ranked with it."""
    from assistant.notes.embedder import SentenceEmbedder

    emb = SentenceEmbedder(cache_dir=tmp_path_factory.mktemp("embed-cache"))
    emb.load()
    return emb


@pytest.fixture
def db(isolated_home: Path):
    from assistant.paths import app_paths
    from assistant.store.database import Database

    database = Database(app_paths().database)
    yield database
    database.close()


@pytest.fixture
def repo(db):
    from assistant.store.repository import ConversationRepository

    return ConversationRepository(db)


@pytest.fixture
def fake_model() -> FakeModel:
    return FakeModel()


@pytest.fixture
def service(repo, fake_model):
    from assistant.chat.service import ChatService

    return ChatService(repo, fake_model, system_prompt="Be brief.", flush_interval=0.0)
