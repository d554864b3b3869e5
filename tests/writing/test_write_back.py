"""Writing a result back (`write --in-place`, the writing screen's save):
through a symbolic link to its target, never over a read-only file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.errors import WritingError
from assistant.writing.files import write_back
from tests.writing.helpers import EchoModel


@pytest.fixture
def echo_model(monkeypatch):
    model = EchoModel(context_size=2048)
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: model)
    return model


def test_in_place_on_a_link_writes_the_target_and_keeps_the_link(echo_model, capsys, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    target = real / "doc.md"
    target.write_text("first.\n\nsecond.\n")
    os.chmod(target, 0o640)
    link = tmp_path / "link.md"
    link.symlink_to(Path("real") / "doc.md")  # relative, as links usually are

    assert main(["write", "proofread", str(link), "--in-place"]) == 0

    assert link.is_symlink() and os.readlink(link) == str(Path("real") / "doc.md")
    assert target.read_text() == "FIRST.\n\nSECOND.\n"
    assert (real / "doc.md.bak").read_text() == "first.\n\nsecond.\n"
    assert (target.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.md", "real"]
    assert str(real / "doc.md.bak") in capsys.readouterr().err


def test_a_chain_of_links_is_followed_to_the_end(tmp_path):
    target = tmp_path / "doc.txt"
    target.write_text("old\n")
    (tmp_path / "a").symlink_to("doc.txt")
    (tmp_path / "b").symlink_to("a")
    backup = write_back(tmp_path / "b", b"old\n", "new\n")
    assert backup == tmp_path / "doc.txt.bak"
    assert target.read_text() == "new\n"
    assert (tmp_path / "a").is_symlink() and (tmp_path / "b").is_symlink()


def test_in_place_refuses_a_read_only_file_before_the_model_runs(echo_model, capsys, tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("keep me.\n")
    os.chmod(doc, 0o444)

    assert main(["write", "proofread", str(doc), "--in-place"]) == 2

    err = capsys.readouterr().err
    assert err.startswith(f"assistant: {doc} is read-only") and err.count("\n") == 1
    assert doc.read_text() == "keep me.\n" and (doc.stat().st_mode & 0o777) == 0o444
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.md"]
    assert echo_model.history == []  # refused before any work


def test_a_link_to_a_read_only_file_names_both(tmp_path):
    target = tmp_path / "doc.md"
    target.write_text("keep me.\n")
    os.chmod(target, 0o400)
    link = tmp_path / "link.md"
    link.symlink_to(target)
    with pytest.raises(WritingError) as err:
        write_back(link, b"keep me.\n", "changed\n")
    assert f"{link} (a link to {target}) is read-only" in str(err.value)
    assert target.read_text() == "keep me.\n" and link.is_symlink()
    assert not (tmp_path / "doc.md.bak").exists()


def test_a_dangling_link_is_not_replaced_by_a_file(tmp_path):
    link = tmp_path / "gone.md"
    link.symlink_to(tmp_path / "missing.md")
    with pytest.raises(WritingError) as err:
        write_back(link, b"x", "y")
    assert str(tmp_path / "missing.md") in str(err.value)
    assert link.is_symlink() and not (tmp_path / "missing.md").exists()


async def test_the_writing_screen_says_why_it_cannot_save(tmp_path: Path, repo):
    from assistant.ui.writing_screen import WritingScreen
    from tests.writing.test_writing_screen import WritingTestApp, chat_on, settle

    doc = tmp_path / "letter.txt"
    doc.write_text("Teh letter.\n")
    os.chmod(doc, 0o444)
    chat = chat_on(repo, EchoModel(transform=lambda t: t.replace("Teh", "The")), tmp_path)
    screen = WritingScreen(lambda: chat, path=doc)
    app = WritingTestApp(screen)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        screen.start_action("proofread")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        notices = [str(n.message) for n in app._notifications]
    assert any(f"{doc} is read-only" in n for n in notices), notices
    assert doc.read_text() == "Teh letter.\n"
