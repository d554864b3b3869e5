"""The vector index on disk: atomic saves, corruption and drift repaired.

Repairs and rebuilds happen in a sync (the app runs one at start, and `notes
search` before searching), never in a search: a search reads what is saved."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.notes.conftest import write


def _synced(notes, folder, n=3):
    for i in range(n):
        write(folder, f"n{i}.md", f"# Note {i}\n\nThe planted fact {i} concerns lighthouse {i}.\n")
    notes.add_collection(folder)
    notes.sync()
    return notes.vector_index().count


def _fresh(notes):
    from assistant.notes.service import NotesService

    return NotesService(notes.db, notes.paths, embedder=notes.embedder)


def test_kill_during_save_leaves_previous_index_loadable(notes, folder, isolated_home):
    before = _synced(notes, folder)
    manifest = (notes.index_folder / "manifest.json").read_text()
    # A child process opens the same index, adds a vector and is SIGKILLed in
    # the middle of writing the new index file.
    code = textwrap.dedent(
        f"""
        import os, signal, numpy as np
        import assistant.fileio as fileio
        from assistant.notes.vectors import VectorIndex
        import assistant.notes.vectors as vectors
        from pathlib import Path

        def dying_write(path, data, mode=None):
            fd = os.open(str(path) + ".partial", os.O_CREAT | os.O_WRONLY, 0o600)
            os.write(fd, data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)

        vectors.atomic_write_bytes = dying_write
        index = VectorIndex.load(Path({str(notes.index_folder)!r}), {notes.embedder.name!r}, 384)
        index.add([999], np.ones((1, 384), np.float32))
        index.save()
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert (notes.index_folder / "manifest.json").read_text() == manifest
    again = _fresh(notes)
    assert again.vector_index().count == before
    assert again.messages == []
    assert again.search("lighthouse 2", k=1)[0].path == "n2.md"


def test_corrupt_index_file_is_rebuilt_at_start(notes, folder):
    before = _synced(notes, folder)
    manifest = json.loads((notes.index_folder / "manifest.json").read_text())
    target = notes.index_folder / manifest["file"]
    target.write_bytes(b"\x00garbage" * 100)
    again = _fresh(notes)
    # a search does not repair: it reads nothing unusable and finds by keyword
    assert again.vector_index().count == 0
    assert again.search("lighthouse 1", k=1)[0].path == "n1.md"
    assert json.loads((notes.index_folder / "manifest.json").read_text()) == manifest
    notices = []
    report = again.sync(progress=lambda p: notices.append(p.notice) if p.notice else None)
    assert again.vector_index().count == before
    assert any("Rebuilding" in m and "corrupt" in m for m in report.messages)
    assert notices and "Rebuilding" in notices[0]  # said before the work, not after
    assert again.search("lighthouse 1", k=1, mode="vector")[0].path == "n1.md"


def test_model_or_dimension_change_rebuilds(notes, folder):
    before = _synced(notes, folder)
    path = notes.index_folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["model"] = "some-other-model"
    path.write_text(json.dumps(manifest))
    again = _fresh(notes)
    assert again.pending_work() == "the embedding model changed"
    report = again.sync()
    assert again.vector_index().count == before
    assert any("embedding model changed" in m for m in report.messages)

    manifest = json.loads(path.read_text())
    manifest["dimension"] = 768
    path.write_text(json.dumps(manifest))
    third = _fresh(notes)
    report = third.sync()
    assert third.vector_index().count == before
    assert any("dimension changed" in m for m in report.messages)


def test_vector_count_drift_is_repaired(notes, folder):
    _synced(notes, folder)
    index = notes.vector_index()
    victim = int(index.ids()[0])
    index.remove([victim])
    index.add([987654], index.reconstruct([int(index.ids()[0])]))
    index.save()
    again = _fresh(notes)
    report = again.sync()
    ids = set(again.vector_index().ids().tolist())
    assert ids == set(notes.repo.chunk_ids())
    assert any("Repairing" in m for m in report.messages)


def test_no_pickle_anywhere():
    from pathlib import Path

    import assistant.notes as pkg

    for source in Path(pkg.__file__).parent.glob("*.py"):
        text = source.read_text()
        assert "import pickle" not in text and "pickle.load" not in text, source.name
