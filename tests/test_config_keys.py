"""A key of config.toml that no setting has is one sentence naming it and the
nearest known key, exit 2, never silently ignored (issue 17, item 5)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from assistant.cli import main
from assistant.config import EngineSettings, Settings, known_keys, load_settings
from assistant.errors import ConfigError
from assistant.paths import app_paths


def write_config(text: str) -> None:
    path = app_paths().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_misspelt_settings_are_named_with_the_nearest_known_one(capsys):
    write_config("n_cxt = 8192\ntemprature = 0.1\n")
    code, out, err = run(capsys, "history", "list")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "'n_cxt' (did you mean 'n_ctx'?)" in lines[0]
    assert "'temprature' (did you mean 'temperature'?)" in lines[0]
    assert str(app_paths().config_file) in lines[0]
    assert "Traceback" not in err and "extra_forbidden" not in err


def test_a_misspelt_key_of_an_engine_names_the_engine(capsys):
    write_config('[engines.box]\nbase_ur = "http://127.0.0.1:9/v1"\n')
    code, _, err = run(capsys, "history", "list")
    assert code == 2
    assert err.count("\n") == 1
    assert "'base_ur' in [engines.box] (did you mean 'base_url'?)" in err
    assert "Field required" not in err  # the typo is the cause, not the missing key


def test_a_key_with_nothing_near_lists_the_known_ones():
    write_config('colour = "red"\n[ui]\ntheme = "dark"\n')
    with pytest.raises(ConfigError) as err:
        load_settings()
    sentence = str(err.value)
    assert "'colour'" in sentence and "'ui'" in sentence
    assert "the settings are model_path, n_ctx" in sentence


def test_known_settings_and_environment_variables_that_are_not_settings_still_work(
    monkeypatch,
):
    write_config(
        'n_ctx = 4096\ntemperature = 0.2\n[engines.box]\nbase_url = "http://127.0.0.1:9/v1"\n'
    )
    monkeypatch.setenv("ASSISTANT_NOT_A_SETTING", "1")  # like ASSISTANT_HOME: not ours
    monkeypatch.setenv("ASSISTANT_TOP_P", "0.5")
    settings = load_settings()
    assert settings.n_ctx == 4096 and settings.temperature == 0.2 and settings.top_p == 0.5
    assert settings.engines["box"].base_url == "http://127.0.0.1:9/v1"


def test_the_known_keys_come_from_the_field_types():
    """New settings need nothing more: a nested model, a table of models
    (optional or not) are followed through their types."""

    class Server(BaseModel):
        model_config = ConfigDict(extra="forbid")
        command: str
        args: list[str] = []

    class Memory(BaseModel):
        model_config = ConfigDict(extra="forbid")
        enabled: bool = True

    class Wider(BaseModel):
        model_config = ConfigDict(extra="forbid")
        servers: dict[str, Server] | None = None
        memory: Memory = Memory()

    assert known_keys(Wider, ("servers", "files")) == ["command", "args"]
    assert known_keys(Wider, ("memory",)) == ["enabled"]
    assert known_keys(Wider, ()) == ["servers", "memory"]
    assert known_keys(Settings, ("engines", "box")) == list(EngineSettings.model_fields)
    assert known_keys(Settings, ("temperature",)) == []
