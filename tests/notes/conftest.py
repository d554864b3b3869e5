"""Shared notes fixtures (the real bundled embedder is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def notes(db, embedder):
    from assistant.notes.service import NotesService
    from assistant.paths import app_paths

    return NotesService(db, app_paths(), embedder=embedder)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    root.mkdir()
    return root


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
