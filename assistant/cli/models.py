"""``assistant models ...``: pull, list and choose GGUF models."""

from __future__ import annotations

from pathlib import Path

import click

from assistant.cli.console import CancelOnSigint, out, print_json, progress_bar
from assistant.cli.options import runtime


@click.group()
def models() -> None:
    """Download, list and choose GGUF models."""


@models.command()
@click.argument("source", metavar="URL|NAME")
@click.option("--sha256", help="Expected checksum; the file is deleted on a mismatch.")
@click.option("--name", help="File name to save as.")
@click.option("--use", is_flag=True, help="Make it the model in use.")
@click.pass_context
def pull(ctx: click.Context, source: str, sha256: str | None, name: str | None, use: bool) -> int:
    """Download a GGUF (a URL or a known name); an interrupted download resumes."""
    from assistant.config import set_config_value
    from assistant.llm import download

    paths = runtime(ctx).paths
    with CancelOnSigint() as cancel, progress_bar(transfer=True) as bar:
        task = bar.add_task("downloading", total=None) if bar is not None else None

        def show(p: download.Progress) -> None:
            if bar is not None and task is not None:
                bar.update(task, completed=p.done, total=p.total)

        path = download.pull(
            source, paths.models, name=name, sha256=sha256, progress=show, cancel=cancel
        )
    out(f"Downloaded {path}.")
    if use:
        set_config_value(paths.config_file, "model_path", str(path))
        out(f"It is now the model in use ({paths.config_file}).")
    return 0


@models.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> int:
    """Models in the cache folder."""
    from assistant.llm import download
    from assistant.runtime import BUNDLED_MODEL_NAME

    rt = runtime(ctx)
    current = rt.settings.model_path
    rows = [
        {
            "name": p.name,
            "path": str(p),
            "size_mb": round(p.stat().st_size / 2**20, 1),
            "in_use": (current is not None and Path(current) == p)
            or (current is None and p.name == BUNDLED_MODEL_NAME),
        }
        for p in download.installed_models(rt.paths.models)
    ]
    if as_json:
        print_json({"models": rows, "known": download.KNOWN_MODELS})
        return 0
    for r in rows:
        mark = "*" if r["in_use"] else " "
        out(f"{mark} {r['name']}  {r['size_mb']} MB")
    if not rows:
        out("No models in the cache yet; the bundled one is assembled on first use.")
    out("Known names for `models pull`: " + ", ".join(download.KNOWN_MODELS))
    return 0


@models.command()
@click.argument("model", metavar="PATH|NAME")
@click.pass_context
def use(ctx: click.Context, model: str) -> int:
    """Set the model in use (a path, or a file in the cache folder)."""
    from assistant.config import set_config_value
    from assistant.llm.catalog import check_gguf

    paths = runtime(ctx).paths
    candidate = Path(model).expanduser()
    if not candidate.exists() and (paths.models / model).exists():
        candidate = paths.models / model
    path = check_gguf(candidate).resolve()
    set_config_value(paths.config_file, "model_path", str(path))
    out(f"Using {path} ({paths.config_file}).")
    return 0
