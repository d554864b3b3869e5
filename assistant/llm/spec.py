"""``ModelSpec``: everything that decides which model is loaded and how.

Two specs that compare equal load the same model the same way, so a model
loaded early (from settings read but not yet validated) can be kept once the
validated settings agree with it. A named engine is resolved into its server,
model and key here (the key read from the environment variable the config
names), so the spec alone says what to talk to.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_STATE_CACHE_MB = 2048


@dataclass(frozen=True)
class ModelSpec:
    model_path: Path | None = None  # None: the bundled model
    n_ctx: int | None = None  # None: the largest that fits, up to the trained length
    n_threads: int | None = None
    n_gpu_layers: int | None = None
    seed: int | None = None
    base_url: str | None = None
    remote_model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    engine: str | None = None  # the [engines.NAME] the server settings came from
    remote_context: int | None = None
    # the longest silence from a server before its first piece or between two
    server_timeout: float = 60.0
    state_cache_mb: int = DEFAULT_STATE_CACHE_MB

    @property
    def is_remote(self) -> bool:
        return bool(self.base_url)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> ModelSpec | None:
        """A spec from unvalidated values, or None when any is not plainly
        usable (validation will then say what is wrong)."""

        def opt_int(key: str, source: Mapping[str, Any] = raw) -> int | None:
            value = source.get(key)
            if value is None or value == "":
                return None
            if isinstance(value, bool):
                raise ValueError(key)
            return int(value)

        def opt_str(key: str, source: Mapping[str, Any] = raw) -> str | None:
            value = source.get(key)
            return None if value is None or value == "" else str(value)

        try:
            path = opt_str("model_path")
            state_mb = opt_int("state_cache_mb")
            spec = cls(
                model_path=Path(path) if path else None,
                n_ctx=opt_int("n_ctx"),
                n_threads=opt_int("n_threads"),
                n_gpu_layers=opt_int("n_gpu_layers"),
                seed=opt_int("seed"),
                base_url=opt_str("base_url"),
                remote_model=opt_str("remote_model"),
                api_key=opt_str("api_key"),
                server_timeout=float(raw.get("server_timeout") or 60.0),
                state_cache_mb=DEFAULT_STATE_CACHE_MB if state_mb is None else state_mb,
            )
            engine = opt_str("engine")
            if engine is None:
                return spec
            engines = raw.get("engines")
            table = engines.get(engine) if isinstance(engines, Mapping) else None
            if not isinstance(table, Mapping) or not opt_str("base_url", table):
                return None
            from assistant.config_sources import base_url_problem

            if base_url_problem(str(table["base_url"])):
                return None  # nothing to load ahead: validation will say what is wrong
            key_env = opt_str("api_key_env", table)
            return cls(
                model_path=spec.model_path,
                n_ctx=spec.n_ctx,
                n_threads=spec.n_threads,
                n_gpu_layers=spec.n_gpu_layers,
                seed=spec.seed,
                base_url=opt_str("base_url", table),
                remote_model=opt_str("model", table),
                api_key=os.environ.get(key_env) if key_env else None,
                engine=engine,
                remote_context=opt_int("context_size", table),
                server_timeout=float(table.get("timeout") or spec.server_timeout),
                state_cache_mb=spec.state_cache_mb,
            )
        except (TypeError, ValueError):
            return None
