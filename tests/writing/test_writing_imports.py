"""The writing core never imports textual or loads a model just by being imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

MODULES = [
    "assistant.writing.templates",
    "assistant.writing.actions",
    "assistant.writing.chunking",
    "assistant.writing.diffing",
    "assistant.writing.slash",
    "assistant.writing.commands",
]


@pytest.mark.parametrize("module", MODULES)
def test_writing_module_stays_light(module):
    code = (
        f"import sys, {module}; "
        "print(','.join(m for m in ('textual', 'torch', 'llama_cpp') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
