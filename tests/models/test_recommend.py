"""``assistant models recommend``: the curated models that fit the memory free
now, best first, with size and why; the ones too big only with --all."""

from __future__ import annotations

import json

import pytest

from assistant.cli import main
from assistant.llm import fit
from assistant.llm.recommend import CATALOGUE, recommend


@pytest.fixture
def ram(monkeypatch: pytest.MonkeyPatch):
    def set_free(gigabytes: float) -> None:
        free = fit.FreeMemory(ram=int(gigabytes * 1e9))
        monkeypatch.setattr(fit, "free_memory", lambda: free)

    return set_free


def test_only_what_fits_best_first(ram, capsys):
    ram(3.0)  # 2.55 GB usable
    fitting, usable, where = recommend(fit.free_memory())
    assert where == "RAM" and usable == int(3e9 * fit.USABLE_SHARE)
    assert [r.name for r in fitting] == ["Qwen2.5 1.5B Instruct", "Qwen2.5 0.5B Instruct"]
    assert all(r.memory_bytes <= usable for r in fitting)
    assert [r for r in CATALOGUE if r in fitting] == fitting  # the catalogue's order

    assert main(["models", "recommend"]) == 0
    text = capsys.readouterr().out
    assert "tiny demo" in text
    assert text.index("Qwen/Qwen2.5-1.5B-Instruct-GGUF:Q4_K_M") < text.index(
        "Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M"
    )
    assert "Qwen2.5-7B" not in text
    assert "assistant models pull Qwen/Qwen2.5-1.5B-Instruct-GGUF:Q4_K_M --use" in text


def test_json_and_all(ram, capsys):
    ram(3.0)
    assert main(["models", "recommend", "--all", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["models"]) == len(CATALOGUE)
    fits = {m["name"]: m["fits"] for m in data["models"]}
    assert fits["Qwen2.5 1.5B Instruct"] and not fits["Qwen2.5 7B Instruct"]
    assert all(m["licence"] == "Apache-2.0" and ":" in m["ref"] for m in data["models"])

    assert main(["models", "recommend", "--all"]) == 0
    assert "too big here" in capsys.readouterr().out


def test_nothing_fits_says_so(ram, capsys):
    ram(0.5)
    assert main(["models", "recommend"]) == 0
    text = capsys.readouterr().out
    assert "No model on the list fits" in text and "--all" in text


def test_without_a_gpu_the_suggestion_is_one_a_cpu_answers_quickly(ram, capsys):
    from assistant.llm.recommend import CPU_COMFORT_BYTES, suggested

    ram(32.0)  # everything fits
    fitting, _, _ = recommend(fit.free_memory())
    assert fitting == list(CATALOGUE)
    pick = suggested(fitting, on_gpu=False)
    assert pick is not None and pick.file_bytes <= CPU_COMFORT_BYTES
    assert pick is next(r for r in fitting if r.file_bytes <= CPU_COMFORT_BYTES)
    assert suggested(fitting, on_gpu=True) is fitting[0]
    assert main(["models", "recommend", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["suggested"] == pick.ref
