"""The ``assistant`` command: every subcommand.

Heavy imports (llama_cpp, torch, textual, sqlalchemy) live inside the functions
that need them so ``assistant --help`` stays instant. Errors a user can cause
become one sentence on stderr and exit code 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from assistant import __version__

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# Subcommand groups that live beside their feature (notes, writing); each module
# exposes ``register(subparsers)`` and keeps its own imports lazy.
EXTENSIONS = ("assistant.notes.commands", "assistant.writing.commands")


class UserError(Exception):
    """Bad input from the user: shown as one sentence, exit code 2."""


# --------------------------------------------------------------------- output
def out(text: str = "", *, end: str = "\n", err: bool = False) -> None:
    from assistant.textsafe import sanitize

    stream = sys.stderr if err else sys.stdout
    stream.write(sanitize(text) + end)
    stream.flush()


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str, indent=2) + "\n")


def runtime_from(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from assistant.runtime import Runtime

    return Runtime(
        model_path=getattr(args, "model", None),
        n_ctx=getattr(args, "n_ctx", None),
        n_threads=getattr(args, "threads", None),
        n_gpu_layers=getattr(args, "gpu_layers", None),
        temperature=getattr(args, "temperature", None),
        top_p=getattr(args, "top_p", None),
        max_tokens=getattr(args, "max_tokens", None),
        seed=getattr(args, "seed", None),
        system_prompt=getattr(args, "system", None),
    )


def parse_id(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a conversation id") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"'{value}' is not a conversation id")
    return n


# ------------------------------------------------------------------ commands
def cmd_ui(args: argparse.Namespace) -> int:
    rt = runtime_from(args)
    conversation_id = getattr(args, "conversation_id", None)
    if conversation_id is not None:
        rt.repo.get_conversation(conversation_id, messages=False)  # fail early, clearly
    from assistant.ui.app import AssistantApp

    AssistantApp(rt, conversation_id=conversation_id).run()
    return 0


def read_stdin_if_piped() -> str:
    if sys.stdin is None or sys.stdin.isatty():
        return ""
    try:
        return sys.stdin.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"Could not read standard input: {exc}.") from None


class CancelOnSigint:
    """First Ctrl-C sets a cancel flag (the reply stops and is kept); a second
    one raises KeyboardInterrupt as usual."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._old: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()

    def __enter__(self) -> threading.Event:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self.event

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def cmd_ask(args: argparse.Namespace) -> int:
    question = " ".join(args.question).strip()
    piped = read_stdin_if_piped()
    if piped.strip():
        question = f"{question}\n\n{piped.strip()}" if question else piped.strip()
    if not question:
        raise UserError("Nothing to ask: give a question or pipe text on stdin.")
    rt = runtime_from(args)
    use_notes = bool(args.notes)
    if args.continue_id is not None:
        # a conversation switched to "use my notes" (F5 in the app) keeps using them
        use_notes |= rt.repo.get_conversation(args.continue_id, messages=False).use_notes
    from assistant.chat.service import ReplyDone, ReplyStarted
    from assistant.llm.base import TextPiece
    from assistant.textsafe import sanitize

    grounding = None
    if use_notes:
        from assistant.notes.commands import notes_grounding

        grounding = notes_grounding(rt, args)
    done: ReplyDone | None = None
    started: ReplyStarted | None = None
    with CancelOnSigint() as cancel:
        events = rt.chat.send(args.continue_id, question, cancel, grounding=grounding)
        try:
            for event in events:
                if isinstance(event, ReplyStarted):
                    started = event
                    if event.plan.dropped_turns:
                        out(
                            f"({event.plan.dropped_turns} earlier messages, "
                            f"{event.plan.dropped_tokens} tokens, were left out to fit "
                            f"the context window)",
                            err=True,
                        )
                elif isinstance(event, TextPiece):
                    if not args.json:
                        sys.stdout.write(sanitize(event.text))
                        sys.stdout.flush()
                elif isinstance(event, ReplyDone):
                    done = event
        finally:
            events.close()
    assert done is not None and started is not None
    msg, fin = done.message, done.finished
    if args.notes:  # remembered, as the app's switch is
        rt.repo.set_use_notes(msg.conversation_id, True)
    if args.json:
        print_json(
            {
                "conversation_id": msg.conversation_id,
                "message_id": msg.id,
                "text": msg.content,
                "model": msg.model,
                "status": str(msg.status),
                "finish_reason": msg.finish_reason,
                "prompt_tokens": msg.prompt_tokens,
                "completion_tokens": msg.completion_tokens,
                "cached_tokens": fin.cached_tokens if fin else None,
                "tokens_per_second": msg.tokens_per_second,
                "time_to_first_token_ms": msg.time_to_first_token_ms,
                "generation_ms": msg.generation_ms,
                "dropped_turns": done.plan.dropped_turns,
                **({"sources": list(started.citations)} if use_notes else {}),
            }
        )
    else:
        sys.stdout.write("\n")
        if msg.finish_reason == "length":
            out("(reply cut at the token limit)", err=True)
        if use_notes:
            from assistant.notes.commands import print_sources

            print_sources(started.citations)
    if msg.status == "cancelled":
        out(f"Stopped; the partial reply is kept in conversation {msg.conversation_id}.", err=True)
        return EXIT_INTERRUPTED
    return 0


def conversation_dict(conv, with_messages: bool = False) -> dict:  # type: ignore[no-untyped-def]
    d: dict[str, Any] = {
        "id": conv.id,
        "title": conv.title,
        "created_at": conv.created_at.isoformat(),
        "updated_at": conv.updated_at.isoformat(),
        "model": conv.model,
        "system_prompt": conv.system_prompt,
        "use_notes": conv.use_notes,
        "message_count": conv.message_count,
    }
    if with_messages:
        d["messages"] = [
            {
                "id": m.id,
                "role": str(m.role),
                "content": m.content,
                "status": str(m.status),
                "created_at": m.created_at.isoformat(),
                "model": m.model,
                "prompt_tokens": m.prompt_tokens,
                "completion_tokens": m.completion_tokens,
                "tokens_per_second": m.tokens_per_second,
                "time_to_first_token_ms": m.time_to_first_token_ms,
                "generation_ms": m.generation_ms,
                "finish_reason": m.finish_reason,
                "error": m.error,
                "citations": m.citations,
            }
            for m in conv.messages
        ]
    return d


def conversation_markdown(conv) -> str:  # type: ignore[no-untyped-def]
    lines = [f"# {conv.title}", ""]
    lines.append(f"- Conversation: {conv.id}")
    lines.append(f"- Created: {conv.created_at:%Y-%m-%d %H:%M} UTC")
    if conv.model:
        lines.append(f"- Model: {conv.model}")
    if conv.system_prompt:
        lines.append(f"- System prompt: {conv.system_prompt}")
    lines.append("")
    for m in conv.messages:
        who = "You" if m.role == "user" else ("Assistant" if m.role == "assistant" else "System")
        note = "" if m.status == "complete" else f" ({m.status})"
        lines += [f"## {who}{note}", "", m.content.rstrip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def cmd_history(args: argparse.Namespace) -> int:
    rt = runtime_from(args)
    repo = rt.repo
    action = args.history_action
    if action == "list":
        convs = repo.list_conversations(limit=args.limit)
        if args.json:
            print_json([conversation_dict(c) for c in convs])
        elif not convs:
            out("No conversations yet.")
        else:
            for c in convs:
                when = f"{c.updated_at:%Y-%m-%d %H:%M}"
                out(f"{c.id:>5}  {when}  {c.message_count:>3} msgs  {c.title}")
    elif action == "show":
        conv = repo.get_conversation(args.id)
        if args.json:
            print_json(conversation_dict(conv, with_messages=True))
        else:
            out(conversation_markdown(conv), end="")
    elif action == "export":
        conv = repo.get_conversation(args.id)
        if args.format == "json":
            body = json.dumps(conversation_dict(conv, True), ensure_ascii=False, indent=2) + "\n"
        else:
            body = conversation_markdown(conv)
        if args.output:
            from assistant.fileio import atomic_write_text

            atomic_write_text(Path(args.output), body)
            out(f"Wrote {args.output}.", err=True)
        elif sys.stdout.isatty():
            out(body, end="")  # a terminal never gets raw escapes from stored text
        else:
            sys.stdout.write(body)  # redirected: the user's text, byte for byte
    elif action == "delete":
        repo.delete_conversation(args.id)
        out(f"Deleted conversation {args.id}.", err=True)
    elif action == "rename":
        repo.rename(args.id, " ".join(args.title))
        out(f"Renamed conversation {args.id}.", err=True)
    elif action == "search":
        hits = repo.search(" ".join(args.query), limit=args.limit)
        if args.json:
            print_json([h.__dict__ for h in hits])
        elif not hits:
            out("No messages match.")
        else:
            for h in hits:
                out(f"{h.conversation_id:>5}  {h.role:<9} {h.conversation_title}: {h.snippet}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    rt = runtime_from(args)
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
    report["context"] = s.n_ctx
    problems = 0
    if s.base_url:
        report["model"] = {"server": s.base_url, "name": s.remote_model}
    else:
        from assistant.llm.base import ModelError
        from assistant.llm.catalog import resolve_model_path

        try:
            path = resolve_model_path(s.model_path, rt.paths)
            report["model"] = {"path": str(path), "size_mb": round(path.stat().st_size / 2**20, 1)}
        except ModelError as exc:
            report["model"] = {"error": str(exc)}
            problems += 1
    try:
        from sqlalchemy import text

        from assistant.store.migrate import current_revision, head_revision

        stats = rt.repo.stats()
        with rt.db.engine.connect() as conn:
            check = conn.execute(text("PRAGMA quick_check")).scalar()
            mode = conn.execute(text("PRAGMA journal_mode")).scalar()
        report["database"] = {
            "path": str(rt.db.path),
            "schema": current_revision(rt.db.engine),
            "schema_head": head_revision(),
            "journal_mode": mode,
            "integrity": check,
            **stats,
        }
        problems += check != "ok"
    except Exception as exc:  # doctor reports, it does not crash
        report["database"] = {"error": str(exc)}
        problems += 1
    if args.json:
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


def set_config_value(config_file: Path, key: str, value: str) -> None:
    """Set one string key in config.toml, keeping every other line as it is."""
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


def cmd_models(args: argparse.Namespace) -> int:
    from assistant.llm import download
    from assistant.paths import app_paths

    paths = app_paths()
    if args.models_action == "pull":

        def show(p: download.Progress) -> None:
            if sys.stderr.isatty():
                total = f" of {p.total / 2**20:.0f}" if p.total else ""
                sys.stderr.write(f"\r{p.done / 2**20:.0f}{total} MB")
                sys.stderr.flush()

        with CancelOnSigint() as cancel:
            path = download.pull(
                args.source,
                paths.models,
                name=args.name,
                sha256=args.sha256,
                progress=show,
                cancel=cancel,
            )
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        out(f"Downloaded {path}.")
        if args.use:
            set_config_value(paths.config_file, "model_path", str(path))
            out(f"It is now the model in use ({paths.config_file}).")
    elif args.models_action == "list":
        from assistant.config import load_settings

        current = load_settings().model_path
        rows = [
            {
                "name": p.name,
                "path": str(p),
                "size_mb": round(p.stat().st_size / 2**20, 1),
                "in_use": (current is not None and Path(current) == p)
                or (current is None and p.name == "gemma-3-270m-q4_k_m.gguf"),
            }
            for p in download.installed_models(paths.models)
        ]
        if args.json:
            print_json({"models": rows, "known": download.KNOWN_MODELS})
        else:
            for r in rows:
                mark = "*" if r["in_use"] else " "
                out(f"{mark} {r['name']}  {r['size_mb']} MB")
            if not rows:
                out("No models in the cache yet; the bundled one is assembled on first use.")
            out("Known names for `models pull`: " + ", ".join(download.KNOWN_MODELS))
    elif args.models_action == "use":
        from assistant.llm.catalog import check_gguf

        candidate = Path(args.model).expanduser()
        if not candidate.exists() and (paths.models / args.model).exists():
            candidate = paths.models / args.model
        path = check_gguf(candidate).resolve()
        set_config_value(paths.config_file, "model_path", str(path))
        out(f"Using {path} ({paths.config_file}).")
    return 0


# -------------------------------------------------------------------- parser
def add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model options (override the config file and ASSISTANT_* variables)")
    g.add_argument("--model", type=Path, metavar="PATH", help="GGUF file to use")
    g.add_argument("--n-ctx", type=int, metavar="N", help="context window in tokens")
    g.add_argument("--threads", type=int, metavar="N", help="CPU threads")
    g.add_argument("--gpu-layers", type=int, metavar="N", help="layers to offload (-1 = all)")
    g.add_argument("--temperature", type=float, metavar="T")
    g.add_argument("--top-p", type=float, metavar="P")
    g.add_argument("--max-tokens", type=int, metavar="N")
    g.add_argument("--seed", type=int, metavar="N")
    g.add_argument("--system", metavar="TEXT", help="system prompt for new conversations")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="A local-first AI assistant for the terminal. With no command, opens the UI.",
    )
    parser.add_argument("--version", action="version", version=f"assistant {__version__}")
    add_model_options(parser)
    parser.set_defaults(func=cmd_ui)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("chat", help="open the UI, optionally on a conversation")
    p.add_argument("conversation_id", nargs="?", type=parse_id, metavar="ID")
    add_model_options(p)
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser("ask", help="ask one question; the answer streams to stdout")
    p.add_argument("question", nargs="*", help="the question (piped stdin is appended)")
    p.add_argument(
        "-c",
        "--continue",
        dest="continue_id",
        type=parse_id,
        metavar="ID",
        help="continue conversation ID",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.add_argument(
        "--notes",
        action="store_true",
        help="answer from your notes and list the sources (remembered for the conversation)",
    )
    add_model_options(p)
    p.set_defaults(func=cmd_ask)

    h = sub.add_parser("history", help="list, show, search, export or delete conversations")
    hs = h.add_subparsers(dest="history_action", metavar="ACTION", required=True)
    p = hs.add_parser("list", help="list conversations, newest first")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=None)
    p = hs.add_parser("show", help="print a conversation")
    p.add_argument("id", type=parse_id)
    p.add_argument("--json", action="store_true")
    p = hs.add_parser("export", help="export a conversation as Markdown or JSON")
    p.add_argument("id", type=parse_id)
    p.add_argument("--format", choices=("md", "json"), default="md")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p = hs.add_parser("delete", help="delete a conversation and its messages")
    p.add_argument("id", type=parse_id)
    p = hs.add_parser("rename", help="give a conversation a new title")
    p.add_argument("id", type=parse_id)
    p.add_argument("title", nargs="+")
    p = hs.add_parser("search", help="full-text search over every message")
    p.add_argument("query", nargs="+")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    h.set_defaults(func=cmd_history)

    p = sub.add_parser("doctor", help="versions, paths, model, GPU offload, database status")
    p.add_argument("--json", action="store_true")
    add_model_options(p)
    p.set_defaults(func=cmd_doctor)

    m = sub.add_parser("models", help="download, list and choose GGUF models")
    ms = m.add_subparsers(dest="models_action", metavar="ACTION", required=True)
    p = ms.add_parser("pull", help="download a GGUF (URL or known name), resumable")
    p.add_argument("source", metavar="URL|NAME")
    p.add_argument("--sha256", help="expected checksum; the file is deleted on mismatch")
    p.add_argument("--name", help="file name to save as")
    p.add_argument("--use", action="store_true", help="make it the model in use")
    p = ms.add_parser("list", help="models in the cache folder")
    p.add_argument("--json", action="store_true")
    p = ms.add_parser("use", help="set the model in use (a path or a file in the cache)")
    p.add_argument("model", metavar="PATH|NAME")
    m.set_defaults(func=cmd_models)

    for name in EXTENSIONS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise
            continue
        module.register(sub)
    return parser


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message is already a sentence for the user."""
    from assistant.config import ConfigError

    kinds: list[type[BaseException]] = [UserError, ConfigError]
    if "assistant.llm.base" in sys.modules:
        kinds.append(sys.modules["assistant.llm.base"].ModelError)
    if "assistant.store.database" in sys.modules:
        kinds.append(sys.modules["assistant.store.database"].DatabaseError)
    if "assistant.store.repository" in sys.modules:
        kinds.append(sys.modules["assistant.store.repository"].NotFound)
    for mod in ("assistant.notes.errors", "assistant.writing.errors"):
        if mod in sys.modules:
            kinds.extend(getattr(sys.modules[mod], "USER_ERRORS", ()))
    return tuple(kinds)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    late = getattr(args, "late_positional", None)
    # argparse binds an optional positional as soon as an option follows the
    # one before it; a command may name the positional that can come last.
    if (
        extra
        and late
        and getattr(args, late) is None
        and len(extra) == 1
        and not (extra[0].startswith("-") and extra[0] != "-")
    ):
        setattr(args, late, extra[0])
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        out("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (e.g. `| head`); nothing to report
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:
        if isinstance(exc, user_errors()):
            out(f"assistant: {exc}", err=True)
            return EXIT_USAGE
        if isinstance(exc, OSError):
            out(
                f"assistant: {exc.strerror or exc} ({getattr(exc, 'filename', '') or ''}).",
                err=True,
            )
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
