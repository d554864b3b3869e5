"""The core never imports Textual, and the CLI's start-up path stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE = [
    "assistant.cli",
    "assistant.config",
    "assistant.paths",
    "assistant.domain",
    "assistant.runtime",
    "assistant.textsafe",
    "assistant.chat.service",
    "assistant.chat.context",
    "assistant.llm.base",
    "assistant.llm.llama",
    "assistant.llm.catalog",
    "assistant.llm.remote",
    "assistant.store.repository",
    "assistant.store.database",
    "assistant.writing.templates",
    "assistant.writing.actions",
    "assistant.writing.chunking",
    "assistant.writing.diffing",
    "assistant.writing.slash",
    "assistant.writing.files",
    "assistant.errors",
    "assistant.crashlog",
    "assistant.chat.session",
    "assistant.chat.controller",
    "assistant.chat.updates",
    "assistant.chat.models",
    "assistant.llm.handle",
    "assistant.notes.service",
    "assistant.notes.retriever",
    "assistant.notes.sync",
    "assistant.cli.chat",
    "assistant.cli.history",
    "assistant.cli.notes",
    "assistant.cli.write",
    "assistant.cli.models",
    "assistant.cli.doctor",
]


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_without_textual(module):
    code = (
        f"import sys, {module}; "
        "bad = [m for m in ('textual', 'torch', 'llama_cpp', 'sentence_transformers') "
        "if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("args", [["--help"], ["notes", "--help"], ["write", "--help"]])
def test_help_path_has_no_heavy_imports(args):
    code = (
        "import contextlib, io, sys\nfrom assistant.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()): code = main({args!r})\n"
        "print(code, ','.join(m for m in ('textual','torch','llama_cpp','sqlalchemy','pydantic') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def test_the_first_screen_path_stays_light():
    """The UI draws its first frame before the database or the model exist:
    importing it must not load SQLAlchemy, pydantic, numpy or the model."""
    code = (
        "import sys, assistant.ui.app, assistant.cli.chat\n"
        "print(','.join(m for m in ('sqlalchemy','pydantic','numpy','llama_cpp','torch') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
