"""Where settings come from, read as they are, without validation.

Strongest first: command-line options, ``ASSISTANT_*`` environment variables,
``config.toml`` in the config folder. ``assistant.config`` validates them (with
pydantic); this module only gathers the raw values, with nothing heavier than
``tomllib``, so a one-shot command can start loading the model before the
validation library is even imported.

Tables of the config file are kept only where a setting is a table
(``[engines.NAME]``); any other table is left out, as before.
"""

from __future__ import annotations

import os
from typing import Any

ENV_PREFIX = "ASSISTANT_"
# Settings whose value is a table in config.toml ([engines.NAME] ...).
TABLE_SETTINGS = frozenset({"engines", "mcp"})


def read_settings(*, strict: bool, **overrides: Any) -> dict[str, Any]:
    """The raw value of every setting given anywhere (unvalidated; strings
    from the environment stay strings). With ``strict``, a config file that
    cannot be read is a ``ConfigError``; without, it is skipped."""
    import tomllib

    from assistant.errors import ConfigError
    from assistant.paths import app_paths

    raw: dict[str, Any] = {}
    config_file = app_paths().config_file
    try:
        with open(config_file, "rb") as fh:
            data = tomllib.load(fh)
        raw.update(
            {k: v for k, v in data.items() if not isinstance(v, dict) or k in TABLE_SETTINGS}
        )
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        if strict:
            raise ConfigError(
                f"The settings file {config_file} is a folder, not a file; move it aside (or "
                "put the settings in a TOML file of that name)."
            ) from None
    except OSError as exc:
        if strict:
            from assistant.crashlog import describe_os_error

            raise ConfigError(describe_os_error(exc)) from None
    except ValueError as exc:
        if strict:
            raise ConfigError(f"Could not read {config_file}: {exc}.") from None
    for key, value in os.environ.items():
        if key.startswith(ENV_PREFIX):
            raw[key[len(ENV_PREFIX) :].lower()] = value
    raw.update({k: v for k, v in overrides.items() if v is not None})
    return raw


def peek_settings(**overrides: Any) -> dict[str, Any]:
    """``read_settings`` that never fails: for a look ahead of validation."""
    return read_settings(strict=False, **overrides)
