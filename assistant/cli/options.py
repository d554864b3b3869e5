"""Options shared by several commands, and the runtime built from them.

Model options (``--model``, ``--threads``...) are accepted before the command
(``assistant --model m.gguf ask hi``) and after it (``assistant ask --model
m.gguf hi``); the one nearer the command wins. Every command builds its
settings from all of them, so none is silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from assistant.runtime import Runtime

F = TypeVar("F", bound=Callable[..., Any])

# (flags, settings field, click type, help)
MODEL_OPTIONS: list[tuple[tuple[str, ...], str, Any, str]] = [
    (("--model",), "model_path", click.Path(path_type=Path), "GGUF file to use"),
    (("--engine",), "engine", str, "named engine ([engines.NAME] in config.toml) to use"),
    (("--n-ctx",), "n_ctx", int, "context window in tokens"),
    (("--threads",), "n_threads", int, "CPU threads"),
    (("--gpu-layers",), "n_gpu_layers", int, "layers to offload to the GPU (-1 = all)"),
    (("--temperature",), "temperature", float, "sampling temperature"),
    (("--top-p",), "top_p", float, "nucleus sampling"),
    (("--max-tokens",), "max_tokens", int, "longest answer in tokens"),
    (("--seed",), "seed", int, "sampling seed"),
    (("--system",), "system_prompt", str, "system prompt for new conversations"),
]
SETTING_NAMES = frozenset(field for _, field, _, _ in MODEL_OPTIONS)


def model_options(f: F) -> F:
    """Add the model options (they override the config file and ASSISTANT_* variables)."""
    for flags, field, kind, help_text in reversed(MODEL_OPTIONS):
        metavar = {"model_path": "PATH", "engine": "NAME"}.get(
            field, "TEXT" if kind is str else "N"
        )
        f = click.option(*flags, field, type=kind, default=None, metavar=metavar, help=help_text)(f)
    return f


def settings_overrides(ctx: click.Context) -> dict[str, Any]:
    """The model options given anywhere on the command line; the innermost wins."""
    chain: list[click.Context] = []
    node: click.Context | None = ctx
    while node is not None:
        chain.append(node)
        node = node.parent
    merged: dict[str, Any] = {}
    for c in reversed(chain):
        merged.update({k: v for k, v in c.params.items() if k in SETTING_NAMES and v is not None})
    return merged


def runtime(ctx: click.Context, *, preload_model: bool = False) -> Runtime:
    """The composition root for this command line. ``preload_model`` starts
    loading the model before the settings are validated (one-shot commands
    that will surely need it)."""
    from assistant.cli.console import warn
    from assistant.runtime import ModelPreload, Runtime

    overrides = settings_overrides(ctx)
    preload = ModelPreload.start(**overrides) if preload_model else None
    return Runtime(preload=preload, on_warning=warn, **overrides)


class ConversationId(click.ParamType):
    name = "ID"
    what = "a conversation id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            n = int(value)
        except (TypeError, ValueError):
            n = 0
        if n < 1:
            self.fail(f"'{value}' is not {self.what}.", param, ctx)
        return n


class MemoryId(ConversationId):
    what = "a memory number (`assistant memory list` shows them)"


CONVERSATION_ID = ConversationId()
MEMORY_ID = MemoryId()
