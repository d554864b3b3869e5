"""``ModelSpec``: everything that decides which model is loaded and how.

Two specs that compare equal load the same model the same way, so a model
loaded early (from settings read but not yet validated) can be kept once the
validated settings agree with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    model_path: Path | None = None  # None: the bundled model
    n_ctx: int = 4096
    n_threads: int | None = None
    n_gpu_layers: int | None = None
    seed: int | None = None
    base_url: str | None = None
    remote_model: str | None = None
    api_key: str | None = None
    server_timeout: float = 60.0

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> ModelSpec | None:
        """A spec from unvalidated values, or None when any is not plainly
        usable (validation will then say what is wrong)."""

        def opt_int(key: str) -> int | None:
            value = raw.get(key)
            if value is None or value == "":
                return None
            if isinstance(value, bool):
                raise ValueError(key)
            return int(value)

        def opt_str(key: str) -> str | None:
            value = raw.get(key)
            return None if value is None or value == "" else str(value)

        try:
            path = opt_str("model_path")
            return cls(
                model_path=Path(path) if path else None,
                n_ctx=opt_int("n_ctx") or 4096,
                n_threads=opt_int("n_threads"),
                n_gpu_layers=opt_int("n_gpu_layers"),
                seed=opt_int("seed"),
                base_url=opt_str("base_url"),
                remote_model=opt_str("remote_model"),
                api_key=opt_str("api_key"),
                server_timeout=float(raw.get("server_timeout") or 60.0),
            )
        except (TypeError, ValueError):
            return None
