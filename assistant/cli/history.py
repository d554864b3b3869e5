"""``assistant history ...``: list, show (``--tree``), search, export, import,
fork, rename, delete.

Everything here is a thin call into the chat service or the repository; the
formats themselves (Markdown with sources, JSON with every branch, the
import readers) live in ``assistant.chat.transfer`` so the UI writes the same
files.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assistant.cli.console import confirm, out, print_json, say, write_safely
from assistant.cli.options import CONVERSATION_ID, runtime
from assistant.domain import Conversation, MessageStatus, Role, status_word

if TYPE_CHECKING:
    from assistant.domain import Message, Thread

TITLE_WIDTH = 28
LINE_WIDTH = 100


def conversation_dict(conv: Conversation) -> dict[str, Any]:
    return {
        "id": conv.id,
        "uid": conv.uid,
        "title": conv.title,
        "created_at": conv.created_at.isoformat(),
        "updated_at": conv.updated_at.isoformat(),
        "model": conv.model,
        "system_prompt": conv.system_prompt,
        "persona": conv.persona,
        "use_notes": conv.use_notes,
        "memory": str(conv.memory),
        "tools": list(conv.tools) if conv.tools is not None else None,
        "message_count": conv.message_count,
    }


def fit(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` columns with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


WHO = {Role.USER: "You", Role.ASSISTANT: "Assistant", Role.SYSTEM: "System", Role.TOOL: "Tool"}


def tree_lines(conversation: Conversation, current: set[int]) -> list[str]:
    """The message tree, one line per message: ``*`` marks the current
    branch; a chain goes straight down and only a message with several
    answers or versions below it fans out (├─ / └─), so a long
    conversation does not drift to the right."""
    children: dict[int | None, list[Message]] = {}
    for m in conversation.messages:
        children.setdefault(m.parent_id, []).append(m)
    lines: list[str] = []
    roots = children.get(None, [])
    # (message, prefix for its line, connector)
    stack: list[tuple[Message, str, str]] = [
        (m, "", ("└─ " if i == len(roots) - 1 else "├─ ") if len(roots) > 1 else "")
        for i, m in reversed(list(enumerate(roots)))
    ]
    while stack:
        message, prefix, connector = stack.pop()
        mark = "*" if message.id in current else " "
        note = ""
        if message.status in (MessageStatus.STOPPED, MessageStatus.ERROR):
            note = f" ({status_word(message.status)})"
        who = WHO.get(message.role, "?")
        if message.tool_call is not None:
            who += f" {message.tool_call.name}"
        head = f"{mark} {prefix}{connector}#{message.id} {who}{note}: "
        body = message.content
        if message.tool_calls:
            body += " " + " ".join(f"[calls {c.name}]" for c in message.tool_calls)
        lines.append(head + fit(body, max(20, LINE_WIDTH - len(head))))
        below = children.get(message.id, [])
        going_on = prefix + {"├─ ": "│  ", "└─ ": "   "}.get(connector, "")
        if len(below) == 1:
            stack.append((below[0], going_on, ""))
        else:
            for i, child in reversed(list(enumerate(below))):
                stack.append((child, going_on, "└─ " if i == len(below) - 1 else "├─ "))
    return lines


@click.group()
def history() -> None:
    """List, show, search, export, import, fork, rename or delete conversations."""


@history.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N conversations.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool, limit: int | None) -> int:
    """List conversations, most recently changed first."""
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
@click.option("--json", "as_json", is_flag=True, help="The current branch as JSON.")
@click.option("--tree", is_flag=True, help="Every branch, * marking the current one.")
@click.pass_context
def show(ctx: click.Context, conversation_id: int, as_json: bool, tree: bool) -> int:
    """Print a conversation: its current branch with sources, or its tree."""
    from assistant.chat.transfer import conversation_record, thread_markdown

    rt = runtime(ctx)
    thread: Thread = rt.chat.thread(conversation_id)
    if tree:
        whole = rt.repo.get_conversation(conversation_id)
        current = {m.id for m in thread.messages}
        branches = sum(1 for ids in thread.siblings.values() if len(ids) > 1)
        if as_json:
            given = rt.chat.memories_by_uid(u for m in whole.messages for u in m.memories)
            record = conversation_record(whole, memories=given)
            record["current_branch"] = sorted(current)
            print_json(record)
            return 0
        out(
            f"Conversation {whole.id}: {whole.title} — {len(whole.messages)} messages; "
            f"* marks the current branch"
            + (f" ({branches} of its messages have other versions)" if branches else "")
        )
        for line in tree_lines(whole, current):
            out(line)
    else:
        given = rt.chat.memories_by_uid(u for m in thread.messages for u in m.memories)
        if as_json:
            print_json(conversation_record(thread.conversation, thread.messages, given))
        else:
            out(thread_markdown(thread, given), end="")
    return 0


@history.command()
@click.argument("conversation_id", type=CONVERSATION_ID, metavar="[ID]", required=False)
@click.option("--all", "everything", is_flag=True, help="Every conversation, as one JSON file.")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default=None,
              help="md: the current branch with sources; json: every branch.")  # fmt: skip
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to FILE.")
@click.pass_context
def export(
    ctx: click.Context,
    conversation_id: int | None,
    everything: bool,
    fmt: str | None,
    output: Path | None,
) -> int:
    """Export a conversation (or --all) as Markdown or JSON."""
    from assistant.errors import UsageError

    chat = runtime(ctx).chat
    if everything:
        if conversation_id is not None or fmt == "md":
            raise UsageError("--all exports every conversation as JSON; give no ID and no md.")
        body = chat.export_all_text()
    elif conversation_id is None:
        raise UsageError("Give the ID of the conversation to export, or --all.")
    else:
        body = chat.export_text(conversation_id, fmt or "md")
    if output is not None:
        from assistant.fileio import atomic_write_text

        atomic_write_text(output, body)
        say(f"Wrote {output}.")
    else:
        write_safely(sys.stdout, body)  # a terminal never gets raw escapes from stored text
    return 0


@history.command("import")
@click.argument("file", type=click.Path(path_type=Path), metavar="FILE")
@click.pass_context
def import_(ctx: click.Context, file: Path) -> int:
    """Import conversations: ChatGPT's conversations.json (or its zip),
    simonw/llm's logs.db, or an export of this app. The format is detected;
    importing the same file again adds nothing."""
    result = runtime(ctx).chat.import_file(file)
    out(result.sentence(file))
    return 0


@history.command()
@click.argument("conversation_id", type=CONVERSATION_ID, metavar="ID")
@click.argument("message_id", type=click.IntRange(min=1), metavar="[MSG_ID]", required=False)
@click.pass_context
def fork(ctx: click.Context, conversation_id: int, message_id: int | None) -> int:
    """Copy the current branch, up to MSG_ID if given, into a new conversation."""
    rt = runtime(ctx)
    copy = rt.chat.fork(conversation_id, message_id)
    count = len(rt.repo.messages(copy.id))
    out(
        f"Forked conversation {conversation_id} into {copy.id} “{copy.title}” "
        f"({count} message{'s' * (count != 1)}); continue it with `assistant ask -c {copy.id}`."
    )
    return 0


@history.command()
@click.argument("conversation_id", type=CONVERSATION_ID, metavar="ID")
@click.option("-y", "--yes", "assume_yes", is_flag=True, help="Do not ask first.")
@click.pass_context
def delete(ctx: click.Context, conversation_id: int, assume_yes: bool) -> int:
    """Delete a conversation and all its messages (asks first)."""
    from assistant.errors import UsageError

    rt = runtime(ctx)
    conversation = rt.repo.get_conversation(conversation_id, messages=False)
    question = f"Delete “{conversation.title}” ({conversation_id}) and all its messages?"
    if not confirm(question, assume_yes):
        if not sys.stdin or not sys.stdin.isatty():
            raise UsageError(
                f"Not deleted: add --yes to delete conversation {conversation_id} "
                "without a terminal to ask on."
            )
        say("Kept.")
        return 0
    rt.chat.delete(conversation_id)
    say(f"Deleted conversation {conversation_id}.")
    return 0


@history.command()
@click.argument("conversation_id", type=CONVERSATION_ID, metavar="ID")
@click.argument("title", nargs=-1, required=True)
@click.pass_context
def rename(ctx: click.Context, conversation_id: int, title: tuple[str, ...]) -> int:
    """Give a conversation a new title (its place in the list stays)."""
    runtime(ctx).chat.rename(conversation_id, " ".join(title))
    say(f"Renamed conversation {conversation_id}.")
    return 0


@history.command()
@click.argument("query", nargs=-1, required=True)
@click.option("--limit", type=click.IntRange(min=1), default=20)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def search(ctx: click.Context, query: tuple[str, ...], limit: int, as_json: bool) -> int:
    """Full-text search over every message of every branch, best first."""
    hits = runtime(ctx).repo.search(" ".join(query), limit=limit)
    if as_json:
        print_json(
            [
                {
                    "conversation_id": h.conversation_id,
                    "conversation_title": h.conversation_title,
                    "message_id": h.message_id,
                    "role": h.role,
                    "snippet": h.marked(),
                    "created_at": h.created_at.isoformat(),
                    "rank": h.rank,
                }
                for h in hits
            ]
        )
    elif not hits:
        out("No messages match.")
    else:
        for h in hits:
            head = f"{h.conversation_id:>5}  #{h.message_id:<6} {h.role:<9} "
            title = fit(h.conversation_title, TITLE_WIDTH).ljust(TITLE_WIDTH)
            width = max(20, LINE_WIDTH - len(head) - TITLE_WIDTH - 2)
            out(f"{head}{title}  {fit(h.marked(), width)}")
    return 0
