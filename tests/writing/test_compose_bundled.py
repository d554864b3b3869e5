"""Compose on the real bundled 270M base model: every kind runs to the end,
says something, and leaks no transcript role marker (quality is not judged);
a long piece goes through the outline and section prompts; Ctrl-C in a real
process keeps the partial piece and says where."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.llm.base import TextPiece
from assistant.writing.actions import has_role_marker
from assistant.writing.compose import ComposeDone, Composer, SectionStarted
from assistant.writing.templates import load_library

REPO = Path(__file__).resolve().parents[2]
LIBRARY = load_library(Path("/nonexistent-user-prompts"))


def compose(model, kind: str, variables: dict[str, str], **options):
    composer = Composer(model, LIBRARY, **options)
    job = composer.prepare(kind, variables)
    plan = composer.plan(job)
    events = list(composer.write(job, plan.outline))
    return plan, events


def check(events) -> ComposeDone:
    done = events[-1]
    assert isinstance(done, ComposeDone)
    streamed = "".join(e.text for e in events if isinstance(e, TextPiece))
    assert streamed == done.text
    assert done.text.strip() and done.words > 0, "nothing was written"
    assert not has_role_marker(done.text), done.text
    assert "<end_of_turn>" not in done.text and "<<<" not in done.text
    assert done.finish_reason == "stop" and done.sections_done == done.sections
    return done


@pytest.mark.parametrize("kind", sorted(LIBRARY.compose))
def test_every_kind_on_the_bundled_model(real_model, kind):
    plan, events = compose(real_model, kind, {"length": "40"}, temperature=0.7)
    assert plan.planned_by == "single"
    check(events)


def test_a_long_piece_on_the_bundled_model_goes_through_outline_and_sections(real_model):
    plan, events = compose(
        real_model, "article", {"topic": "keeping bees", "length": "150"}, max_tokens=100
    )
    assert len(plan.outline) >= 2 and plan.planned_by in ("model", "template")
    done = check(events)
    started = [e for e in events if isinstance(e, SectionStarted)]
    assert [e.index for e in started] == list(range(1, len(plan.outline) + 1))
    for section in plan.outline:
        assert f"## {section.title}" in done.text


@pytest.mark.parametrize("to_file", [True, False], ids=["-o FILE", "stdout"])
def test_ctrl_c_during_a_section_keeps_the_partial_piece(home_with_model, tmp_path, to_file):
    """A real process on the bundled model, interrupted in its second section."""
    out = tmp_path / "bees.md"
    args = [sys.executable, "-m", "assistant", "compose", "article", "--topic", "keeping bees",
            "--length", "400", "--max-tokens", "200", "--seed", "3"]  # fmt: skip
    if to_file:
        args += ["-o", str(out)]
    env = {**os.environ, "ASSISTANT_HOME": str(home_with_model), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO
    )
    seen: list[str] = []
    try:
        assert proc.stderr is not None
        while True:
            line = proc.stderr.readline()
            assert line, f"ended before its second section: {''.join(seen)}"
            seen.append(line)
            if "(section 2 of" in line:
                break
        assert proc.poll() is None, "finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        stdout, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = "".join(seen) + err
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "Stopped after 1 of 4 sections (" in err
    side = out.with_name("bees.md.partial") if to_file else home_with_model / "data" / "drafts"
    if not to_file:
        side = side / "draft-1.md"
    assert f"what was written is kept in {side} (and as draft 1)." in err
    assert not out.exists()
    kept = side.read_text()
    assert kept.startswith("## ") and len(kept.split()) > 20
    if not to_file:
        assert kept.rstrip() == stdout.rstrip()  # what was shown is what was kept
    con = sqlite3.connect(home_with_model / "data" / "assistant.db")
    status, content, done = con.execute(
        "select status, content, sections_done from drafts where id = 1"
    ).fetchone()
    con.close()
    assert status == "stopped" and done == 1
    assert content.rstrip() == kept.rstrip()
