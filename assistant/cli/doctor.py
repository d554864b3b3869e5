"""``assistant doctor``: versions, paths, model, GPU offload, database status."""

from __future__ import annotations

from typing import Any

import click

from assistant import __version__
from assistant.cli.console import out, print_json
from assistant.cli.options import model_options, runtime


@click.command()
@click.option("--json", "as_json", is_flag=True)
@model_options
@click.pass_context
def doctor(ctx: click.Context, as_json: bool, **_options: Any) -> int:
    """Versions, paths, model, GPU offload, threads, database status (exit 1 on a problem)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from assistant.errors import ModelError

    rt = runtime(ctx)
    rt.on_warning = None  # the report says it, once
    s = rt.settings
    report: dict[str, Any] = {"assistant": __version__, "python": platform.python_version()}
    for pkg in ("llama-cpp-python", "textual", "sqlalchemy", "sentence-transformers", "faiss-cpu"):
        try:
            report[pkg] = version(pkg)
        except PackageNotFoundError:
            report[pkg] = "not installed"
    report["paths"] = {
        "data": str(rt.paths.data),
        "config": str(rt.paths.config),
        "cache": str(rt.paths.cache),
        "config_file": f"{rt.paths.config_file} "
        + ("(present)" if rt.paths.config_file.exists() else "(absent, defaults in use)"),
    }
    from assistant.llm.llama import gpu_offload_supported, physical_cores

    gpu = gpu_offload_supported()
    report["gpu_offload"] = "available" if gpu else "not available (CPU build)"
    report["gpu_layers"] = s.n_gpu_layers if s.n_gpu_layers is not None else (-1 if gpu else 0)
    report["threads"] = s.n_threads or physical_cores()
    report["context"] = s.n_ctx or "largest that fits, up to the model's trained length"
    problems = 0
    # engines: where they are and which variable holds the key; never the key itself
    report["engines"] = {
        name: {
            "base_url": e.base_url,
            "model": e.model or "(first listed)",
            "api_key": (
                f"from ${e.api_key_env} ({'set' if e.api_key() else 'not set'})"
                if e.api_key_env
                else "none"
            ),
            **({"error": e.problem(name)} if e.problem(name) else {}),
        }
        for name, e in sorted(s.engines.items())
    } or "none"
    problems += sum(1 for name, e in s.engines.items() if e.problem(name))
    if s.embedding_engine:
        report["notes_embeddings"] = f"engine {s.embedding_engine}"
    if s.engine:
        engine = s.engine_settings(s.engine)
        report["model"] = {"engine": s.engine, "server": engine.base_url, "name": engine.model}
    elif s.base_url:
        report["model"] = {"server": s.base_url, "name": s.remote_model}
    else:
        from assistant.llm.catalog import resolve_model_path

        try:
            path = resolve_model_path(s.model_path, rt.paths)
            report["model"] = {"path": str(path), "size_mb": round(path.stat().st_size / 2**20, 1)}
        except ModelError as exc:
            report["model"] = {"error": str(exc)}
            problems += 1
        except OSError as exc:  # e.g. a read-only or full cache folder
            from assistant.crashlog import describe_os_error

            report["model"] = {"error": describe_os_error(exc)}
            problems += 1
    report["database"], bad = database_report(rt)
    problems += bad
    if as_json:
        print_json(report)
    else:
        for key, value in report.items():
            if isinstance(value, dict):
                out(f"{key}:")
                for k, v in value.items():
                    out(f"  {k}: {v}")
            else:
                out(f"{key}: {value}")
    return 1 if problems else 0


def database_report(rt: Any) -> tuple[dict[str, Any], int]:
    """The database's state, and 1 when something is wrong with it. Every
    problem is one sentence (never SQLAlchemy's text)."""
    import errno

    from assistant.crashlog import describe_error
    from assistant.errors import AssistantError

    try:
        from sqlalchemy import text

        from assistant.store.database import disk_full
        from assistant.store.migrate import current_revision, head_revision

        db = rt.db
        damage = db.damage or db.check(force=True)  # doctor always looks
        with db.reader() as s:  # a snapshot: doctor answers beside a long writer too
            mode = s.execute(text("PRAGMA journal_mode")).scalar()
        report: dict[str, Any] = {
            "path": str(db.path),
            "schema": current_revision(db.engine),
            "schema_head": head_revision(),
            "journal_mode": mode,
            "integrity": "damaged" if damage else "ok",
        }
        problems = 0
        if db.read_only:
            report["writable"] = f"no: {db.read_only}"
            problems = 1
        elif disk_full(db.path):
            from assistant.crashlog import describe_os_error

            full = OSError(errno.ENOSPC, "full", str(db.path.parent))
            report["writable"] = f"no: {describe_os_error(full)}"
            problems = 1
        if damage:
            report["error"] = damage
            return report, 1
        report.update(rt.repo.stats())
    except AssistantError as exc:
        return {"path": str(rt.paths.database), "error": str(exc)}, 1
    except Exception as exc:  # doctor reports, it does not crash
        return {"path": str(rt.paths.database), "error": describe_error(exc)}, 1
    return report, problems
