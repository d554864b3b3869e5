"""One broken file in the user's prompt folder never breaks the others: it is
skipped with a warning naming it (the CLI on stderr, the UI once)."""

from __future__ import annotations

import io
import sys

import pytest

from assistant.cli import main
from assistant.paths import app_paths
from assistant.writing.templates import load_library
from tests.writing.helpers import EchoModel

BROKEN = "---\nname: [unclosed\n---\n{{ text }}\n"


@pytest.fixture
def user_prompts(isolated_home):
    folder = app_paths().user_prompts
    (folder / "personas").mkdir(parents=True)
    (folder / "broken.md").write_text(BROKEN)
    (folder / "haiku.md").write_text("---\ndescription: A haiku\n---\nA haiku on {{ text }}\n")
    return folder


@pytest.fixture
def echo_model(monkeypatch):
    model = EchoModel(context_size=2048)
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: model)
    return model


def test_write_runs_a_built_in_action_and_warns_about_the_broken_file(
    user_prompts, echo_model, capsys, monkeypatch
):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"hello there.\n")))
    assert main(["write", "proofread", "-"]) == 0
    out, err = capsys.readouterr()
    assert out == "HELLO THERE.\n"
    assert err == (
        f"assistant: warning: {user_prompts / 'broken.md'}: invalid YAML at line 2; "
        "that file is skipped.\n"
    )


def test_the_user_files_that_work_still_work(user_prompts, echo_model, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"snow\n")))
    assert main(["write", "haiku", "-"]) == 0
    assert "A haiku on snow" in echo_model.history[-1][-1].content


def test_prompts_list_and_show_work_and_warn(user_prompts, capsys):
    assert main(["prompts", "list"]) == 0
    out, err = capsys.readouterr()
    assert "proofread" in out and "haiku" in out and "broken" not in out
    assert "broken.md" in err and err.count("\n") == 1
    assert main(["prompts", "show", "proofread", "--json"]) == 0
    assert "broken.md" in capsys.readouterr().err


def test_a_broken_override_leaves_the_bundled_one(user_prompts):
    (user_prompts / "proofread.md").write_text("---\nresult: maybe\n---\nFix {{ text }}\n")
    library = load_library(user_prompts)
    assert library.template("proofread").source.startswith("bundled prompts/")
    assert sorted(p.split(":")[0] for p in library.problems) == [
        str(user_prompts / "broken.md"),
        str(user_prompts / "proofread.md"),
    ]


def test_broken_personas_and_references_to_them_are_skipped(user_prompts):
    (user_prompts / "personas" / "pirate.md").write_text("---\nname: pirate\n---\n\n")
    (user_prompts / "ahoy.md").write_text("---\npersona: pirate\n---\nSay {{ text }}\n")
    (user_prompts / "tone.md").write_text("---\npersona: pirate\nresult: edit\n---\n{{ text }}\n")
    library = load_library(user_prompts)
    assert "pirate" not in library.personas and "ahoy" not in library.templates
    assert library.template("tone").source.startswith("bundled prompts/")
    assert len(library.problems) == 4  # broken.md, pirate.md, ahoy.md, tone.md
    assert all(p.endswith("that file is skipped.") for p in library.problems)


def test_an_unreadable_file_is_skipped(user_prompts):
    (user_prompts / "locked.md").mkdir()  # reading it fails with EISDIR
    library = load_library(user_prompts)
    assert any("locked.md" in p and "cannot be read" in p for p in library.problems)
    assert "haiku" in library.templates
