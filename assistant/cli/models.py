"""``assistant models ...``: pull, search, list, show, choose and remove models."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assistant.cli.console import CancelOnSigint, confirm, out, print_json, progress_bar, say
from assistant.cli.options import runtime

if TYPE_CHECKING:
    from assistant.llm.catalog import LocalModel
    from assistant.llm.fit import FreeMemory
    from assistant.llm.gguf_meta import GGUFInfo
    from assistant.runtime import Runtime


@click.group()
def models() -> None:
    """Download, list and choose models (local GGUF files and named engines)."""


def _hub(rt: Runtime) -> Any:
    from assistant.llm.hub import Hub

    return Hub(timeout=rt.settings.hub_timeout)


@models.command()
@click.argument("source", metavar="OWNER/REPO[:QUANT]|OWNER/REPO/FILE.gguf|URL")
@click.option("--sha256", help="Expected checksum of a URL download; deleted on a mismatch.")
@click.option("--name", help="File name to save a URL download as.")
@click.option("--use", is_flag=True, help="Make it the model in use.")
@click.pass_context
def pull(ctx: click.Context, source: str, sha256: str | None, name: str | None, use: bool) -> int:
    """Download a model from the hub (largest quant that fits, or the one
    named) or from a URL; an interrupted download resumes."""
    from assistant.errors import UsageError
    from assistant.llm import download, fit, hub

    rt = runtime(ctx)
    ref = hub.parse_ref(source)
    with CancelOnSigint() as cancel, progress_bar(transfer=True) as bar:
        task = bar.add_task("downloading", total=None) if bar is not None else None

        def show(p: download.Progress | hub.Progress) -> None:
            if bar is not None and task is not None:
                label = p.label or "downloading"
                bar.update(task, completed=p.done, total=p.total, description=label)

        if ref is not None:
            if sha256 or name:
                raise UsageError(
                    "--sha256 and --name are for URL downloads; the hub names its files."
                )
            usable, _ = fit.free_memory().usable(on_gpu=False)
            result = _hub(rt).pull(ref, usable_bytes=usable, progress=show, cancel=cancel)
            path = result.path
        elif source.startswith(("http://", "https://")):
            path = download.pull(
                source, rt.paths.models, name=name, sha256=sha256, progress=show, cancel=cancel
            )
            result = None
        else:
            raise UsageError(
                f"'{source}' is neither a hub repository (owner/repo[:QUANT]) nor an http(s) URL; "
                "find a model with `assistant models search WORDS`."
            )
    if result is not None:
        for notice in result.notices:
            say(notice)
        what = f"{result.repo_id}:{result.variant.label}"
        parts = f" in {len(result.variant.files)} parts" if len(result.variant.files) > 1 else ""
        if result.fetched_bytes:
            out(f"Downloaded {what} ({fit.gb(result.variant.size)}{parts}) to {path}.")
        else:
            out(f"{what} is already here ({fit.gb(result.variant.size)}{parts}): {path}.")
    else:
        out(f"Downloaded {path}.")
    if use:
        _use_path(rt, path)
    return 0


def _use_path(rt: Runtime, path: Path) -> None:
    from assistant.config import update_config

    update_config(rt.paths.config_file, {"model_path": str(path)}, remove=["engine"])
    out(f"It is now the model in use ({rt.paths.config_file}).")


@models.command()
@click.argument("words", nargs=-1, required=True)
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def search(ctx: click.Context, words: tuple[str, ...], limit: int, as_json: bool) -> int:
    """GGUF repositories on the hub matching WORDS, most downloaded first."""
    rt = runtime(ctx)
    text = " ".join(words)
    found = _hub(rt).search(text, limit)
    if as_json:
        print_json({"query": text, "repositories": [r.__dict__ for r in found]})
        return 0
    if not found:
        out(f"No GGUF repository on the hub matches '{text}'.")
        return 0
    width = max(len(r.repo_id) for r in found)
    for r in found:
        out(f"{r.repo_id:<{width}}  {r.downloads:>9,} downloads  {r.likes:>5} likes  {r.updated}")
    out("Pull one with `assistant models pull OWNER/REPO` (the largest quant that fits).")
    return 0


# ------------------------------------------------------------- recommend
@models.command()
@click.option("--all", "show_all", is_flag=True, help="Also the ones too big for this machine.")
@click.option("--json", "as_json", is_flag=True)
def recommend(show_all: bool, as_json: bool) -> int:
    """Chat models worth pulling (open licences, GGUF) that fit this machine,
    best first, with their size and why."""
    from assistant.llm import fit
    from assistant.llm.recommend import CATALOGUE, for_this_machine

    machine = for_this_machine()
    fitting, usable, where, pick = machine.fitting, machine.usable, machine.where, machine.pick
    shown = list(CATALOGUE) if show_all else fitting
    if as_json:
        print_json(
            {
                "usable_bytes": usable,
                "memory": where,
                "models": [{**r.to_dict(), "fits": r in fitting} for r in shown],
                "suggested": pick.ref if pick else None,
            }
        )
        return 0
    out(
        "The bundled model is a tiny demo (Gemma 3 270M, a base model never taught to chat). "
        f"These fit in the {fit.gb(usable)} of {where} this machine can give a model now, best "
        "first:"
        if fitting
        else f"No model on the list fits in the {fit.gb(usable)} of {where} free now; "
        "close some programs, or see them all with --all."
    )
    for r in shown:
        need = "" if r in fitting else f"  (needs about {fit.gb(r.memory_bytes)}: too big here)"
        out(f"\n  {r.ref}{need}")
        out(f"    {r.name}, {r.parameters} parameters, {fit.gb(r.file_bytes)} download, "
            f"about {fit.gb(r.memory_bytes)} in use; {r.licence}; {r.languages}")  # fmt: skip
        out(f"    {r.why}")
    if pick is not None:
        slow = " (the bigger ones answer slowly without a GPU)"
        why = "" if machine.on_gpu or pick is fitting[0] else slow
        out(f"\nGet one and use it from now on{why}: assistant models pull {pick.ref} --use")
    return 0


# ------------------------------------------------------------------ list
def _info(rt: Runtime, path: Path) -> GGUFInfo:
    from assistant.llm.gguf_meta import cached_describe

    return cached_describe(path, rt.paths.cache / "model-info.json")


def _row(rt: Runtime, m: LocalModel, free: FreeMemory, in_use: bool) -> dict[str, Any]:
    from assistant.errors import ModelError
    from assistant.llm import fit

    row: dict[str, Any] = {
        "name": m.name,
        "in_use": in_use,
        "source": m.source,
        "path": str(m.path),
        "size_bytes": m.size,
        "quant": m.quant,
    }
    try:
        info = _info(rt, m.path)
    except ModelError as exc:
        row["error"] = str(exc)
        return row
    n_ctx = rt.settings.n_ctx or fit.default_context(info, free)
    verdict = fit.check_fit(info, n_ctx, free)
    row.update(
        quant=info.quant,
        architecture=info.architecture,
        parameters=info.parameters,
        trained_context=info.trained_context,
        context=n_ctx,
        estimate_bytes=verdict.estimate.total,
        fit=verdict.label,
    )
    return row


def _in_use(rt: Runtime, m: LocalModel) -> bool:
    s = rt.settings
    if s.engine or s.base_url:
        return False
    if s.model_path is None:
        return m.source == "bundled"
    return m.same_file(Path(s.model_path))


@models.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--remote", is_flag=True, help="Also ask each engine which models it serves.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool, remote: bool) -> int:
    """Local models (bundled, downloaded, from the hub) with size, quant and
    whether they fit in memory, and the named engines."""
    from assistant.llm import fit
    from assistant.llm.catalog import local_models

    rt = runtime(ctx)
    free = fit.free_memory()
    rows = [_row(rt, m, free, _in_use(rt, m)) for m in local_models(rt.paths)]
    engines = _engine_rows(rt, remote)
    if as_json:
        print_json(
            {
                "models": rows,
                "engines": engines,
                "free_ram_bytes": free.ram,
                "free_vram_bytes": free.vram,
            }
        )
        return 0
    if not rows:
        out("No models here yet; the bundled one is assembled on first use.")
    width = max((len(r["name"]) for r in rows), default=0)
    for r in rows:
        mark = "*" if r["in_use"] else " "
        size = fit.gb(r["size_bytes"])
        if "error" in r:
            out(f"{mark} {r['name']:<{width}}  {size:>8}  damaged: {r['error']}")
            continue
        params = (
            f"{r['parameters'] / 1e9:.1f}B"
            if r["parameters"] >= 1e9
            else f"{r['parameters'] / 1e6:.0f}M"
        )
        out(
            f"{mark} {r['name']:<{width}}  {size:>8}  {r['quant'] or '?':<7} {params:>6}  "
            f"ctx {r['context']:>6}  {r['fit']} ({fit.gb(r['estimate_bytes'])})"
        )
    out(
        f"Free memory: {fit.gb(free.ram)} RAM"
        + (f", {fit.gb(free.vram)} VRAM" if free.vram else "")
    )
    for e in engines:
        mark = "*" if e["in_use"] else " "
        listed = ""
        if "models" in e:
            listed = "  serves: " + (", ".join(e["models"]) or "nothing")
        elif "error" in e:
            listed = f"  ({e['error']})"
        chosen = e["model"] or "(first listed)"
        out(f"{mark} engine {e['name']}: {e['base_url']} model {chosen}{listed}")
    return 0


def _engine_rows(rt: Runtime, remote: bool) -> list[dict[str, Any]]:
    from assistant.errors import AssistantError
    from assistant.llm.remote import list_models

    rows = []
    for name, engine in sorted(rt.settings.engines.items()):
        row: dict[str, Any] = {
            "name": name,
            "base_url": engine.base_url,
            "model": engine.model,
            "in_use": rt.settings.engine == name,
            "api_key_env": engine.api_key_env,
        }
        problem = engine.problem(name)
        if problem:  # said whether asked to look or not; the other engines are still listed
            row["error"] = problem
        elif remote:
            try:
                row["models"] = [m.id for m in list_models(engine.base_url, engine.api_key())]
            except AssistantError as exc:
                row["error"] = str(exc)
        rows.append(row)
    return rows


# ------------------------------------------------------------------ info
def _resolve(rt: Runtime, name: str) -> tuple[Path, LocalModel | None]:
    """A model the user named: a listed local model, or a path to a GGUF."""
    from assistant.errors import ModelError
    from assistant.llm.catalog import bundled_model_path, check_gguf, find_local
    from assistant.llm.hub import parse_ref

    found = find_local(name, rt.paths)
    if found is not None:
        return found.path, found
    if name in ("bundled", "gemma3-270m"):
        return bundled_model_path(rt.paths), None
    candidate = Path(name).expanduser()
    if candidate.exists():
        return check_gguf(candidate).resolve(), None
    if parse_ref(name) is not None:
        raise ModelError(f"{name} is not downloaded yet; `assistant models pull {name}` first.")
    if "/" in name or name.endswith(".gguf"):
        raise ModelError(f"Model file not found: {candidate}.")
    raise ModelError(f"No model called {name} here (see `assistant models list`).")


@models.command()
@click.argument("model", metavar="NAME|PATH")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def info(ctx: click.Context, model: str, as_json: bool) -> int:
    """What a model file holds and whether it fits: architecture, parameters,
    quant, trained context, layers, chat template, memory estimate."""
    from assistant.llm import fit

    rt = runtime(ctx)
    path, local = _resolve(rt, model)
    details = _info(rt, path)
    free = fit.free_memory()
    n_ctx = rt.settings.n_ctx or fit.default_context(details, free)
    verdict = fit.check_fit(details, n_ctx, free)
    estimate = verdict.estimate
    advice = fit.advice(details, n_ctx, free, label=local.name if local else path.name)
    if as_json:
        print_json(
            {
                "name": local.name if local else path.name,
                "info": details.to_dict(),
                "context": n_ctx,
                "context_from": "n_ctx setting" if rt.settings.n_ctx else "largest that fits",
                "estimate": {
                    "weights_bytes": estimate.weights,
                    "kv_cache_bytes": estimate.kv_cache,
                    "compute_bytes": estimate.compute,
                    "total_bytes": estimate.total,
                },
                "free_ram_bytes": free.ram,
                "free_vram_bytes": free.vram,
                "fit": verdict.label,
                "advice": advice,
            }
        )
        return 0
    out(f"{local.name if local else path.name}  ({path})")
    out(f"  architecture   {details.architecture}  ({details.name})")
    out(f"  parameters     {details.parameters_label} ({details.parameters:,})")
    out(f"  quant          {details.quant}")
    out(
        f"  file           {fit.gb(details.file_bytes)}"
        + (f" in {details.parts} parts" if details.parts > 1 else "")
    )
    out(f"  trained ctx    {details.trained_context:,} tokens")
    out(f"  layers         {details.layers}")
    template = "yes" if details.chat_template else "no (a plain User:/Assistant: transcript)"
    out(f"  chat template  {template}")
    how = "n_ctx setting" if rt.settings.n_ctx else "largest that fits"
    out(f"  context        {n_ctx:,} tokens ({how})")
    out(
        f"  memory         about {fit.gb(estimate.total)}: weights {fit.gb(estimate.weights)}, "
        f"KV cache {fit.gb(estimate.kv_cache)}, compute {fit.gb(estimate.compute)}"
    )
    out(f"  fit            {verdict.describe()}")
    if advice:
        say(advice)
    return 0


# ------------------------------------------------------------------- use
@models.command()
@click.argument("model", metavar="NAME|PATH", required=False)
@click.option("--engine", "engine", metavar="NAME", help="Use the named engine ([engines.NAME]).")
@click.pass_context
def use(ctx: click.Context, model: str | None, engine: str | None) -> int:
    """Set the model in use in config.toml (comments kept): a local model or
    path, or --engine NAME [MODEL] for a model of a named engine."""
    from assistant.config import update_config
    from assistant.errors import UsageError

    rt = runtime(ctx)
    config = rt.paths.config_file
    if engine is not None:
        rt.settings.engine_settings(engine)  # an unknown name fails here
        values = {"engine": engine}
        if model:
            values[f"engines.{engine}.model"] = model
        update_config(config, values)
        out(f"Using engine {engine}{f' ({model})' if model else ''} ({config}).")
        return 0
    if not model:
        raise UsageError("Name a model (see `assistant models list`) or give --engine NAME.")
    path, local = _resolve(rt, model)
    if local is not None and local.source == "bundled":
        update_config(config, remove=["model_path", "engine"])
        out(f"Using the bundled model ({config}).")
        return 0
    update_config(config, {"model_path": str(path)}, remove=["engine"])
    out(f"Using {local.name if local else path} ({config}).")
    return 0


# -------------------------------------------------------------------- rm
@models.command()
@click.argument("model", metavar="NAME")
@click.option("--yes", is_flag=True, help="Do not ask first.")
@click.pass_context
def rm(ctx: click.Context, model: str, yes: bool) -> int:
    """Remove a downloaded model (a hub model's files shared with another
    snapshot stay)."""
    from assistant.errors import ModelError, UsageError
    from assistant.llm import fit
    from assistant.llm.catalog import find_local, remove_local

    rt = runtime(ctx)
    found = find_local(model, rt.paths)
    if found is None:
        raise ModelError(f"No downloaded model called {model} (see `assistant models list`).")
    if _in_use(rt, found):
        raise UsageError(
            f"{found.name} is the model in use; `assistant models use` another one first."
        )
    if not confirm(f"Remove {found.name} ({fit.gb(found.size)})?", yes):
        raise UsageError("Nothing removed: confirm with --yes when there is no terminal to ask.")
    removed = remove_local(found)
    out(f"Removed {found.name} ({fit.gb(found.size)}, {len(removed)} files).")
    return 0
