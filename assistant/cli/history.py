"""``assistant history ...``: list, show, export, search, rename, delete."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from assistant.cli.console import out, print_json, say, write_safely
from assistant.cli.options import CONVERSATION_ID, runtime
from assistant.domain import Conversation, Role


def conversation_dict(conv: Conversation, with_messages: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": conv.id,
        "title": conv.title,
        "created_at": conv.created_at.isoformat(),
        "updated_at": conv.updated_at.isoformat(),
        "model": conv.model,
        "system_prompt": conv.system_prompt,
        "persona": conv.persona,
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
                "citations": [c.to_dict() for c in m.citations],
            }
            for m in conv.messages
        ]
    return d


def conversation_markdown(conv: Conversation) -> str:
    lines = [f"# {conv.title}", ""]
    lines.append(f"- Conversation: {conv.id}")
    lines.append(f"- Created: {conv.created_at:%Y-%m-%d %H:%M} UTC")
    if conv.model:
        lines.append(f"- Model: {conv.model}")
    if conv.system_prompt:
        lines.append(f"- System prompt: {conv.system_prompt}")
    lines.append("")
    for m in conv.messages:
        who = {Role.USER: "You", Role.ASSISTANT: "Assistant"}.get(m.role, "System")
        note = "" if m.status == "complete" else f" ({m.status})"
        lines += [f"## {who}{note}", "", m.content.rstrip(), ""]
    return "\n".join(lines).rstrip() + "\n"


@click.group()
def history() -> None:
    """List, show, search, export or delete conversations."""


@history.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N conversations.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool, limit: int | None) -> int:
    """List conversations, newest first."""
    convs = runtime(ctx).repo.list_conversations(limit=limit)
    if as_json:
        print_json([conversation_dict(c) for c in convs])
    elif not convs:
        out("No conversations yet.")
    else:
        for c in convs:
            when = f"{c.updated_at:%Y-%m-%d %H:%M}"
            out(f"{c.id:>5}  {when}  {c.message_count:>3} msgs  {c.title}")
    return 0


@history.command()
@click.argument("conversation_id", type=CONVERSATION_ID, metavar="ID")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, conversation_id: int, as_json: bool) -> int:
    """Print a conversation."""
    conv = runtime(ctx).repo.get_conversation(conversation_id)
    if as_json:
        print_json(conversation_dict(conv, with_messages=True))
    else:
        out(conversation_markdown(conv), end="")
    return 0


@history.command()
@click.argument("conversation_id", type=CONVERSATION_ID, metavar="ID")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to FILE.")
@click.pass_context
def export(ctx: click.Context, conversation_id: int, fmt: str, output: Path | None) -> int:
    """Export a conversation as Markdown or JSON."""
    from assistant.cli.console import json_text

    conv = runtime(ctx).repo.get_conversation(conversation_id)
    if fmt == "json":
        body = json_text(conversation_dict(conv, True)) + "\n"
    else:
        body = conversation_markdown(conv)
    if output is not None:
        from assistant.fileio import atomic_write_text

        atomic_write_text(output, body)
        say(f"Wrote {output}.")
    else:
        write_safely(sys.stdout, body)  # a terminal never gets raw escapes from stored text
    return 0


@history.command()
@click.argument("conversation_id", type=CONVERSATION_ID, metavar="ID")
@click.pass_context
def delete(ctx: click.Context, conversation_id: int) -> int:
    """Delete a conversation and its messages."""
    runtime(ctx).chat.delete(conversation_id)
    say(f"Deleted conversation {conversation_id}.")
    return 0


@history.command()
@click.argument("conversation_id", type=CONVERSATION_ID, metavar="ID")
@click.argument("title", nargs=-1, required=True)
@click.pass_context
def rename(ctx: click.Context, conversation_id: int, title: tuple[str, ...]) -> int:
    """Give a conversation a new title."""
    runtime(ctx).chat.rename(conversation_id, " ".join(title))
    say(f"Renamed conversation {conversation_id}.")
    return 0


@history.command()
@click.argument("query", nargs=-1, required=True)
@click.option("--limit", type=click.IntRange(min=1), default=20)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def search(ctx: click.Context, query: tuple[str, ...], limit: int, as_json: bool) -> int:
    """Full-text search over every message."""
    hits = runtime(ctx).repo.search(" ".join(query), limit=limit)
    if as_json:
        print_json([h.__dict__ for h in hits])
    elif not hits:
        out("No messages match.")
    else:
        for h in hits:
            out(f"{h.conversation_id:>5}  {h.role:<9} {h.conversation_title}: {h.snippet}")
    return 0
