"""One settings object for the whole app.

Sources, strongest first: command-line options (passed as keyword arguments),
``ASSISTANT_*`` environment variables, ``config.toml`` in the config folder,
then the defaults below (gathered by ``assistant.config_sources``). A bad
value in any source is a ``ConfigError`` with one sentence that names the
setting, never a pydantic traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.config_sources import read_settings
from assistant.errors import ConfigError

DEFAULT_SYSTEM_PROMPT = "You are a helpful, concise assistant."


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model_path: Path | None = Field(
        default=None, description="GGUF file to load; empty means the bundled model."
    )
    n_ctx: int = Field(default=4096, ge=256, description="Context window in tokens.")
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


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; ``overrides`` (command-line options) win over everything."""
    raw = read_settings(strict=True, **overrides)
    try:
        return Settings(**raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "settings"
        raise ConfigError(f"Setting '{where}' is invalid: {err.get('msg', 'bad value')}.") from None


def set_config_value(config_file: Path, key: str, value: str) -> None:
    """Set one string key in config.toml, keeping every other line as it is."""
    import json

    from assistant.fileio import atomic_write_text
    from assistant.paths import private_dir

    line = f"{key} = {json.dumps(value)}"
    lines = config_file.read_text(encoding="utf-8").splitlines() if config_file.exists() else []
    for i, existing in enumerate(lines):
        if existing.split("=", 1)[0].strip() == key:
            lines[i] = line
            break
    else:
        lines.insert(0, line)
    private_dir(config_file.parent)
    atomic_write_text(config_file, "\n".join(lines) + "\n")
