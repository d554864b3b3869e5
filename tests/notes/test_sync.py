"""Sync by content hash, with the real bundled embedding model."""

from __future__ import annotations

import os
import stat

from tests.notes.conftest import write

ALPHA = "# Alpha\n\nThe alpha reactor runs on molten salt and was commissioned in 1998.\n"
BETA = "# Beta\n\n## Garden\n\nTomatoes need staking before the first truss sets.\n"
GAMMA = "Gamma notes\n\nThe gamma project moved to the Leeds office in March.\n"


def test_add_edit_rename_copy_delete_counts(notes, folder):
    write(folder, "alpha.md", ALPHA)
    write(folder, "sub/beta.md", BETA)
    write(folder, "gamma.txt", GAMMA)
    notes.add_collection(folder, "mine")

    first = notes.sync()
    assert (first.files_added, first.chunks_embedded) == (3, 3)
    assert notes.vector_index().count == notes.repo.chunk_count() == 3

    again = notes.sync()  # unchanged folder: nothing read, nothing embedded
    assert again.chunks_embedded == 0 and again.files_unchanged == 3

    # touched but identical bytes: hashed, not embedded
    os.utime(folder / "alpha.md", ns=(1, 1))
    touched = notes.sync()
    assert touched.chunks_embedded == 0 and touched.files_unchanged == 3

    # an edit re-embeds only that file's changed passage
    write(
        folder, "alpha.md", ALPHA + "\n## Safety\n\nThe alpha reactor has two shutdown systems.\n"
    )
    edited = notes.sync()
    assert edited.files_changed == 1
    assert edited.chunks_embedded == 1 and edited.chunks_reused == 1

    # a rename (and a move) embeds nothing
    os.rename(folder / "gamma.txt", folder / "renamed-gamma.txt")
    os.rename(folder / "sub" / "beta.md", folder / "beta-moved.md")
    renamed = notes.sync()
    assert renamed.files_renamed == 2 and renamed.chunks_embedded == 0
    assert renamed.files_deleted == 0
    hits = notes.search("gamma project Leeds office", k=1)
    assert hits[0].path == "renamed-gamma.txt"

    # a copy reuses the vectors of the file it copies
    write(folder, "copy-of-gamma.txt", GAMMA)
    copied = notes.sync()
    assert copied.files_added == 1 and copied.chunks_embedded == 0 and copied.chunks_reused == 1

    # a deletion purges rows, FTS entries and vectors
    (folder / "beta-moved.md").unlink()
    deleted = notes.sync()
    assert deleted.files_deleted == 1 and deleted.chunks_removed == 1
    assert notes.search("tomatoes staking truss", mode="keyword") == []
    assert notes.vector_index().count == notes.repo.chunk_count() == 4
    assert set(notes.vector_index().ids().tolist()) == set(notes.repo.chunk_ids())


def test_index_files_are_private(notes, folder):
    write(folder, "a.md", ALPHA)
    notes.add_collection(folder)
    old = os.umask(0)
    try:
        notes.sync()
    finally:
        os.umask(old)
    index = notes.index_folder
    assert stat.S_IMODE(index.stat().st_mode) == 0o700
    files = list(index.iterdir())
    assert files
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name


def test_cancel_keeps_what_was_stored(notes, folder):
    import threading

    for i in range(3):
        write(folder, f"n{i}.md", f"# Note {i}\n\nPlanted fact number {i} about owls.\n")
    notes.add_collection(folder)
    cancel = threading.Event()
    cancel.set()
    report = notes.sync(cancel=cancel)
    assert report.cancelled
    assert notes.vector_index().count == notes.repo.chunk_count()
    finished = notes.sync()
    assert not finished.cancelled
    assert notes.repo.chunk_count() == 3 == notes.vector_index().count


def test_progress_reports_files_chunks_and_rate(notes, folder):
    for i in range(4):
        write(folder, f"n{i}.md", f"# Note {i}\n\nSomething worth remembering, number {i}.\n")
    notes.add_collection(folder)
    seen = []
    notes.sync(progress=seen.append)
    phases = [p.phase for p in seen]
    assert phases[0] == "scanning" and "embedding" in phases
    last = seen[-1]
    assert (last.files_done, last.files_total, last.chunks_done, last.chunks_total) == (4, 4, 4, 4)
    assert last.chunks_per_second > 0


def test_missing_folder_keeps_index(notes, folder):
    write(folder, "a.md", ALPHA)
    notes.add_collection(folder, "gone")
    notes.sync()
    renamed = folder.with_name("elsewhere")
    folder.rename(renamed)
    report = notes.sync()
    assert any("missing" in m for m in report.messages)
    assert notes.repo.chunk_count() == 1


def test_search_runs_while_a_background_sync_is_busy(notes, folder):
    import threading

    write(folder, "first.md", "# First\n\nThe ferry to the island leaves at noon.\n")
    notes.add_collection(folder)
    notes.sync()
    write(folder, "second.md", "# Second\n\nThe bakery closes early on Wednesdays.\n")
    in_sync, release = threading.Event(), threading.Event()

    def hold(progress):
        if progress.phase == "embedding":
            in_sync.set()
            release.wait(30)

    worker = threading.Thread(target=notes.sync, kwargs={"progress": hold})
    worker.start()
    try:
        assert in_sync.wait(30)
        assert notes.syncing
        hits = notes.search("ferry island", k=1)  # must not wait for the sync
        assert hits[0].path == "first.md"
    finally:
        release.set()
        worker.join(60)
    assert not notes.syncing
    assert notes.search("bakery Wednesdays", k=1)[0].path == "second.md"


def test_watch_syncs_on_change_until_stopped(notes, folder):
    import threading
    import time

    write(folder, "one.md", "# One\n\nThe first note mentions kingfishers.\n")
    notes.add_collection(folder)
    notes.sync()
    stop = threading.Event()
    reports = []
    worker = threading.Thread(
        target=notes.watch, args=(stop, reports.append), kwargs={"debounce_ms": 200}
    )
    worker.start()
    try:
        time.sleep(1.0)  # let the watcher start
        write(folder, "two.md", "# Two\n\nThe second note mentions otters.\n")
        deadline = time.monotonic() + 30
        while not reports and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(30)
    assert not worker.is_alive()
    assert reports and reports[0].files_added == 1
    assert notes.search("otters", k=1)[0].path == "two.md"
