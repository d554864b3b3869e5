"""GGUF metadata through the gguf package, the memory estimate and the
default context, on the bundled model; the fit warning when it will not fit."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.llm import fit
from assistant.llm.gguf_meta import GGUFDamaged, cached_describe, describe, verify_gguf


def test_bundled_metadata(bundled_gguf):
    start = time.perf_counter()
    info = describe(bundled_gguf)
    took = time.perf_counter() - start
    assert info.architecture == "gemma3" and info.name == "Gemma 3 270m"
    assert info.quant == "Q4_K_M"
    assert 260e6 < info.parameters < 280e6 and info.parameters_label == "268M"
    assert (info.trained_context, info.layers) == (32768, 18)
    assert info.chat_template is False  # a base model: the plain transcript
    assert info.vocab_size == 262_144
    # K and V, 1 KV head of 256 dimensions each, f16, on all 18 layers
    assert info.kv_bytes_per_token == 18 * 2 * 256 * 2
    assert info.tensor_bytes < info.file_bytes == bundled_gguf.stat().st_size
    assert took < 5  # the package's reader alone takes 5-13 s on this vocabulary


def test_info_cache_is_used_and_refreshed(bundled_gguf, tmp_path):
    cache = tmp_path / "info.json"
    first = cached_describe(bundled_gguf, cache)
    stored = json.loads(cache.read_text())
    assert stored["files"][str(bundled_gguf.resolve())]["info"]["quant"] == "Q4_K_M"
    entry = stored["files"][str(bundled_gguf.resolve())]
    entry["info"]["name"] = "from the cache"
    cache.write_text(json.dumps(stored))
    assert cached_describe(bundled_gguf, cache).name == "from the cache"
    entry["stamp"][0][1] += 1  # the file changed: read it again
    cache.write_text(json.dumps(stored))
    assert cached_describe(bundled_gguf, cache).name == first.name


def test_damaged_files_are_one_sentence(bundled_gguf, tmp_path):
    cases = {
        b"GGUF": "only 4 bytes",
        b"NOPE" + bytes(100): "is not a GGUF model file",
    }
    with open(bundled_gguf, "rb") as src:
        whole = src.read()
    cases[whole[:1_000_000]] = "inside its header"
    cases[whole[:-1000]] = "its tensors need 253.1 MB"
    for n, (data, expected) in enumerate(cases.items()):
        path = tmp_path / f"bad{n}.gguf"
        path.write_bytes(data)
        with pytest.raises(GGUFDamaged) as err:
            verify_gguf(path)
        assert expected in str(err.value), str(err.value)


def test_estimate_and_default_context(bundled_gguf):
    info = describe(bundled_gguf)
    est = fit.estimate(info, 4096)
    assert est.kv_cache == 4096 * info.kv_bytes_per_token
    assert est.total == est.weights + est.kv_cache + est.compute
    plenty = fit.FreeMemory(ram=64 * 2**30)
    assert fit.default_context(info, plenty) == 32768  # the trained length
    # room for the weights and about 5,000 tokens of KV cache: the largest choice that fits
    tight = fit.FreeMemory(
        ram=int((est.weights + est.compute + 5000 * info.kv_bytes_per_token) / fit.USABLE_SHARE)
    )
    assert fit.default_context(info, tight) == 4096
    assert fit.context_choices(32768) == [32768, 16384, 8192, 4096, 2048]
    assert fit.context_choices(40960) == [40960, 32768, 16384, 8192, 4096, 2048]


def test_advice_names_a_context_or_a_quant(bundled_gguf):
    info = describe(bundled_gguf)
    est = fit.estimate(info, 4096)
    tight = fit.FreeMemory(
        ram=int((est.weights + est.compute + 5000 * info.kv_bytes_per_token) / fit.USABLE_SHARE)
    )
    text = fit.advice(info, 32768, tight, label="gemma.gguf")
    assert text is not None and text.startswith("gemma.gguf needs about")
    assert text.endswith("a context of 4096 tokens would fit (set n_ctx = 4096).")
    tiny = fit.FreeMemory(ram=250 * 10**6)
    text = fit.advice(info, 2048, tiny, label="gemma.gguf")
    assert text is not None and "a smaller quant such as" in text and "bits per weight" in text
    assert fit.advice(info, 4096, fit.FreeMemory(ram=64 * 2**30)) is None


def test_loading_a_model_that_does_not_fit_warns_or_refuses(bundled_gguf, monkeypatch):
    from assistant.errors import ModelError
    from assistant.llm.llama import LlamaCppModel

    info = describe(bundled_gguf)
    est = fit.estimate(info, 4096)
    tight = fit.FreeMemory(
        ram=int((est.weights + est.compute + 5000 * info.kv_bytes_per_token) / fit.USABLE_SHARE)
    )
    monkeypatch.setattr(fit, "free_memory", lambda: tight)
    auto = LlamaCppModel(bundled_gguf, n_ctx=None, n_threads=1)
    assert auto.context_size == 4096 and auto.fit_notice is None  # the default fits
    auto.close()
    # within the last 15% of free memory: an explicit n_ctx is honoured, with a warning
    assert fit.check_fit(info, 6144, tight).label == "tight"
    fixed = LlamaCppModel(bundled_gguf, n_ctx=6144, n_threads=1)
    assert fixed.context_size == 6144
    assert fixed.fit_notice is not None and "(lower n_ctx = 4096)" in fixed.fit_notice
    fixed.close()
    # more than all that is free: refused before loading, with the same sentence
    assert fit.check_fit(info, 16384, tight).label == "too big"
    with pytest.raises(ModelError) as err:
        LlamaCppModel(bundled_gguf, n_ctx=16384, n_threads=1)
    assert str(err.value).startswith("Not loaded: gemma-3-270m-q4_k_m.gguf needs about")
    assert str(err.value).endswith("a context of 4096 tokens would fit (lower n_ctx = 4096).")


def test_estimate_against_measured_rss(bundled_gguf):
    """In a fresh process: RSS growth from before the load to after a short
    reply, against the estimate (the benchmark prints the same ratio)."""
    script = (
        "import json, sys, psutil\n"
        "from assistant.llm.llama import LlamaCppModel\n"
        "from assistant.domain import ChatTurn, GenerationOptions, Role\n"
        "import llama_cpp\n"
        "p = psutil.Process(); before = p.memory_info().rss\n"
        "m = LlamaCppModel(sys.argv[1], n_ctx=8192, n_threads=1)\n"
        "list(m.stream([ChatTurn(Role.USER, 'Hello there')], GenerationOptions(max_tokens=8)))\n"
        "print(json.dumps({'rss': p.memory_info().rss - before, "
        "'estimate': m.fit.estimate.total}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(bundled_gguf)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    ratio = figures["estimate"] / figures["rss"]
    assert 0.85 < ratio < 1.15, figures


def test_ask_says_when_the_model_will_not_fit(home_with_model, monkeypatch, capsys, bundled_gguf):
    import io

    from assistant.cli import main

    info = describe(bundled_gguf)
    est = fit.estimate(info, 4096)
    tight = fit.FreeMemory(
        ram=int((est.weights + est.compute + 5000 * info.kv_bytes_per_token) / fit.USABLE_SHARE)
    )
    monkeypatch.setattr(fit, "free_memory", lambda: tight)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code = main(["ask", "--n-ctx", "6144", "--max-tokens", "4", "--threads", "1", "Hi"])
    err = capsys.readouterr().err
    assert code == 0  # tight: it loads, and says what would fit better
    assert "gemma-3-270m-q4_k_m.gguf needs about" in err
    assert "a context of 4096 tokens would fit (lower n_ctx = 4096)." in err
    code = main(["ask", "--n-ctx", "16384", "--max-tokens", "4", "--threads", "1", "Hi"])
    err = capsys.readouterr().err
    assert code == 2  # too big: refused, exit 2, the same sentence
    assert err.startswith("assistant: Not loaded: gemma-3-270m-q4_k_m.gguf needs about")
