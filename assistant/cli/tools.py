"""``assistant tools list``: every tool a model may be given, and where it comes from."""

from __future__ import annotations

from typing import Any

import click

from assistant.cli.console import out, print_json, say
from assistant.cli.options import model_options, runtime


@click.group()
def tools() -> None:
    """The tools a model may call (turn them on with ask --tools)."""


@tools.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per tool, in a list.")
@model_options
@click.pass_context
def list_(ctx: click.Context, as_json: bool, **_options: Any) -> int:
    """Every tool: built-in ones and those of the configured MCP servers."""
    rt = runtime(ctx)
    try:
        found = rt.tools.tools()  # starts the MCP servers to list their tools
        warnings = list(rt.tools.warnings)
    finally:
        rt.close_tools()
    if as_json:
        print_json(
            {
                "tools": [
                    {
                        "name": t.name,
                        "source": t.source,
                        "asks_first": t.asks_first,
                        "read_only": t.read_only,
                        "description": t.description,
                        "parameters": dict(t.spec.parameters),
                    }
                    for t in found
                ],
                "warnings": warnings,
            }
        )
        return 0
    for warning in warnings:
        say(warning)
    width = max((len(t.name) for t in found), default=4)
    for t in found:
        asks = "asks first" if t.asks_first else "runs freely"
        out(f"{t.name:<{width}}  {t.source:<12}  {asks:<11}  {t.description}")
    return 0
