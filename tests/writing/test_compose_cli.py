"""`assistant compose` through the real entry point, on the scripted writer."""

from __future__ import annotations

import io
import sys

import pytest

from assistant.cli import main
from tests.writing.compose_helpers import WriterModel, is_outline, request


@pytest.fixture
def writer(monkeypatch):
    model = WriterModel(words_per_call=120, titles=["Roots", "Leaves", "Fruit"])
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: model)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # nothing piped
    return model


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def drafts():
    from assistant.runtime import Runtime

    return Runtime().compose.list_drafts()


def test_streams_to_stdout_and_reports_the_length(writer, capsys):
    code, out, err = run(capsys, "compose", "poem", "--topic", "rain", "--length", "80")
    assert code == 0
    assert out.startswith("w1x0") and out.endswith(".\n")
    assert "(80 words (asked 80: 100%); draft 1)" in err
    (draft,) = drafts()
    assert draft.content == out and draft.kind == "poem" and draft.title == "Poem: rain"
    assert "Topic: rain" in request(writer.history[0])


def test_a_long_piece_shows_its_outline_and_progress(writer, capsys):
    code, out, err = run(
        capsys, "compose", "article", "--topic", "trees", "--length", "900", "--max-tokens", "400"
    )
    assert code == 0
    assert "Outline (planned, 3 sections):\n  1. Roots (300 words)" in err
    assert "(section 2 of 3: Leaves — " in err and "words so far)" in err
    assert out.index("## Roots") < out.index("## Leaves") < out.index("## Fruit")
    assert "(asked 900:" in err


def test_output_file_written_atomically_and_never_replaced_without_force(writer, capsys, tmp_path):
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "letter.md"
    code, out, err = run(capsys, "compose", "email", "-o", str(target), "--length", "60")
    assert code == 0 and out == ""
    assert target.read_text() == drafts()[0].content
    assert f"Wrote {target}: 64 words (asked 60: 107%)." in err  # stopped at a sentence end
    calls = len(writer.history)
    target.write_text("my own letter")
    code, out, err = run(capsys, "compose", "email", "-o", str(target))
    assert code == 2 and "already exists; add --force to replace it" in err
    assert target.read_text() == "my own letter" and len(writer.history) == calls
    assert [p.name for p in target.parent.iterdir()] == ["letter.md"]  # no temporary file left
    code, out, err = run(capsys, "compose", "email", "-o", str(target), "--force")
    assert code == 0 and target.read_text().startswith("w")


def test_plan_prints_the_outline_and_outline_writes_an_edited_one(writer, capsys, tmp_path):
    code, out, err = run(
        capsys, "compose", "report", "--length", "900", "--max-tokens", "400", "--plan"
    )
    assert code == 0
    assert out == "1. Roots (300 words)\n2. Leaves (300 words)\n3. Fruit (300 words)\n"
    assert "--outline FILE" in err
    assert len(writer.history) == 1 and is_outline(writer.history[0])
    edited = tmp_path / "outline.txt"
    edited.write_text("1. Seeds (200 words)\n2. Shoots (200 words)\n")
    code, out, err = run(
        capsys, "compose", "report", "--outline", str(edited), "--max-tokens", "400"
    )
    assert code == 0 and "Outline (your, 2 sections)" in err
    assert "## Seeds" in out and "## Shoots" in out and "Roots" not in out
    assert not any(is_outline(h) for h in writer.history[1:])


def test_brief_from_stdin_language_and_material(writer, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "stdin", io.StringIO("Mention the bake sale on Friday."))
    code, _, _ = run(capsys, "compose", "social", "--lang", "fr")
    assert code == 0
    prompt = request(writer.history[-1])
    assert "Brief: Mention the bake sale on Friday." in prompt
    assert prompt.startswith("Write a social media post in French.")
    notes = tmp_path / "meeting.txt"
    notes.write_text("ana and raj. budget approved. raj orders chairs.")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, _, err = run(capsys, "compose", "minutes", "--file", str(notes))
    assert code == 0
    prompt = request(writer.history[-1])
    assert "<<<MATERIAL>>>\nana and raj. budget approved. raj orders chairs.\n<<<END>>>" in prompt
    assert drafts()[0].source == f"file: {notes}"


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["compose"], "Say what to write: assistant compose KIND"),
        (["compose", "sonnet"], "There is no kind of piece called 'sonnet' (try one of: article"),
        (["compose", "poem", "--var", "colour=red"], "The 'poem' template has no variable"),
        (["compose", "poem", "--var", "length=lots"], "The length 'lots' is not a number"),
        (["compose", "poem", "--from-notes", "x", "--file", "y"], "Use --from-notes or --file"),
        (["compose", "poem", "--file", "/nowhere/notes.txt"], "File not found: /nowhere"),
        (["compose", "poem", "-o", "/nowhere/poem.md"], "The folder /nowhere does not exist."),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(writer, capsys, args, sentence):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith("assistant: ") and sentence in err and "Traceback" not in err
    assert writer.history == []


def test_list_shows_every_kind(writer, capsys):
    code, out, _ = run(capsys, "compose", "--list")
    assert code == 0
    for kind in ("article", "story", "poem", "lesson-plan", "cover-letter", "minutes"):
        assert f"  {kind}" in out
    code, out, _ = run(capsys, "prompts", "list")
    assert "Compose (assistant compose KIND):" in out and "  speech" in out
    code, out, _ = run(capsys, "prompts", "show", "blog")
    assert code == 0 and "template: article" in out
