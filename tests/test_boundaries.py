"""The layers hold, and the check that guards them can fail.

``lint-imports`` reads the real import graph (imports inside functions and
under TYPE_CHECKING too) with the contracts in pyproject.toml; ``make test``
runs it before the tests. Here it runs on a copy of the package with one
throwaway module added, to prove that each kind of broken boundary is caught.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(
        REPO / "assistant", tmp_path / "assistant", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_real_package_keeps_its_contracts():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("where", "source"),
    [
        ("notes", "from textual.widgets import Static\n"),
        ("writing", "def later():\n    import click\n    return click\n"),
        ("chat", "from assistant.cli import main\n"),
        ("llm", "def parse():\n    import argparse\n    return argparse\n"),
        ("store", "from assistant.ui.app import AssistantApp\n"),
        ("notes", "from assistant.chat.session import ChatSession\n"),  # a feature above its layer
        ("ui", "from assistant.cli.console import say\n"),  # a shell importing the other back
        ("ui", "from assistant.store.repository import ConversationRepository\n"),  # below
        ("ui", "def later():\n    from assistant.notes import grounding\n    return grounding\n"),
        ("cli", "from assistant.writing.files import write_back\n"),  # not the one path
    ],
)
def test_a_broken_boundary_fails_the_check(package_copy: Path, where: str, source: str):
    throwaway = package_copy / "assistant" / where / "throwaway_breach.py"
    throwaway.write_text('"""A module that breaks a boundary."""\n\n' + source)
    result = lint_imports(package_copy)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout and f"assistant.{where}.throwaway_breach" in result.stdout


FEATURES = ("chat", "notes", "writing", "llm", "store")


def test_no_print_below_the_shells():
    """Feature packages report through return values and callbacks, never print()."""
    offenders = []
    for package in FEATURES:
        for path in (REPO / "assistant" / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id == "print"
                ):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []
