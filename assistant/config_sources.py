"""Where settings come from, read as they are, without validation.

Strongest first: command-line options, ``ASSISTANT_*`` environment variables,
``config.toml`` in the config folder. ``assistant.config`` validates them (with
pydantic); this module only gathers the raw values, with nothing heavier than
``tomllib``, so a one-shot command can start loading the model before the
validation library is even imported.

Everything in the config file is kept, tables too (``[engines.NAME]``), so the
validation can name a key it does not know instead of dropping it. Of the
environment, every ``ASSISTANT_*`` variable is gathered; ``origins`` says where
each value came from, since some of those variables are not settings
(``ASSISTANT_HOME``).
"""

from __future__ import annotations

import os
from typing import Any

ENV_PREFIX = "ASSISTANT_"
FILE, ENVIRONMENT, OPTION = "file", "env", "option"  # where a value came from


def read_settings(
    *, strict: bool, origins: dict[str, str] | None = None, **overrides: Any
) -> dict[str, Any]:
    """The raw value of every setting given anywhere (unvalidated; strings
    from the environment stay strings). With ``strict``, a config file that
    cannot be read is a ``ConfigError``; without, it is skipped. ``origins``,
    when given, is filled with where each value came from (``FILE``,
    ``ENVIRONMENT`` or ``OPTION``)."""
    import tomllib

    from assistant.errors import ConfigError
    from assistant.paths import app_paths

    raw: dict[str, Any] = {}
    config_file = app_paths().config_file
    try:
        with open(config_file, "rb") as fh:
            data = tomllib.load(fh)
        raw.update(data)
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
    where = dict.fromkeys(raw, FILE)
    for key, value in os.environ.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :].lower()
            raw[name] = value
            where[name] = ENVIRONMENT
    given = {k: v for k, v in overrides.items() if v is not None}
    raw.update(given)
    where.update(dict.fromkeys(given, OPTION))
    if origins is not None:
        origins.update(where)
    return raw


def peek_settings(**overrides: Any) -> dict[str, Any]:
    """``read_settings`` that never fails: for a look ahead of validation."""
    return read_settings(strict=False, **overrides)


def base_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a model server's root (an engine's ``base_url``),
    or None when it can: a check of the text only, nothing is asked of the
    network. Light enough for the look ahead of validation."""
    from urllib.parse import urlsplit

    if not url.strip():
        return "it is empty"
    if any(ord(ch) < 0x21 or 0x7F <= ord(ch) <= 0x9F for ch in url):
        return "it holds a space or a control character"
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an IPv6 host without its closing bracket
        return f"it cannot be read as an address ({str(exc).rstrip('.')})"
    if parts.scheme not in ("http", "https"):
        return "it does not start with http:// or https://"
    if not parts.hostname:
        return "it names no host"
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number in range
    except ValueError:
        return "its port is not a number from 0 to 65535"
    return None
