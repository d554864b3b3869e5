"""A missing or broken ``index/manifest.json`` does not make `notes search`
re-embed every passage before answering: it answers at once from keywords,
as a broken ``.faiss`` file already does, says why in one line, and leaves
the rebuild to the next sync (issue 17, item 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.notes.conftest import write
from tests.notes.test_cli_notes import run, shared_embedder  # noqa: F401 - the fixture

BREAKAGES = {
    "missing": lambda p: p.unlink(),
    "cut short": lambda p: p.write_text(p.read_text()[:25]),
    "empty": lambda p: p.write_text(""),
    "not an object": lambda p: p.write_text("[1, 2, 3]"),
    "wrong types": lambda p: p.write_text(
        json.dumps({**json.loads(p.read_text()), "count": "many", "model": 7})
    ),
    "garbage bytes": lambda p: p.write_bytes(b"\xff\xfe\x00garbage"),
}


@pytest.fixture
def synced(folder, capsys):
    for i in range(12):
        write(
            folder,
            f"n{i:02}.md",
            f"# Note {i}\n\nThe planted fact {i} concerns lighthouse number {i}.\n",
        )
    assert run(["notes", "add", str(folder), "--name", "mine"], capsys)[0] == 0
    code, out, err = run(["notes", "sync"], capsys)
    assert code == 0 and "12 added" in out, err
    return folder


def manifest_path() -> Path:
    from assistant.paths import app_paths

    return app_paths().index / "manifest.json"


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_search_answers_from_keywords_and_leaves_the_rebuild_to_the_sync(synced, capsys, breakage):
    manifest = manifest_path()
    BREAKAGES[breakage](manifest)
    broken = manifest.read_bytes() if manifest.exists() else None

    code, out, err = run(["notes", "search", "planted fact 7", "-k", "3"], capsys)
    assert code == 0, err
    assert "n07.md" in out.splitlines()[0]  # found by its words
    assert "Rebuilding" not in err and "embedding" not in err  # nothing re-embedded...
    assert (manifest.read_bytes() if manifest.exists() else None) == broken  # ...nor written
    notices = [line for line in err.splitlines() if "vector index" in line]
    assert len(notices) == 1, err
    assert "keyword" in notices[0] and "notes sync" in notices[0]

    code, out, err = run(["notes", "sync"], capsys)  # the next sync rebuilds it
    assert code == 0, err
    assert "Rebuilding the notes index" in err + out
    saved = json.loads(manifest.read_text())
    assert saved["count"] == 12
    code, out, err = run(["notes", "search", "planted fact 7", "-k", "3"], capsys)
    assert code == 0 and "vector index" not in err and "vector #" in out


def test_a_never_saved_index_is_still_built_before_the_first_search(folder, capsys):
    """Not a lost manifest: a collection never synced is synced before searching."""
    write(folder, "a.md", "# A\n\nThe torque wrench is calibrated every spring.\n")
    assert run(["notes", "add", str(folder), "--name", "mine"], capsys)[0] == 0
    code, out, err = run(["notes", "search", "torque wrench"], capsys)
    assert code == 0 and "a.md" in out
    assert json.loads(manifest_path().read_text())["count"] == 1
