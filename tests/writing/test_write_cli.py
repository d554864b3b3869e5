from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.errors import ModelError
from tests.writing.helpers import EchoModel

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def echo_model(monkeypatch):
    model = EchoModel(context_size=2048)
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: model)
    return model


def feed_stdin(monkeypatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8"))))


def test_stdin_to_stdout(echo_model, capsys, monkeypatch):
    feed_stdin(monkeypatch, "hello there.\n")
    code = main(["write", "proofread", "-"])
    out, err = capsys.readouterr()
    assert code == 0 and out == "HELLO THERE.\n" and err == ""
    assert "Correct the spelling" in echo_model.history[0][-1].content


def test_variables_reach_the_prompt(echo_model, capsys, monkeypatch):
    feed_stdin(monkeypatch, "Good morning.")
    assert main(["write", "translate", "--to", "de"]) == 0
    assert "into German" in echo_model.history[-1][-1].content
    feed_stdin(monkeypatch, "Good morning.")
    assert main(["write", "tone", "--tone", "casual"]) == 0
    assert "casual and relaxed" in echo_model.history[-1][-1].content
    feed_stdin(monkeypatch, "Good morning.")
    assert main(["write", "rewrite", "--var", "instructions=Use short words."]) == 0
    assert "Use short words." in echo_model.history[-1][-1].content
    feed_stdin(monkeypatch, "Good morning.")
    assert main(["write", "summarise", "--persona", "coder"]) == 0
    assert echo_model.history[-1][0].content.startswith("You are a senior software engineer")


def test_diff_prints_a_unified_diff(echo_model, capsys, tmp_path):
    echo_model.transform = lambda t: t.replace("teh", "the")
    doc = tmp_path / "doc.txt"
    doc.write_text("Fine line.\n\nteh end.\n")
    assert main(["write", "proofread", str(doc), "--diff"]) == 0
    out = capsys.readouterr().out
    assert f"--- {doc}\n+++ {doc} (edited)\n" in out
    assert "-teh end.\n+the end.\n" in out and " Fine line.\n" in out
    assert doc.read_text() == "Fine line.\n\nteh end.\n"


def test_in_place_writes_atomically_and_keeps_a_backup(echo_model, capsys, tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("first.\n\nsecond.\n")
    os.chmod(doc, 0o640)
    assert main(["write", "proofread", str(doc), "--in-place"]) == 0
    assert doc.read_text() == "FIRST.\n\nSECOND.\n"
    backup = tmp_path / "doc.md.bak"
    assert backup.read_text() == "first.\n\nsecond.\n"
    assert (doc.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.glob("doc*")) == ["doc.md", "doc.md.bak"]
    assert "Wrote" in capsys.readouterr().err


def test_model_error_mid_stream_leaves_the_file_intact(echo_model, capsys, tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text("some words to fix here.\n")
    echo_model.fail_with = ModelError("The model stopped working.")
    assert main(["write", "proofread", str(doc), "--in-place"]) == 2
    assert capsys.readouterr().err == "assistant: The model stopped working.\n"
    assert doc.read_text() == "some words to fix here.\n"
    assert [p.name for p in tmp_path.glob("*doc*")] == ["doc.txt"]


@pytest.mark.parametrize(
    "args, problem",
    [
        (["write", "poem", "{doc}"], "no writing action called 'poem'"),
        (["write", "proofread", "{missing}"], "File not found"),
        (["write", "proofread", "{binary}"], "looks like a binary file"),
        (["write", "proofread", "{latin1}"], "is not UTF-8 text"),
        (["write", "proofread", "{empty}"], "is empty"),
        (["write", "proofread", "{dir}"], "is a folder"),
        (["write", "summarise", "{doc}", "--in-place"], "--in-place does not apply"),
        (["write", "proofread", "-", "--in-place"], "--in-place needs a FILE"),
        (["write", "proofread", "{doc}", "--to", "de"], "edits the text in its own language"),
        (["write", "proofread", "{doc}", "--var", "oops"], "not a NAME=VALUE pair"),
        (["write", "proofread", "{doc}", "--persona", "pirate"], "no persona called"),
        (["prompts", "show", "nothing"], "no template or persona called 'nothing'"),
    ],
)
def test_user_errors_are_one_sentence(echo_model, capsys, tmp_path, monkeypatch, args, problem):
    files = {
        "doc": tmp_path / "doc.txt",
        "missing": tmp_path / "missing.txt",
        "binary": tmp_path / "x.bin",
        "latin1": tmp_path / "l.txt",
        "empty": tmp_path / "e.txt",
        "dir": tmp_path,
    }
    files["doc"].write_text("text.\n")
    files["binary"].write_bytes(b"\x00\x01\x02abc")
    files["latin1"].write_bytes("caf\xe9".encode("latin-1"))
    files["empty"].write_text("\n\n")
    feed_stdin(monkeypatch, "text")
    code = main([a.format(**files) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    assert problem in err and err.count("\n") == 1 and "Traceback" not in err
    assert files["doc"].read_text() == "text.\n"


def test_bad_user_template_is_a_clear_warning(echo_model, capsys, isolated_home):
    folder = isolated_home / "config" / "prompts"
    folder.mkdir(parents=True)
    (folder / "broken.md").write_text("---\nname: broken\ncolour: red\n---\n{{ text }}\n")
    assert main(["prompts", "list"]) == 0  # the rest still loads (issue 13)
    err = capsys.readouterr().err
    assert "broken.md" in err and "unknown key 'colour'" in err and "skipped" in err


def test_prompts_list_and_show(capsys):
    import json

    assert main(["prompts", "list"]) == 0
    out = capsys.readouterr().out
    assert "proofread" in out and "translate" in out and "editor" in out
    assert main(["prompts", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["templates"]) >= 12 and len(data["personas"]) >= 4
    assert main(["prompts", "show", "tr"]) == 0
    out = capsys.readouterr().out
    assert "template: translate" in out and "{{ language }}" in out
    assert main(["prompts", "show", "tutor"]) == 0
    assert "persona: tutor" in capsys.readouterr().out


def test_sigint_during_in_place_leaves_the_original_intact(home_with_model, tmp_path):
    """A real process on the real bundled model, interrupted while it streams."""
    work = tmp_path / "work"
    work.mkdir()
    doc = work / "essay.txt"
    original = "\n\n".join(
        f"Paragraph {i}: the comittee have decided that there plans was to be "
        f"reveiwed again next week, because noone had red the report carefuly."
        for i in range(60)  # many parts: still busy long after the first one starts
    )
    doc.write_text(original)
    env = {**os.environ, "ASSISTANT_HOME": str(home_with_model), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "write", "proofread", str(doc), "--in-place",
         "--n-ctx", "512", "--max-tokens", "400", "--temperature", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # "(working on part 1 of N)"
        assert "part 1 of" in line, line
        time.sleep(0.5)  # the first part is being evaluated and streamed
        assert proc.poll() is None, "finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert f"Stopped; {doc} was left unchanged." in err
    assert "Traceback" not in err
    assert doc.read_text() == original
    assert [p.name for p in work.iterdir()] == ["essay.txt"]


def test_a_user_template_without_result_never_overwrites(echo_model, capsys, isolated_home):
    """A template must say `result: edit` before --diff or --in-place apply."""
    folder = isolated_home / "config" / "prompts"
    folder.mkdir(parents=True)
    (folder / "polish.md").write_text("---\nname: polish\n---\nPolish this.\n\nText:\n{{ text }}\n")
    doc = isolated_home / "doc.txt"
    doc.write_text("some text.\n")
    assert main(["write", "polish", str(doc), "--in-place"]) == 2
    err = capsys.readouterr().err
    assert "'polish' writes a new text" in err and doc.read_text() == "some text.\n"
    (folder / "polish.md").write_text(
        "---\nname: polish\nresult: edit\n---\nPolish this.\n\nText:\n{{ text }}\n"
    )
    assert main(["write", "polish", str(doc), "--in-place"]) == 0
    assert doc.read_text() == "SOME TEXT.\n"
    assert main(["prompts", "show", "polish", "--json"]) == 0
    assert '"result": "edit"' in capsys.readouterr().out
