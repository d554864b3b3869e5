"""Named engines ([engines.NAME] in config.toml) against llama-cpp-python's own
server on loopback, started with ``--embedding`` and an API key: its models
listed from /v1/models, replies recorded with the engine (the key never
stored nor shown), a conversation continued with its engine, and the notes
index built through /v1/embeddings, refusing to mix two models' vectors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from assistant.errors import ConfigError
from tests.test_remote_backend import free_port

KEY = "sk-test-not-in-any-file"


@pytest.fixture(scope="module")
def engine(bundled_gguf):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(bundled_gguf),
            "--host", "127.0.0.1", "--port", str(port),
            "--n_ctx", "2048", "--n_threads", "1",
            "--model_alias", "gemma-270m",
            "--embedding", "true",
            "--api_key", KEY,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            headers = {"Authorization": f"Bearer {KEY}"}
            if httpx.get(f"{base}/models", headers=headers, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not start")
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def write_config(home: Path, base: str, extra: str = "") -> Path:
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f"{extra}\n[engines.box]  # the machine under the desk\n"
        f'base_url = "{base}"\napi_key_env = "BOX_KEY"\n'
    )
    return config


def test_settings_read_engine_tables(isolated_home, monkeypatch):
    from assistant.config import load_settings

    write_config(isolated_home, "http://127.0.0.1:9/v1", 'engine = "box"')
    monkeypatch.setenv("BOX_KEY", KEY)
    s = load_settings()
    assert s.engine == "box" and s.engines["box"].base_url == "http://127.0.0.1:9/v1"
    assert s.engines["box"].api_key() == KEY
    config = isolated_home / "config" / "config.toml"
    config.write_text('[engines.box]\nbase_url = "http://x/v1"\napi_key = "sk-in-the-file"\n')
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "an API key is never read from config.toml" in str(err.value)
    assert "sk-in-the-file" not in str(err.value)
    config.write_text('engine = "nope"\n')
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).startswith("There is no engine 'nope'")


def test_list_models_and_a_reply_through_the_engine(engine, isolated_home, monkeypatch):
    from assistant.errors import ModelError
    from assistant.llm.remote import list_models
    from assistant.runtime import Runtime

    assert [m.id for m in list_models(engine, KEY)] == ["gemma-270m"]
    with pytest.raises(ModelError) as err:
        list_models(engine, "wrong-key")
    assert "refused the request (401)" in str(err.value)

    write_config(isolated_home, engine, 'engine = "box"\nmax_tokens = 8')
    monkeypatch.setenv("BOX_KEY", KEY)
    rt = Runtime()
    events = list(rt.session().send("What is the capital of France?"))
    reply = events[-1].message
    assert reply.model == "box/gemma-270m"  # the first model the engine lists
    conversation = rt.repo.get_conversation(reply.conversation_id)
    assert conversation.engine == "box" and conversation.model == "box/gemma-270m"
    rt.db.close()
    stored = b"".join(p.read_bytes() for p in rt.paths.data.rglob("assistant.db*"))
    assert KEY.encode() not in stored  # the key never reaches the database


def test_doctor_names_the_variable_not_the_key(engine, isolated_home, monkeypatch):
    write_config(isolated_home, engine)
    env = {**os.environ, "BOX_KEY": KEY}
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", "doctor", "--json"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, env=env,
    )  # fmt: skip
    assert KEY not in proc.stdout and KEY not in proc.stderr
    report = json.loads(proc.stdout)
    assert report["engines"]["box"]["api_key"] == "from $BOX_KEY (set)"


def test_a_conversation_continues_with_its_engine(engine, home_with_model, monkeypatch):
    write_config(home_with_model, engine, "max_tokens = 8")
    env = {**os.environ, "BOX_KEY": KEY}

    def ask(*args: str) -> dict:
        proc = subprocess.run(
            [sys.executable, "-m", "assistant", "ask", "--json", *args],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300, env=env,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    first = ask("--engine", "box", "Hello?")
    assert first["model"] == "box/gemma-270m"
    again = ask("-c", str(first["conversation_id"]), "And then?")  # no --engine this time
    assert again["model"] == "box/gemma-270m"
    local = ask("Hello locally")
    assert local["model"] == "gemma-3-270m-q4_k_m.gguf"


def test_notes_embedded_through_the_engine_never_mixed(
    engine, isolated_home, tmp_path, monkeypatch
):
    from assistant.notes.vectors import MANIFEST
    from assistant.runtime import Runtime

    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "backups.md").write_text("# Backups\n\nThe backups run every night at two.\n")
    (folder / "garden.md").write_text("# Garden\n\nTomatoes need sun and water.\n")
    (folder / "cats.md").write_text("# Cats\n\nThe cat sleeps on the sofa all day.\n")
    config = write_config(isolated_home, engine, 'embedding_engine = "box"')
    monkeypatch.setenv("BOX_KEY", KEY)

    rt = Runtime()
    notes = rt.notes
    notes.add_collection(folder, "notes")
    report = notes.sync()
    assert report.chunks_embedded == 3
    manifest = json.loads((rt.paths.index / MANIFEST).read_text())
    assert manifest["model"] == "remote:box/gemma-270m@640" and manifest["count"] == 3
    hits = notes.search("backups every night", k=3, mode="vector")
    assert len(hits) == 3 and notes.status().embedding_model == "remote:box/gemma-270m@640"
    rt.db.close()

    config.write_text(config.read_text().replace('embedding_engine = "box"', ""))
    rt = Runtime()  # the bundled embedding model now: the index is rebuilt, not mixed
    report = rt.notes.sync()
    assert any(
        "Rebuilding the notes index: the embedding model changed" in m for m in report.messages
    )
    manifest = json.loads((rt.paths.index / MANIFEST).read_text())
    assert manifest["model"].startswith("all-MiniLM-L6-v2") or "remote" not in manifest["model"]
    assert manifest["count"] == 3 and manifest["dimension"] == 384
    rt.db.close()
