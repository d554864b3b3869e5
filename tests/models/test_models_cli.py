"""``assistant models pull|search|list|info|use|rm`` as a user runs them (in
a subprocess, against the hub stand-in), with --json, and the config file's
comments kept by ``use``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.models.conftest import hub_storage


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        env=os.environ.copy(),
    )


def test_pull_list_info_use_rm(hub, home_with_model):
    config = home_with_model / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "# my settings\ntemperature = 0.3  # a little warmer\n\n"
        '[engines.box]  # the big machine\nbase_url = "http://127.0.0.1:9/v1"\n'
    )
    proc = cli("models", "pull", "me/gemma-GGUF:Q2_K", "--use")
    assert proc.returncode == 0, proc.stderr
    path = hub_storage("me/gemma-GGUF") / "snapshots" / hub.repos["me/gemma-GGUF"].commit
    assert f"Downloaded me/gemma-GGUF:Q2_K (1 MB) to {path / 'tiny-Q2_K.gguf'}." in proc.stdout
    text = config.read_text()
    assert "# my settings" in text and "# a little warmer" in text and "# the big machine" in text
    assert f'model_path = "{path / "tiny-Q2_K.gguf"}"' in text

    again = cli("models", "pull", "me/gemma-GGUF:Q2_K")
    assert again.returncode == 0 and "is already here" in again.stdout

    listing = json.loads(cli("models", "list", "--json").stdout)
    rows = {m["name"]: m for m in listing["models"]}
    assert set(rows) == {"bundled", "me/gemma-GGUF:Q2_K"}
    assert rows["me/gemma-GGUF:Q2_K"]["in_use"] and not rows["bundled"]["in_use"]
    bundled = rows["bundled"]
    assert (bundled["quant"], bundled["architecture"], bundled["fit"]) == (
        "Q4_K_M",
        "gemma3",
        "fits",
    )
    assert bundled["context"] == 32768 and bundled["estimate_bytes"] > bundled["size_bytes"]
    assert listing["engines"] == [
        {
            "name": "box",
            "base_url": "http://127.0.0.1:9/v1",
            "model": None,
            "in_use": False,
            "api_key_env": None,
        }
    ]
    plain = cli("models", "list")
    assert plain.returncode == 0
    assert (
        "* me/gemma-GGUF:Q2_K" in plain.stdout
        and "engine box: http://127.0.0.1:9/v1" in plain.stdout
    )

    info = json.loads(cli("models", "info", "bundled", "--json").stdout)
    assert info["info"]["trained_context"] == 32768 and info["info"]["layers"] == 18
    assert info["info"]["chat_template"] is False and info["fit"] == "fits"
    assert info["context_from"] == "largest that fits" and info["advice"] is None
    shown = cli("models", "info", "bundled")
    assert "architecture   gemma3" in shown.stdout and "chat template  no" in shown.stdout

    refused = cli("models", "rm", "me/gemma-GGUF:Q2_K", "--yes")
    assert refused.returncode == 2 and "is the model in use" in refused.stderr
    assert cli("models", "use", "bundled").returncode == 0
    assert "model_path" not in config.read_text() and "# my settings" in config.read_text()
    assert cli("models", "use", "--engine", "box", "served-model").returncode == 0
    text = config.read_text()
    assert 'engine = "box"' in text and 'model = "served-model"' in text
    assert "# the big machine" in text
    gone = cli("models", "rm", "me/gemma-GGUF:Q2_K", "--yes")
    assert gone.returncode == 0, gone.stderr
    assert not any(hub_storage("me/gemma-GGUF").rglob("*.gguf"))
    assert cli("models", "rm", "bundled", "--yes").returncode == 2


def test_search_and_errors(hub, isolated_home):
    proc = cli("models", "search", "gemma")
    assert proc.returncode == 0 and proc.stdout.startswith("me/gemma-GGUF")
    data = json.loads(cli("models", "search", "gemma", "--json").stdout)
    assert data["repositories"][0]["repo_id"] == "me/gemma-GGUF"
    for args, sentence in [
        (("pull", "me/gated-GGUF"), "me/gated-GGUF is gated"),
        (("pull", "me/none-GGUF"), "There is no model repository me/none-GGUF"),
        (("pull", "me/gemma-GGUF:Q9_X"), "has no Q9_X file"),
        (("pull", "gemma"), "neither a hub repository"),
        (("info", "me/gemma-GGUF:Q8_0"), "not downloaded yet"),
        (("use", "--engine", "nope"), "There is no engine 'nope'"),
    ]:
        proc = cli("models", *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert sentence in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
