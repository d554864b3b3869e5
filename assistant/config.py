"""One settings object for the whole app.

Sources, strongest first: command-line options (passed as keyword arguments),
``ASSISTANT_*`` environment variables, ``config.toml`` in the config folder,
then the defaults below (gathered by ``assistant.config_sources``). A bad
value in any source is a ``ConfigError`` with one sentence that names the
setting, never a pydantic traceback. A key of config.toml that no setting
has (``n_cxt``, ``temprature``, a ``[engines.NAME]`` key) is one of those
sentences too, with the nearest known key: every model here forbids extra
keys, and the known ones are read from the models themselves, so a new field
or a new table of settings needs nothing more.

Named engines are ``[engines.NAME]`` tables of config.toml. An engine's API
key is never a setting: the table names the environment variable that holds
it (``api_key_env``), read when the engine is used, so the key is neither
stored in the database nor shown by ``doctor``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from assistant.config_sources import ENVIRONMENT, base_url_problem, read_settings
from assistant.errors import ConfigError

DEFAULT_SYSTEM_PROMPT = "You are a helpful, concise assistant."


class EngineSettings(BaseModel):
    """One ``[engines.NAME]`` table: an OpenAI-compatible server (llama.cpp's
    server, vLLM, Ollama, text-embeddings-inference...)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(
        description="The server's OpenAI-compatible root, e.g. http://host:8080/v1."
    )
    model: str | None = Field(
        default=None, description="Model to chat with; empty: the first listed."
    )
    api_key_env: str | None = Field(
        default=None, description="Name of the environment variable that holds the API key."
    )
    context_size: int | None = Field(
        default=None, ge=256, description="The model's context window."
    )
    embedding_model: str | None = Field(
        default=None, description="Model for /v1/embeddings; empty: the chat model."
    )
    timeout: float | None = Field(
        default=None,
        gt=0,
        description="Longest silence from this server, in seconds; empty: server_timeout.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_key_in_the_file(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and ("api_key" in data or "key" in data):
            raise ValueError(
                "an API key is never read from config.toml: put it in an environment "
                "variable and name that variable with api_key_env"
            )
        return data

    def problem(self, name: str) -> str | None:
        """The sentence that says why engine ``name`` cannot be used, or None."""
        why = base_url_problem(self.base_url)
        if why is None:
            return None
        return (
            f"The base_url of engine '{name}' in config.toml ({_shown(self.base_url)}) is not "
            f"a web address: {why}; set it to the server's root, e.g. http://host:8080/v1."
        )

    def api_key(self) -> str | None:
        """The key, read from its environment variable now (None when unset)."""
        if not self.api_key_env:
            return None
        return os.environ.get(self.api_key_env) or None


class McpServerSettings(BaseModel):
    """One ``[mcp.NAME]`` table: an MCP server started as a command (stdio) or
    reached at a URL (streamable HTTP). ``${VAR}`` in ``args``, ``env``,
    ``url`` and ``headers`` is read from the environment when it starts."""

    model_config = ConfigDict(extra="forbid")

    command: str | None = Field(default=None, description="The program that runs the server.")
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = Field(default=None, description="A streamable HTTP server's address.")
    headers: dict[str, str] = Field(default_factory=dict)
    trusted: bool = Field(
        default=False, description="Run its tools without asking the user each time."
    )
    timeout: float = Field(
        default=30.0, gt=0, description="Seconds to start, to list tools, and for one call."
    )
    enabled: bool = True

    @model_validator(mode="after")
    def _one_way_in(self) -> McpServerSettings:
        if bool(self.command) == bool(self.url):
            raise ValueError("give either command (a program to start) or url, not both")
        return self


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_path: Path | None = Field(
        default=None, description="GGUF file to load; empty means the bundled model."
    )
    n_ctx: int | None = Field(
        default=None,
        ge=256,
        description="Context window in tokens; empty: the largest that fits in memory, "
        "up to the model's trained length.",
    )
    n_threads: int | None = Field(
        default=None, ge=1, description="CPU threads; empty means the number of physical cores."
    )
    n_gpu_layers: int | None = Field(
        default=None,
        ge=-1,
        description="Layers to offload to the GPU; empty means all when offload is available.",
    )
    temperature: float = Field(default=0.7, ge=0.0, le=5.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(default=512, ge=1)
    seed: int | None = Field(default=None, description="Sampling seed; empty means random.")
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible server to use instead of the in-process model.",
    )
    api_key: str | None = None
    remote_model: str | None = None
    server_timeout: float = Field(
        default=60.0,
        gt=0.0,
        description="Seconds a model server may stay silent before the first piece of a reply "
        "or between two pieces.",
    )
    embedding_model: str | None = Field(
        default=None, description="sentence-transformers model folder; empty means the bundled one."
    )
    engine: str | None = Field(
        default=None,
        description="Named engine ([engines.NAME]) to chat with; empty: the local model.",
    )
    engines: dict[str, EngineSettings] = Field(default_factory=dict)
    embedding_engine: str | None = Field(
        default=None,
        description="Named engine whose /v1/embeddings endpoint embeds the notes; "
        "empty: the bundled embedding model.",
    )
    state_cache_mb: int = Field(
        default=2048,
        ge=0,
        description="Disk space for saved model states (fast `ask -c`); 0 turns them off.",
    )
    hub_timeout: float = Field(
        default=30.0, gt=0, description="Seconds to wait for the model hub to answer."
    )
    memory: bool = Field(
        default=True,
        description="Give replies the memories you keep and let a chat model propose new "
        "ones; false turns memory off everywhere (the memories stay stored).",
    )
    memory_tokens: int = Field(
        default=256,
        ge=0,
        description="Tokens of each prompt the memories may take at most.",
    )
    tool_paths: list[Path] = Field(
        default_factory=list,
        description="Folders read_file and list_folder may see, besides the notes collections.",
    )
    tool_timeout: float = Field(
        default=30.0, gt=0, description="Seconds a command or a page fetched by a tool may take."
    )
    tool_max_steps: int = Field(
        default=5, ge=1, le=50, description="Rounds of tool calls one reply may make."
    )
    tool_output_chars: int = Field(
        default=16000, ge=200, description="Characters of one tool result kept and shown."
    )
    mcp: dict[str, McpServerSettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _engines_exist(self) -> Settings:
        """The engines in use exist and can be reached by their address. An
        engine nobody uses yet may be broken: it is refused when chosen
        (``engine_settings``) and shown with its sentence where engines are
        listed, so one bad table does not stop every command."""
        for key in ("engine", "embedding_engine"):
            name = getattr(self, key)
            if name and name not in self.engines:
                known = ", ".join(sorted(self.engines)) or "none"
                raise ValueError(
                    f"there is no engine '{name}' (engines defined in config.toml: {known}); "
                    f"add an [engines.{name}] table with its base_url"
                )
            problem = self.engines[name].problem(name) if name else None
            if problem:
                raise ValueError(problem)
        if self.base_url:  # the unnamed server (ASSISTANT_BASE_URL); empty means none
            why = base_url_problem(self.base_url)
            if why:
                raise ValueError(
                    f"the setting base_url ({_shown(self.base_url)}) is not a web address: "
                    f"{why}; set it to the server's root, e.g. http://host:8080/v1"
                )
        return self

    def engine_settings(self, name: str) -> EngineSettings:
        """The ``[engines.NAME]`` table; a ``ConfigError`` naming the known ones
        if absent, or saying why it cannot be used."""
        try:
            engine = self.engines[name]
        except KeyError:
            known = ", ".join(sorted(self.engines)) or "none"
            raise ConfigError(
                f"There is no engine '{name}' in config.toml (defined: {known})."
            ) from None
        problem = engine.problem(name)
        if problem:
            raise ConfigError(problem)
        return engine


def _shown(value: str) -> str:
    """A setting's value quoted for a sentence, control bytes escaped."""
    return repr(value[:120])


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; ``overrides`` (command-line options) win over everything."""
    origins: dict[str, str] = {}
    raw = read_settings(strict=True, origins=origins, **overrides)
    # Some ASSISTANT_* variables are not settings (ASSISTANT_HOME): the
    # environment only ever sets the settings there are.
    raw = {k: v for k, v in raw.items() if k in Settings.model_fields or origins[k] != ENVIRONMENT}
    try:
        return Settings(**raw)
    except ValidationError as exc:
        raise ConfigError(validation_sentence(exc)) from None


def validation_sentence(exc: ValidationError) -> str:
    """The first problem pydantic found, as one sentence naming the setting;
    unknown keys first (a misspelt key often leaves a required one missing),
    all of them in one sentence."""
    unknown = [tuple(e["loc"]) for e in exc.errors() if e.get("type") == "extra_forbidden"]
    if unknown:
        return unknown_keys_sentence(unknown)
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "settings"
    if err.get("type") == "value_error" and "ctx" in err:
        why = str(err["ctx"].get("error", err.get("msg", "bad value")))
        if where == "settings":
            return f"{why[:1].upper()}{why[1:].rstrip('.')}."
        return f"Setting '{where}' is invalid: {why}."
    return f"Setting '{where}' is invalid: {err.get('msg', 'bad value')}."


def unknown_keys_sentence(locations: Iterable[tuple[str | int, ...]]) -> str:
    """One sentence naming each unknown key of config.toml, where it is, and
    the nearest key that setting or table knows (or, with none near, the keys
    it knows)."""
    import difflib

    from assistant.paths import app_paths

    parts: list[str] = []
    listed: dict[str, list[str]] = {}  # where -> the keys known there, for keys with no near one
    for loc in locations:
        *table, key = (str(p) for p in loc)
        where = f"[{'.'.join(table)}]" if table else ""
        known = known_keys(Settings, tuple(table))
        near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        part = f"'{key}'" + (f" in {where}" if where else "")
        if near:
            part += f" (did you mean '{near[0]}'?)"
        else:
            listed[where] = known
        parts.append(part)
    noun = "setting" if len(parts) == 1 else "settings"
    sentence = f"Unknown {noun} in {app_paths().config_file}: {_joined(parts)}"
    for where, known in listed.items():
        place = f"keys of {where}" if where else "settings"
        sentence += f"; the {place} are {', '.join(known) or 'none'}"
    return sentence + "."


def _joined(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def known_keys(model: type[BaseModel], table: tuple[str, ...]) -> list[str]:
    """The keys allowed in ``table`` (``()``: the top level, ``("engines", "box")``:
    one engine), read from the field types: a nested model's fields, through
    ``dict[str, Model]`` and optional types."""
    from typing import Union, get_args, get_origin

    current: Any = model
    for part in table:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            current = field.annotation if field is not None else None
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
        origin = get_origin(current)
        if origin is Union or (origin is not None and origin.__name__ == "UnionType"):
            current = next((a for a in get_args(current) if a is not type(None)), None)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def update_config(
    config_file: Path,
    values: Mapping[str, str | bool | int] | None = None,
    remove: Iterable[str] = (),
) -> None:
    """Set keys of config.toml (``a.b.c`` for a key of a table) and remove
    top-level ones, keeping the user's comments, order and formatting of
    everything else (tomlkit)."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    from assistant.fileio import atomic_write_text
    from assistant.paths import private_dir

    try:
        text = config_file.read_text(encoding="utf-8") if config_file.exists() else ""
        document = tomlkit.parse(text)
    except OSError as exc:
        raise ConfigError(f"Could not read {config_file}: {exc.strerror or exc}.") from None
    except TOMLKitError as exc:
        raise ConfigError(f"{config_file} is not valid TOML ({exc}); fix it first.") from None
    for key in remove:
        if key in document:
            del document[key]
    for key, value in (values or {}).items():
        *tables, leaf = key.split(".")  # "engines.work.model": a key of a table
        target: Any = document
        for name in tables:
            if name not in target:
                target[name] = tomlkit.table()
            target = target[name]
        target[leaf] = value  # tomlkit keeps a new top-level key above the tables
    private_dir(config_file.parent)
    atomic_write_text(config_file, tomlkit.dumps(document), mode=0o600)


def set_config_value(config_file: Path, key: str, value: str) -> None:
    """Set one string key in config.toml, keeping every other line as it is."""
    update_config(config_file, {key: value})
