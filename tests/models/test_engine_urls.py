"""An engine whose ``base_url`` is not a web address is a setting sentence
naming the engine, exit 2, never "Something went wrong (InvalidURL)"; an
empty one never falls back to the local model; the other engines are still
listed (issue 17, item 4). The good engine is a real server on loopback."""

from __future__ import annotations

import io
import json
import sys

import pytest

from assistant.cli import main
from assistant.config import load_settings
from assistant.errors import ConfigError
from assistant.paths import app_paths
from tests.standins import BadServer

BAD_URLS = [
    ("broken IPv6 host", "http://[::1/v1", "cannot be read"),
    ("an escape byte", "http://127.0.0.1:9/\x1b[31mv1", "control character"),
    ("no scheme", "127.0.0.1:8080/v1", "http:// or https://"),
    ("empty", "", "empty"),
    ("no host", "http:///v1", "no host"),
    ("a port out of range", "http://127.0.0.1:99999/v1", "port"),
    ("another scheme", "ftp://127.0.0.1/v1", "http:// or https://"),
]


def toml_string(value: str) -> str:
    return json.dumps(value)  # JSON's escapes (\u001b...) are TOML's too


def write_config(text: str) -> None:
    path = app_paths().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture(autouse=True)
def no_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("label", "url", "words"), BAD_URLS, ids=[b[0] for b in BAD_URLS])
def test_an_engine_in_use_with_a_bad_base_url_is_one_sentence(capsys, label, url, words):
    write_config(f'engine = "box"\n[engines.box]\nbase_url = {toml_string(url)}\n')
    code, out, err = run(capsys, "ask", "hello")
    assert code == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "engine 'box'" in lines[0] and "base_url" in lines[0] and words in lines[0]
    assert "went wrong" not in err and "\x1b" not in err
    assert not (app_paths().data / "logs").exists()  # no crash log


@pytest.mark.parametrize(("label", "url", "words"), BAD_URLS, ids=[b[0] for b in BAD_URLS])
def test_the_other_engines_are_still_listed(capsys, label, url, words):
    with BadServer("ok") as server:
        write_config(
            f"[engines.box]\nbase_url = {toml_string(url)}\n"
            f'[engines.good]\nbase_url = "{server.base_url}"\n'
        )
        code, out, err = run(capsys, "models", "list", "--remote", "--json")
    assert code == 0, err
    engines = {e["name"]: e for e in json.loads(out)["engines"]}
    assert "models" in engines["good"] and engines["good"]["models"]
    assert "engine 'box'" in engines["box"]["error"] and words in engines["box"]["error"]
    assert "models" not in engines["box"]
    assert "went wrong" not in err


def test_choosing_the_broken_engine_later_is_the_same_sentence(capsys):
    write_config('[engines.box]\nbase_url = ""\n')
    code, _, err = run(capsys, "ask", "--engine", "box", "hello")
    assert code == 2 and "engine 'box'" in err and "empty" in err
    code, _, err = run(capsys, "models", "use", "--engine", "box")
    assert code == 2 and "engine 'box'" in err
    settings = load_settings()  # an engine nobody uses does not stop the rest
    with pytest.raises(ConfigError, match="engine 'box'"):
        settings.engine_settings("box")


def test_an_empty_base_url_never_falls_back_to_the_local_model(capsys, monkeypatch):
    loaded = []
    monkeypatch.setattr("assistant.runtime.load_spec", lambda *a, **k: loaded.append(a))
    write_config('engine = "box"\n[engines.box]\nbase_url = ""\n')
    code, _, err = run(capsys, "ask", "hello")
    assert code == 2 and "empty" in err
    assert loaded == []  # nothing was loaded, local or remote


def test_a_bad_unnamed_base_url_is_a_setting_sentence(capsys, monkeypatch):
    monkeypatch.setenv("ASSISTANT_BASE_URL", "http://[::1/v1")
    code, _, err = run(capsys, "ask", "hello")
    assert code == 2 and "base_url" in err and "went wrong" not in err
