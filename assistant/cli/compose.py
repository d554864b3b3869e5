"""``assistant compose KIND``: a new piece from a brief, streamed or written to a file.

The piece streams to stdout, or is written to ``-o FILE`` atomically once it
is finished (an existing file is replaced only with ``--force``, checked
before anything starts). A long piece is planned first: its outline is shown
on stderr (``--plan`` prints it and stops; ``--outline FILE`` writes from an
outline the user edited). The first Ctrl-C stops the piece and keeps what was
written in a side file (``FILE.partial``, or the drafts folder when
streaming), named on stderr; the draft is kept in the database either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assistant.cli.console import (
    EXIT_INTERRUPTED,
    CancelOnSigint,
    out,
    progress_bar,
    read_stdin_if_piped,
    say,
    stream_text,
)
from assistant.cli.options import model_options, runtime

if TYPE_CHECKING:
    from assistant.chat.compose import ComposeJob, DraftDone
    from assistant.runtime import Runtime


def _variables(
    var: tuple[str, ...], topic: str | None, length: int | None, lang: str | None
) -> dict[str, str]:
    from assistant.chat.writing import parse_assignments

    values = parse_assignments(var)
    if topic is not None:
        values["topic"] = topic
    if length is not None:
        values["length"] = str(length)
    if lang is not None:
        values["language"] = lang
    return values


def _list_kinds(rt: Runtime) -> int:
    library = rt.library()
    out("Kinds of piece (assistant compose KIND):")
    for t in sorted(library.compose.values(), key=lambda t: t.name):
        aliases = f" (also: {', '.join(t.aliases)})" if t.aliases else ""
        length = t.variables["length"].default if "length" in t.variables else "?"
        out(f"  {t.name:<13} {t.description} About {length} words by default.{aliases}")
    return 0


def side_file(rt: Runtime, output: Path | None, draft_id: int) -> Path:
    """Where a stopped piece is kept: beside ``-o FILE``, else in the drafts folder."""
    if output is not None:
        return output.with_name(output.name + ".partial")
    return rt.drafts_folder() / f"draft-{draft_id}.md"


def _figure(words: int, target: int) -> str:
    share = words / target if target else 0.0
    figure = f"{words:,} words (asked {target:,}: {share:.0%})"
    if abs(share - 1) > 0.2:
        figure += ", outside the ±20% aimed at"
    return figure


@click.command()
@click.argument("kind", required=False, metavar="KIND")
@click.option("--topic", metavar="TEXT", help="What the piece is about.")
@click.option("--length", type=click.IntRange(10, 50_000), metavar="WORDS", help="Words wanted.")
@click.option("--var", multiple=True, metavar="NAME=VALUE", help="Set a template variable.")
@click.option("--lang", metavar="LANG", help="Language to write in (default: the brief's).")
@click.option("--from-notes", "notes_query", metavar="QUERY", help="Write from your notes.")
@click.option(
    "--file", "material", type=click.Path(path_type=Path), metavar="PATH",
    help="Write from this file (meeting notes, facts...).",
)  # fmt: skip
@click.option("-o", "--output", type=click.Path(path_type=Path), metavar="FILE",
              help="Write the piece to FILE instead of stdout.")  # fmt: skip
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.option("--plan", "plan_only", is_flag=True, help="Print the outline and stop.")
@click.option(
    "--outline", "outline_file", type=click.Path(path_type=Path), metavar="FILE",
    help="Write from this outline (one numbered title per line, '(N words)' optional).",
)  # fmt: skip
@click.option("--list", "list_kinds", is_flag=True, help="List the kinds of piece.")
@model_options
@click.pass_context
def compose(
    ctx: click.Context,
    kind: str | None,
    topic: str | None,
    length: int | None,
    var: tuple[str, ...],
    lang: str | None,
    notes_query: str | None,
    material: Path | None,
    output: Path | None,
    force: bool,
    plan_only: bool,
    outline_file: Path | None,
    list_kinds: bool,
    **_options: Any,
) -> int:
    """Write a new piece of KIND (article, story, poem, email, report...) from a brief.

    The brief is --topic, the variables and any text piped on stdin. Long
    pieces are planned and written section by section."""
    from assistant.chat.compose import parse_outline
    from assistant.chat.writing import check_new_file, read_input_text
    from assistant.errors import UsageError

    if list_kinds:
        return _list_kinds(runtime(ctx))
    if not kind:
        raise UsageError("Say what to write: assistant compose KIND (--list shows the kinds).")
    if notes_query is not None and material is not None:
        raise UsageError("Use --from-notes or --file, not both.")
    if plan_only and outline_file is not None:
        raise UsageError("Use --plan or --outline, not both.")
    if output is not None and not plan_only:
        check_new_file(output, force)
    variables = _variables(var, topic, length, lang)
    piped = read_stdin_if_piped().strip()
    if piped and not variables.get("brief", "").strip():
        variables["brief"] = piped
    text = read_input_text(material) if material is not None else ""
    outline_text = read_input_text(outline_file) if outline_file is not None else None

    # No early model load: llama.cpp silences stdout and stderr of the whole
    # process while it loads, so an error found meanwhile would go unseen.
    rt = runtime(ctx)
    library = rt.library()
    library.compose_template(kind).resolve_values(variables)  # a bad name fails before loading
    if notes_query is not None:
        from assistant.cli.notes import ensure_notes_ready

        ensure_notes_ready(rt)
    service = rt.compose
    job = service.prepare(
        kind,
        variables,
        material=text,
        material_name=str(material) if material is not None else None,
        notes_query=notes_query,
    )
    for notice in job.notices:
        say(f"({notice})")
    given = parse_outline(outline_text, job.words) if outline_text is not None else None
    return _run(rt, job, given, output, force, plan_only)


def _run(
    rt: Runtime,
    job: ComposeJob,
    given: Any,
    output: Path | None,
    force: bool,
    plan_only: bool,
) -> int:
    from assistant.chat.compose import (
        DraftDone,
        SectionDone,
        SectionStarted,
        TextPiece,
        format_outline,
    )

    service = rt.compose
    with CancelOnSigint() as cancel:
        draft, plan = service.plan(job, cancel, given)
        if plan.cancelled:
            say(f"Stopped while planning; nothing was written (draft {draft.id}).")
            return EXIT_INTERRUPTED
        outline = plan.outline
        if plan_only and plan.planned_by == "single":
            say(f"A {job.words:,}-word {job.kind} fits in one reply: there is no outline to plan.")
            return 0
        if plan_only:
            out(format_outline(outline))
            say(
                "Edit the outline if you like, then write it with "
                f"`assistant compose {job.kind} ... --outline FILE`."
            )
            return 0
        sections = len(outline)
        if sections > 1:
            by = {"model": "planned", "template": "the template's", "user": "your"}
            say(f"Outline ({by.get(plan.planned_by, 'planned')}, {sections} sections):")
            for line in format_outline(outline).splitlines():
                say(f"  {line}")
        say(f"Writing {job.noun} of about {job.words:,} words in {job.language}…")
        shown: list[str] = []
        done: DraftDone | None = None
        stream = output is None
        events = service.write(draft.id, job, outline, cancel)
        try:
            with progress_bar(enabled=not stream and sections > 1) as bar:
                task = bar.add_task("", total=sections, rate="") if bar is not None else None
                for event in events:
                    if isinstance(event, TextPiece):
                        shown.append(event.text)
                        if stream:
                            stream_text(event.text)
                    elif isinstance(event, SectionStarted) and sections > 1:
                        progress = (
                            f"section {event.index} of {event.count}: {event.title} — "
                            f"{event.words_so_far:,} words so far"
                        )
                        if bar is not None and task is not None:
                            bar.update(task, description=progress, completed=event.index - 1)
                        else:
                            say(f"\n({progress})" if stream else f"({progress})")
                    elif isinstance(event, SectionDone) and bar is not None and task is not None:
                        bar.update(
                            task,
                            completed=event.index,
                            description=f"{event.words_so_far:,} words so far",
                        )
                    elif isinstance(event, DraftDone):
                        done = event
        except BaseException:
            # a second Ctrl-C or an error: keep what was shown beside the target
            if shown:
                path = side_file(rt, output, draft.id)
                _keep(path, "".join(shown))
                say(f"What was written so far is kept in {path} (and as draft {draft.id}).")
            raise
        finally:
            events.close()
    if done is None:
        raise RuntimeError("the piece ended without its final event")
    return _finish(rt, done, output, force, stream, "".join(shown))


def _keep(path: Path, text: str) -> None:
    from assistant.fileio import atomic_write_text

    atomic_write_text(path, text.rstrip() + "\n")


def _finish(
    rt: Runtime, done: DraftDone, output: Path | None, force: bool, stream: bool, text: str
) -> int:
    from assistant.chat.writing import save_new_file

    draft, result = done.draft, done.done
    if stream and text and not text.endswith("\n"):
        stream_text("\n")
    if result.finish_reason == "cancelled":
        path = side_file(rt, output, draft.id)
        _keep(path, text)
        say(
            f"Stopped after {result.sections_done} of {result.sections} sections "
            f"({result.words:,} words); what was written is kept in {path} "
            f"(and as draft {draft.id})."
        )
        return EXIT_INTERRUPTED
    if output is not None:
        from assistant.errors import WritingError

        try:
            save_new_file(output, draft.content, force=force)
        except (WritingError, OSError):
            path = side_file(rt, output, draft.id)
            _keep(path, draft.content)
            say(f"The piece is kept in {path} (and as draft {draft.id}).")
            raise
        say(f"Wrote {output}: {_figure(result.words, result.target)}.")
    else:
        say(f"({_figure(result.words, result.target)}; draft {draft.id})")
    if result.sections > 1 and not result.within_tolerance:
        say("(the model kept stopping short; try --length again or a larger model)")
    return 0
