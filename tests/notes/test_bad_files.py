"""A folder with every kind of bad file: the sync completes, the good files
are searchable and each bad file is listed with its reason."""

from __future__ import annotations

import os

from tests.notes.conftest import write
from tests.notes.docgen import make_encrypted_pdf, make_pdf


def test_every_bad_file_is_skipped_with_a_reason(notes, folder, tmp_path, monkeypatch):
    write(folder, "good.md", "# Good\n\nThe marmalade recipe uses Seville oranges.\n")
    (folder / "good.pdf").write_bytes(make_pdf([["Quarterly kiln firing schedule for pottery."]]))
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02binary\x00" * 20)
    (folder / "empty.md").write_bytes(b"")
    (folder / "blank.txt").write_text("   \n\n  \n")
    (folder / "huge.txt").write_bytes(b"a" * (notes.max_file_bytes + 1))
    (folder / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    unreadable = write(folder, "unreadable.md", "# Secret\n\ntext\n")
    unreadable.chmod(0)
    os.mkfifo(folder / "pipe.txt")
    os.symlink(folder / "loop-a", folder / "loop-b")
    os.symlink(folder / "loop-b", folder / "loop-a")
    outside = write(tmp_path, "outside/secret.md", "# Outside\n\nPrivate outside text.\n")
    os.symlink(outside, folder / "escape.md")
    os.symlink(tmp_path / "outside", folder / "escape-dir")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage")
    (folder / "encrypted.pdf").write_bytes(make_encrypted_pdf(["hidden words"]))
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")

    if os.geteuid() == 0:  # root reads a mode-000 file anyway: make the open fail as for a user
        import assistant.notes.loaders as loaders

        real_open = os.open

        def deny(path, flags, *args):
            if str(path).endswith("unreadable.md"):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, flags, *args)

        monkeypatch.setattr(loaders.os, "open", deny)

    notes.add_collection(folder, "mixed")
    report = notes.sync()
    assert not report.cancelled
    assert report.files_added == 2

    reasons = {s.path: s.reason for s in notes.status().skipped}
    expected = {
        "binary.txt": "binary",
        "empty.md": "empty",
        "blank.txt": "empty",
        "huge.txt": "limit",
        "latin1.txt": "UTF-8",
        "unreadable.md": "permission denied",
        "pipe.txt": "FIFO",
        "loop-a": "loop",
        "loop-b": "loop",
        "escape.md": "outside the folder",
        "escape-dir": "outside the folder",
        "broken.pdf": "broken PDF",
        "encrypted.pdf": "encrypted",
        "broken.docx": "broken DOCX",
        "photo.png": "unsupported",
    }
    for path, word in expected.items():
        assert path in reasons, path
        assert word in reasons[path], (path, reasons[path])
    assert set(reasons) == set(expected)

    assert notes.search("Seville oranges marmalade", k=1)[0].path == "good.md"
    pdf_hit = notes.search("kiln firing schedule", k=1)[0]
    assert pdf_hit.path == "good.pdf" and pdf_hit.page == 1

    # a second sync neither crashes nor re-reads the bad files
    again = notes.sync()
    assert again.chunks_embedded == 0 and again.files_skipped == len(expected)


def test_fixed_file_leaves_the_skipped_list(notes, folder):
    (folder / "later.txt").write_bytes(b"\xff\xfe broken")
    notes.add_collection(folder)
    notes.sync()
    assert [s.path for s in notes.status().skipped] == ["later.txt"]
    write(folder, "later.txt", "Now it is fine text about herons.\n")
    notes.sync()
    assert notes.status().skipped == []
    assert notes.search("herons", k=1)[0].path == "later.txt"
