"""The ``write`` and ``prompts`` subcommands.

Only argparse is imported at module level: ``assistant --help`` builds every
parser. The original file is never touched until the whole result exists:
``--in-place`` first copies the original to ``FILE.bak`` and then replaces the
file atomically, so an error or Ctrl-C at any moment leaves the original (or,
after the swap, the backup) intact.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

BACKUP_SUFFIX = ".bak"


def register(subparsers: Any) -> None:
    from assistant.cli import add_model_options

    p = subparsers.add_parser(
        "write",
        help="run a writing action (proofread, translate, summarise...) on a file or stdin",
        description="Run a writing action on FILE (or stdin) and stream the result to stdout. "
        "See `assistant prompts list` for the actions.",
    )
    p.add_argument("action", metavar="ACTION", help="template name, e.g. proofread or translate")
    p.add_argument("file", nargs="?", metavar="FILE", help="file to read; '-' or nothing for stdin")
    p.add_argument("--to", metavar="LANG", help="target language (translate)")
    p.add_argument("--tone", metavar="TONE", help="tone: formal, casual, friendly, confident...")
    p.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a template variable (repeatable)",
    )
    p.add_argument("--persona", metavar="NAME", help="system prompt from a persona file")
    out_mode = p.add_mutually_exclusive_group()
    out_mode.add_argument(
        "--diff", action="store_true", help="print a unified diff against the input"
    )
    out_mode.add_argument(
        "--in-place",
        action="store_true",
        help=f"write the result back to FILE atomically, keeping FILE{BACKUP_SUFFIX}",
    )
    add_model_options(p)
    # `write proofread --diff notes.md`: FILE may come after the options
    p.set_defaults(func=cmd_write, late_positional="file")

    p = subparsers.add_parser("prompts", help="list or show prompt templates and personas")
    ps = p.add_subparsers(dest="prompts_action", metavar="ACTION", required=True)
    q = ps.add_parser("list", help="list templates and personas")
    q.add_argument("--json", action="store_true")
    q = ps.add_parser("show", help="show one template or persona")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_prompts)


# ------------------------------------------------------------------ helpers
def read_input_text(path: Path) -> str:
    """The file's text, or one sentence saying why it cannot be used."""
    from assistant.writing.errors import WritingError

    if not path.exists():
        raise WritingError(f"File not found: {path}.")
    if path.is_dir():
        raise WritingError(f"{path} is a folder, not a text file.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WritingError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    return decode_text(data, str(path))


def decode_text(data: bytes, label: str) -> str:
    from assistant.writing.errors import WritingError

    if b"\x00" in data[:8192]:
        raise WritingError(f"{label} looks like a binary file, not text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise WritingError(f"{label} is not UTF-8 text.") from None


def write_back(path: Path, original_bytes: bytes, new_text: str) -> Path:
    """Keep the original beside the file, then replace the file atomically."""
    from assistant.fileio import atomic_write_bytes, atomic_write_text

    backup = path.with_name(path.name + BACKUP_SUFFIX)
    atomic_write_bytes(backup, original_bytes, mode=path.stat().st_mode & 0o777)
    atomic_write_text(path, new_text)
    return backup


def _variables(args: argparse.Namespace) -> dict[str, str]:
    from assistant.writing.templates import parse_assignments

    values = parse_assignments(args.var)
    if args.to:
        values["language"] = args.to
    if args.tone:
        values["tone"] = args.tone
    return values


# ------------------------------------------------------------------ commands
def cmd_write(args: argparse.Namespace) -> int:
    from assistant.cli import EXIT_INTERRUPTED, CancelOnSigint, out, runtime_from
    from assistant.llm.base import TextPiece
    from assistant.textsafe import sanitize
    from assistant.writing.actions import ActionDone, ActionProgress, ActionRunner
    from assistant.writing.diffing import diff_texts, keep_trailing_newline
    from assistant.writing.errors import WritingError
    from assistant.writing.templates import load_library

    library = load_library()
    template = library.template(args.action)
    variables = _variables(args)
    template.resolve_values(variables)  # fail on a bad variable before loading anything
    persona = library.persona(args.persona) if args.persona else None
    if (args.diff or args.in_place) and not template.edits_text:
        flag = "--diff" if args.diff else "--in-place"
        raise WritingError(
            f"'{template.name}' writes a new text rather than editing this one, so {flag} "
            f"does not apply; use it with proofread, rewrite, translate, tone, shorten or expand."
        )
    use_stdin = args.file in (None, "-")
    if args.in_place and use_stdin:
        raise WritingError("--in-place needs a FILE to write back to.")
    path = None if use_stdin else Path(args.file)
    if path is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise WritingError("Nothing to work on: give a FILE or pipe text on stdin.")
        original_bytes = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else b""
        original = (
            decode_text(original_bytes, "standard input") if original_bytes else sys.stdin.read()
        )
        label = "stdin"
    else:
        original = read_input_text(path)
        original_bytes = path.read_bytes()
        label = str(path)
    if not original.strip():
        raise WritingError(f"{label} is empty: there is no text to work on.")

    rt = runtime_from(args)
    model = rt.model_handle.get()
    runner = ActionRunner(
        model,
        library,
        options=rt.generation_options(),
        max_tokens=args.max_tokens,
        temperature=args.temperature,
    )
    stream_out = not (args.diff or args.in_place)
    done: ActionDone | None = None
    with CancelOnSigint() as cancel:
        events = runner.run(template, original, variables, persona, cancel)
        try:
            for event in events:
                if isinstance(event, TextPiece):
                    if stream_out:
                        sys.stdout.write(sanitize(event.text))
                        sys.stdout.flush()
                elif isinstance(event, ActionProgress):
                    if event.parts > 1:
                        what = "condensing" if event.phase == "condense" else "working on"
                        out(f"({what} part {event.part} of {event.parts})", err=True)
                elif isinstance(event, ActionDone):
                    done = event
        finally:
            events.close()
    if done is None:  # the runner always ends with ActionDone; be safe anyway
        raise WritingError("The action ended without a result.")
    if stream_out and not done.text.endswith("\n"):
        sys.stdout.write("\n")
    if done.finish_reason == "cancelled":
        if path is not None and not stream_out:
            out(f"Stopped; {path} was left unchanged.", err=True)
        else:
            out("Stopped.", err=True)
        return EXIT_INTERRUPTED
    if done.empty_parts:
        parts = ", ".join(str(p) for p in done.empty_parts)
        out(f"(the model returned nothing for part {parts}; the original was kept)", err=True)
    if done.cut_parts and template.edits_text:
        parts = ", ".join(str(p) for p in done.cut_parts)
        out(f"(part {parts} was cut at the token limit)", err=True)
    elif done.cut_parts:
        out("(result cut at the token limit)", err=True)
    result = keep_trailing_newline(original, done.text) if template.edits_text else done.text
    if args.diff:
        name = label if path is None else str(path)
        sys.stdout.write(sanitize(diff_texts(original, result).unified(name, f"{name} (edited)")))
        sys.stdout.flush()
    elif args.in_place:
        assert path is not None
        if result == original:
            out(f"No changes; {path} was left as it was.", err=True)
            return 0
        backup = write_back(path, original_bytes, result)
        out(f"Wrote {path} (the original is in {backup}).", err=True)
    return 0


def template_dict(template) -> dict:  # type: ignore[no-untyped-def]
    return {
        "name": template.name,
        "description": template.description,
        "aliases": list(template.aliases),
        "source": template.source,
        "edits_text": template.edits_text,
        "long_text": template.long_text,
        "persona": template.persona,
        "argument": template.argument,
        "variables": {
            name: {
                "default": var.default,
                "description": var.description,
                "choices": list(var.choices),
            }
            for name, var in template.variables.items()
        },
        "temperature": template.temperature,
        "max_tokens": template.max_tokens,
        "system": template.system,
        "template": template.body,
    }


def cmd_prompts(args: argparse.Namespace) -> int:
    from assistant.cli import out, print_json
    from assistant.writing.errors import WritingError
    from assistant.writing.templates import load_library

    library = load_library()
    if args.prompts_action == "list":
        if args.json:
            print_json(
                {
                    "templates": [template_dict(t) for t in library.templates.values()],
                    "personas": [
                        {"name": p.name, "description": p.description, "source": p.source}
                        for p in library.personas.values()
                    ],
                }
            )
            return 0
        out("Templates (assistant write NAME):")
        for t in sorted(library.templates.values(), key=lambda t: t.name):
            aliases = f" (also: {', '.join(t.aliases)})" if t.aliases else ""
            out(f"  {t.name:<11} {t.description}{aliases}")
        out("Personas:")
        for p in sorted(library.personas.values(), key=lambda p: p.name):
            out(f"  {p.name:<11} {p.description}")
        return 0
    name = args.name
    try:
        template = library.template(name)
    except WritingError:
        if name.strip().lower() not in library.personas:
            raise WritingError(
                f"There is no template or persona called '{name}' (see `assistant prompts list`)."
            ) from None
        persona = library.persona(name)
        if args.json:
            print_json(
                {
                    "name": persona.name,
                    "description": persona.description,
                    "source": persona.source,
                    "system": persona.system,
                }
            )
        else:
            out(f"persona: {persona.name}\nfrom: {persona.source}\n{persona.description}\n")
            out(persona.system)
        return 0
    if args.json:
        print_json(template_dict(template))
        return 0
    out(f"template: {template.name}")
    out(f"from: {template.source}")
    out(template.description)
    if template.aliases:
        out(f"aliases: {', '.join(template.aliases)}")
    if template.persona:
        out(f"persona: {template.persona}")
    for var in template.variables.values():
        choices = f" [{', '.join(var.choices)}]" if var.choices else ""
        out(f"variable {var.name} = {var.default!r}{choices} {var.description}".rstrip())
    if template.system:
        out(f"\nsystem:\n{template.system.strip()}")
    out(f"\ntemplate:\n{template.body.rstrip()}")
    return 0
