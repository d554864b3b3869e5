"""``assistant write ACTION [FILE]`` and ``assistant prompts list|show``.

The result streams to stdout, or is shown as a diff, or is written back to
FILE (``--in-place``: the original is kept in ``FILE.bak`` and the file is
replaced atomically; on an error or Ctrl-C nothing is written).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assistant.cli.console import (
    EXIT_INTERRUPTED,
    CancelOnSigint,
    out,
    print_json,
    progress_bar,
    say,
    stream_text,
    warn,
)
from assistant.cli.options import model_options, runtime

if TYPE_CHECKING:
    from assistant.chat.writing import ActionDone, PromptLibrary, PromptTemplate
    from assistant.runtime import Runtime


def load_prompts(rt: Runtime) -> PromptLibrary:
    """The templates and personas; a user file that was skipped is a warning on stderr."""
    library = rt.library()
    for problem in library.problems:
        warn(problem)
    return library


def _read_input(file: str | None, in_place: bool) -> tuple[Path | None, str, bytes, str]:
    """(path or None for stdin, text, original bytes, label)."""
    from assistant.chat.writing import decode_text, read_input_text
    from assistant.errors import WritingError

    if file is None or file == "-":
        if in_place:
            raise WritingError("--in-place needs a FILE to write back to.")
        if sys.stdin is None or sys.stdin.isatty():
            raise WritingError("Nothing to work on: give a FILE or pipe text on stdin.")
        raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else b""
        text = decode_text(raw, "standard input") if raw else sys.stdin.read()
        return None, text, raw or text.encode("utf-8"), "stdin"
    path = Path(file)
    text = read_input_text(path)
    return path, text, path.read_bytes(), str(path)


@click.command()
@click.argument("action", metavar="ACTION")
@click.argument("file", required=False, metavar="[FILE]")
@click.option(
    "--to", metavar="LANG",
    help="Target language (translate), or the language to answer in (default: the text's).",
)  # fmt: skip
@click.option("--tone", metavar="TONE", help="Tone: formal, casual, friendly, confident...")
@click.option("--var", multiple=True, metavar="NAME=VALUE", help="Set a template variable.")
@click.option("--persona", metavar="NAME", help="System prompt from a persona file.")
@click.option("--diff", is_flag=True, help="Print a unified diff against the input.")
@click.option("--in-place", is_flag=True, help="Write the result back to FILE (keeps FILE.bak).")
@model_options
@click.pass_context
def write(
    ctx: click.Context,
    action: str,
    file: str | None,
    to: str | None,
    tone: str | None,
    var: tuple[str, ...],
    persona: str | None,
    diff: bool,
    in_place: bool,
    **_options: Any,
) -> int:
    """Run a writing action (proofread, translate, summarise...) on FILE or stdin.

    See `assistant prompts list` for the actions."""
    from assistant.chat.writing import (
        DIFF,
        IN_PLACE,
        STREAM,
        ActionDone,
        ActionProgress,
        TextPiece,
        diff_texts,
        plan_action,
        stream_action,
        writable_target,
        write_back,
    )
    from assistant.errors import UsageError, WritingError

    if diff and in_place:
        raise UsageError("Use --diff or --in-place, not both.")
    rt = runtime(ctx)
    library = load_prompts(rt)
    # every rule of the action before the input is read (the TUI checks the same)
    plan = plan_action(
        library,
        action,
        assignments=var,
        to=to,
        tone=tone,
        persona=persona,
        output=DIFF if diff else IN_PLACE if in_place else STREAM,
    )
    path, original, original_bytes, label = _read_input(file, in_place)
    request = plan.on(original, label)
    if in_place and path is not None:
        writable_target(path)  # a read-only file is refused before the model runs

    stream_out = not (diff or in_place)
    done: ActionDone | None = None
    with CancelOnSigint() as cancel, progress_bar(enabled=not stream_out) as bar:
        task = None
        events = stream_action(request, rt.action_runner(), cancel)
        try:
            for event in events:
                if isinstance(event, TextPiece):
                    if stream_out:
                        stream_text(event.text)
                elif isinstance(event, ActionProgress):
                    if event.parts > 1:
                        what = "condensing" if event.phase == "condense" else "working on"
                        if bar is None:
                            say(f"({what} part {event.part} of {event.parts})")
                        elif task is None:
                            task = bar.add_task(what, total=event.parts, rate="parts")
                        else:
                            bar.update(task, description=what, completed=event.part - 1)
                elif isinstance(event, ActionDone):
                    done = event
                    if bar is not None and task is not None:
                        bar.update(task, completed=event.parts)
        finally:
            events.close()
    if done is None:  # the runner always ends with ActionDone
        raise WritingError("The action ended without a result.")
    if stream_out and not done.text.endswith("\n"):
        stream_text("\n")
    if done.finish_reason == "cancelled":
        if path is not None and not stream_out:
            say(f"Stopped; {path} was left unchanged.")
        else:
            say("Stopped.")
        return EXIT_INTERRUPTED
    _report_parts(request.template, done)
    result = request.result(done.text)
    if diff:
        stream_text(diff_texts(original, result).unified(label, f"{label} (edited)"))
    elif in_place:
        assert path is not None  # _read_input refuses --in-place on stdin
        if result == original:
            say(f"No changes; {path} was left as it was.")
            return 0
        backup = write_back(path, original_bytes, result)
        say(f"Wrote {path} (the original is in {backup}).")
    return 0


def _report_parts(template: PromptTemplate, done: ActionDone) -> None:
    if done.empty_parts:
        parts = ", ".join(str(p) for p in done.empty_parts)
        say(f"(the model returned nothing for part {parts}; the original was kept)")
    if done.cut_parts and template.edits_text:
        parts = ", ".join(str(p) for p in done.cut_parts)
        say(f"(part {parts} was cut at the token limit)")
    elif done.cut_parts:
        say("(result cut at the token limit)")


def template_dict(template: PromptTemplate) -> dict[str, Any]:
    return {
        "name": template.name,
        "description": template.description,
        "aliases": list(template.aliases),
        "source": template.source,
        "result": template.result,
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


@click.group()
def prompts() -> None:
    """List or show prompt templates and personas."""


@prompts.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> int:
    """List templates and personas."""
    library = load_prompts(runtime(ctx))
    if as_json:
        print_json(
            {
                "templates": [template_dict(t) for t in library.templates.values()],
                "compose": [template_dict(t) for t in library.compose.values()],
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
    out("Compose (assistant compose KIND):")
    for t in sorted(library.compose.values(), key=lambda t: t.name):
        out(f"  {t.name:<12} {t.description}")
    out("Personas:")
    for p in sorted(library.personas.values(), key=lambda p: p.name):
        out(f"  {p.name:<11} {p.description}")
    return 0


@prompts.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, name: str, as_json: bool) -> int:
    """Show one template or persona."""
    from assistant.errors import WritingError

    library = load_prompts(runtime(ctx))
    template: PromptTemplate | None
    try:
        template = library.template(name)
    except WritingError:
        template = None
    if template is None:
        try:
            template = library.compose_template(name)
        except WritingError:
            template = None
    if template is None:
        if name.strip().lower() not in library.personas:
            raise WritingError(
                f"There is no template or persona called '{name}' (see `assistant prompts list`)."
            ) from None
        persona = library.persona(name)
        if as_json:
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
    if as_json:
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
