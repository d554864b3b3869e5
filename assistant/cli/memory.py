"""``assistant memory ...``: add, list, show, edit, rm, export, import, on, off.

A thin shell over ``assistant.chat.memory``: what a memory is, how it is
checked, stored and purged lives there; this module parses, asks and prints
(memories come from outside, so they are shown with their controls made
visible).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assistant.cli.console import confirm, out, print_json, say, write_safely
from assistant.cli.options import MEMORY_ID, runtime

if TYPE_CHECKING:
    from assistant.domain import Memory

LINE_WIDTH = 100


def memory_dict(memory: Memory) -> dict[str, Any]:
    return {
        "id": memory.id,
        "uid": memory.uid,
        "text": memory.text,
        "source": str(memory.source),
        "conversation_id": memory.conversation_id,
        "message_id": memory.message_id,
        "created_at": memory.created_at.isoformat(),
        "updated_at": memory.updated_at.isoformat(),
        "last_used_at": memory.last_used_at.isoformat() if memory.last_used_at else None,
    }


def origin(memory: Memory) -> str:
    """Where a memory came from, in words."""
    if str(memory.source) == "proposed":
        where = "proposed by the model and kept on your yes"
        if memory.conversation_id is not None:
            where += f", from conversation {memory.conversation_id}"
            if memory.message_id is not None:
                where += f" (your message {memory.message_id})"
        return where
    where = "typed by you"
    if memory.conversation_id is not None:
        where += f" in conversation {memory.conversation_id}"
    return where


def _one_line(text: str, width: int) -> str:
    from assistant.textsafe import one_line

    text = one_line(" ".join(text.split()))
    return text if len(text) <= width else text[: width - 1] + "…"


def _memory_off_note(rt: Any) -> None:
    if not rt.settings.memory:
        say("(memory is off: replies are given none; `assistant memory on` turns it back on)")


def _text(words: tuple[str, ...]) -> str:
    """The memory's text from the arguments, or from piped stdin."""
    from assistant.cli.console import read_stdin_if_piped

    text = " ".join(words)
    if not text.strip():
        text = read_stdin_if_piped()
    return text


@click.group()
def memory() -> None:
    """What the assistant keeps about you: add, list, show, edit, rm, export, import."""


@memory.command()
@click.argument("text", nargs=-1)
@click.pass_context
def add(ctx: click.Context, text: tuple[str, ...]) -> int:
    """Keep TEXT (one short fact about you) for later conversations."""
    from assistant.textsafe import has_control

    rt = runtime(ctx)
    kept, created = rt.memory.add(_text(text))
    if not created:
        say(f"Memory {kept.id} already says that; nothing was added.")
        return 0
    note = " (its control characters are shown as ^[ and never reach the terminal)"
    say(f"Remembered as memory {kept.id}." + (note if has_control(kept.text) else ""))
    _memory_off_note(rt)
    return 0


@memory.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="The newest N only.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool, limit: int | None) -> int:
    """List memories, oldest first (--limit N: the newest N)."""
    rt = runtime(ctx)
    service = rt.memory
    if limit is not None:
        memories = list(reversed(service.repo.list_memories(limit, newest_first=True)))
    else:
        memories = service.list_memories()
    if as_json:
        print_json([memory_dict(m) for m in memories])
        return 0
    if not memories:
        out('No memories yet: `assistant memory add "I am vegetarian."` keeps one.')
    for m in memories:
        head = f"{m.id:>5}  {m.updated_at:%Y-%m-%d}  "
        out(head + _one_line(m.text, LINE_WIDTH - len(head)))
    total = service.count()
    if limit is not None and total > len(memories):
        say(f"({len(memories)} of {total:,} memories; leave out --limit to list them all)")
    _memory_off_note(rt)
    return 0


@memory.command()
@click.argument("memory_id", type=MEMORY_ID, metavar="ID")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, memory_id: int, as_json: bool) -> int:
    """Show a memory: its text, where it came from, when it was made and last used."""
    m = runtime(ctx).memory.get(memory_id)
    if as_json:
        print_json(memory_dict(m))
        return 0
    out(f"Memory {m.id}: {m.text}")
    out(f"  from:      {origin(m)}")
    out(f"  made:      {m.created_at:%Y-%m-%d %H:%M} UTC")
    if m.updated_at != m.created_at:
        out(f"  changed:   {m.updated_at:%Y-%m-%d %H:%M} UTC")
    used = f"{m.last_used_at:%Y-%m-%d %H:%M} UTC" if m.last_used_at else "never yet"
    out(f"  last used: {used}")
    return 0


@memory.command()
@click.argument("memory_id", type=MEMORY_ID, metavar="ID")
@click.argument("text", nargs=-1)
@click.pass_context
def edit(ctx: click.Context, memory_id: int, text: tuple[str, ...]) -> int:
    """Give memory ID new TEXT (without TEXT, on a terminal: in $EDITOR)."""
    from assistant.errors import UsageError

    service = runtime(ctx).memory
    current = service.get(memory_id)
    new = _text(text)
    if not new.strip():
        if not (sys.stdin and sys.stdin.isatty()):
            raise UsageError(
                f"Give the new text: assistant memory edit {memory_id} TEXT (or run it on a "
                "terminal to edit it in $EDITOR)."
            )
        edited = click.edit(current.text + "\n", require_save=True)
        if edited is None:
            say(f"Memory {memory_id} is unchanged.")
            return 0
        new = edited
    if new.strip() == current.text:
        say(f"Memory {memory_id} is unchanged.")
        return 0
    service.edit(memory_id, new)
    say(f"Memory {memory_id} changed; its old text is gone from the database.")
    return 0


@memory.command()
@click.argument("memory_ids", nargs=-1, required=True, type=MEMORY_ID, metavar="ID...")
@click.option("-y", "--yes", "assume_yes", is_flag=True, help="Do not ask first.")
@click.pass_context
def rm(ctx: click.Context, memory_ids: tuple[int, ...], assume_yes: bool) -> int:
    """Delete memories: their text leaves the database and its index (asks first)."""
    from assistant.errors import UsageError

    service = runtime(ctx).memory
    ids = list(dict.fromkeys(memory_ids))
    found = [service.get(i) for i in ids]  # an unknown number fails here, before asking
    if len(found) == 1:
        question = f"Delete memory {found[0].id} (“{_one_line(found[0].text, 60)}”)?"
    else:
        question = f"Delete {len(found)} memories ({', '.join(str(i) for i in ids)})?"
    if not confirm(question, assume_yes):
        if not sys.stdin or not sys.stdin.isatty():
            raise UsageError(
                "Not deleted: add --yes to delete memories without a terminal to ask on."
            )
        say("Kept.")
        return 0
    gone = service.remove(ids)
    say(f"Deleted {gone} memor{'y' if gone == 1 else 'ies'}.")
    return 0


@memory.command()
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to FILE.")
@click.pass_context
def export(ctx: click.Context, output: Path | None) -> int:
    """Every memory as JSON (`assistant memory import` reads it back)."""
    from assistant.chat.transfer import dumps, memories_record

    rt = runtime(ctx)
    memories = rt.memory.list_memories()
    ids = {m.conversation_id for m in memories if m.conversation_id is not None}
    uids = {}
    for conversation_id in ids:
        uids[conversation_id] = rt.repo.get_conversation(conversation_id, messages=False).uid
    body = dumps(memories_record(memories, uids)) + "\n"
    if output is not None:
        from assistant.fileio import atomic_write_text

        atomic_write_text(output, body)
        say(f"Wrote {len(memories)} memor{'y' if len(memories) == 1 else 'ies'} to {output}.")
    else:
        write_safely(sys.stdout, body)
    return 0


@memory.command("import")
@click.argument("file", type=click.Path(path_type=Path), metavar="FILE")
@click.pass_context
def import_(ctx: click.Context, file: Path) -> int:
    """Import memories: a `memory export`, a `history export --all`, or a
    text file with one memory per line. Importing again adds nothing."""
    from assistant.chat.memory import FEW
    from assistant.errors import AssistantError

    service = runtime(ctx).memory
    added, skipped = service.import_file(file)
    sentence = f"Imported {added} memor{'y' if added == 1 else 'ies'} from {file}"
    if skipped:
        sentence += f"; {skipped} already here, skipped"
    out(sentence + ".")
    if added and service.count() > FEW:
        # many memories are chosen by meaning: their vectors are made now,
        # not during the next reply
        say(
            "(making the memories' vectors now rather than during a reply: a few seconds, "
            "longer the first time the embedding model is prepared)"
        )
        try:
            service.embed_missing()
        except AssistantError as exc:
            say(f"(their vectors will be made when a reply needs them: {exc})")
    return 0


@memory.command()
@click.pass_context
def on(ctx: click.Context) -> int:
    """Turn memory on: replies are given your memories again (config.toml)."""
    return _switch(ctx, True)


@memory.command()
@click.pass_context
def off(ctx: click.Context) -> int:
    """Turn memory off everywhere: none given, none proposed; they stay stored."""
    return _switch(ctx, False)


def _switch(ctx: click.Context, on: bool) -> int:
    config = runtime(ctx).set_memory(on)
    state = "on" if on else "off (your memories stay stored; `assistant memory on` undoes it)"
    say(f"Memory is {state}; written to {config}.")
    return 0
