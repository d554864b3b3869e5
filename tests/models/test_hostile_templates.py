"""A GGUF whose chat template tries to run code, does not parse, or fails on a
conversation is one sentence about the model file, exit 2, never "Something
went wrong inside assistant (SecurityError)" (issue 17, item 8). The files are
real GGUFs: the bundled model's tensors and metadata, with the template
written in by the ``gguf`` package."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.paths import app_paths
from tests.models.conftest import write_relabelled_copy

TEMPLATES = {
    "runs code": (
        "{% for m in messages %}{{ m.content.__class__.__mro__[1].__subclasses__() }}{% endfor %}",
        "tries to run code, which the sandbox blocked",
    ),
    "does not parse": ("{% for m in messages %}{{ m.content ", "is not a valid template"),
    "refuses the conversation": (
        "{% if messages[0].role == 'system' %}{{ raise_exception('No system role here') }}"
        "{% endif %}{% for m in messages %}{{ m.content }}{% endfor %}",
        "could not lay out this conversation (No system role here)",
    ),
}


@pytest.fixture(params=list(TEMPLATES))
def hostile(request, bundled_gguf: Path, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    template, words = TEMPLATES[request.param]
    path = write_relabelled_copy(bundled_gguf, tmp_path / "hostile.gguf", "hostile", template)
    yield path, words
    path.unlink()  # 250 MB: not left for pytest's kept folders


def test_a_hostile_chat_template_is_one_sentence_about_the_model_file(hostile, capsys, monkeypatch):
    path, words = hostile
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code = main(["ask", "--model", str(path), "--max-tokens", "4", "--threads", "1", "Hello"])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"The chat template in {path} {words}" in lines[0]
    assert "went wrong" not in err
    assert not (app_paths().data / "logs").exists()  # no crash log: not a bug of ours
    code = main(["history", "show", "1"])
    assert code == 0 and "Hello" in capsys.readouterr().out  # the question is kept
