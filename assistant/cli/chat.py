"""``assistant [chat [ID]]`` opens the UI; ``assistant ask`` answers once."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import click

from assistant.cli.console import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CancelOnSigint,
    print_json,
    read_stdin_if_piped,
    say,
    stream_text,
)
from assistant.cli.options import CONVERSATION_ID, model_options, runtime

if TYPE_CHECKING:
    import threading
    from collections.abc import Sequence

    from assistant.chat.events import ChatEvent, ReplyDone, ReplyStarted
    from assistant.chat.session import ChatSession
    from assistant.domain import Citation, Memory, MemoryProposal


def open_ui(ctx: click.Context, conversation_id: int | None) -> int:
    from assistant.cli.console import enter_stays_enter

    with enter_stays_enter():  # keys typed while the UI starts are sent once it is up
        rt = runtime(ctx)
        rt.on_warning = None  # the app shows warnings itself, once its screen is up
        if conversation_id is not None:
            rt.repo.get_conversation(conversation_id, messages=False)  # fail early, clearly
        from assistant.ui.app import AssistantApp

        AssistantApp(rt, conversation_id=conversation_id).run()
    return 0


@click.command()
@click.argument("conversation_id", required=False, type=CONVERSATION_ID, metavar="[ID]")
@model_options
@click.pass_context
def chat(ctx: click.Context, conversation_id: int | None, **_options: Any) -> int:
    """Open the UI, on conversation ID if given."""
    return open_ui(ctx, conversation_id)


@click.command()
@click.argument("question", nargs=-1)
@click.option(
    "-c", "--continue", "continue_id", type=CONVERSATION_ID, metavar="ID",
    help="Continue conversation ID.",
)  # fmt: skip
@click.option(
    "--edit", "edit_id", type=click.IntRange(min=1), metavar="MSG_ID",
    help="With -c: replace your message MSG_ID by the new text and answer it (a new branch).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end.")
@click.option(
    "--notes", is_flag=True,
    help="Answer from your notes and list the sources (remembered for the conversation).",
)  # fmt: skip
@click.option("--quiet", is_flag=True, help="No progress bar if the notes are synced first.")
@click.option("--to", metavar="LANG", help="Answer in LANG (default: the question's language).")
@click.option(
    "--file", "files", multiple=True, metavar="PATH",
    help="Put a whole document into the question (repeatable); same as @PATH in the text.",
)  # fmt: skip
@click.option(
    "--tools", "tool_names", is_flag=False, flag_value="all", default=None, metavar="[NAMES]",
    help="Let the model call tools for this question: all, or --tools=search_notes,now.",
)  # fmt: skip
@click.option(
    "--allow", "allow", multiple=True, metavar="TOOL",
    help="Run TOOL without asking (repeatable); off a terminal, others that ask are refused.",
)  # fmt: skip
@click.option(
    "--memory", "memory_mode", type=click.Choice(["on", "off", "private"]), default=None,
    help="Give the reply your memories (on), not (off), or neither use nor propose them "
    "(private); remembered for the conversation.",
)  # fmt: skip
@model_options
@click.pass_context
def ask(
    ctx: click.Context,
    question: tuple[str, ...],
    continue_id: int | None,
    edit_id: int | None,
    as_json: bool,
    notes: bool,
    quiet: bool,
    to: str | None,
    files: tuple[str, ...],
    tool_names: str | None,
    allow: tuple[str, ...],
    memory_mode: str | None,
    **_options: Any,
) -> int:
    """Ask one question; the answer streams to stdout (piped stdin is appended)."""
    from assistant.errors import UsageError

    if tool_names is not None and any(c.isspace() for c in tool_names):
        # `ask --tools "what time is it"`: the words are the question, not tool names
        question, tool_names = (tool_names, *question), "all"

    if edit_id is not None and continue_id is None:
        raise UsageError(
            "--edit needs the conversation too: assistant ask -c ID --edit MSG_ID TEXT."
        )
    text = " ".join(question).strip()
    piped = read_stdin_if_piped()
    if piped.strip():
        text = f"{text}\n\n{piped.strip()}" if text else piped.strip()
    if files:
        from pathlib import Path

        from assistant.chat.attachments import mention

        for name in files:
            if not Path(name).expanduser().is_file():
                raise UsageError(f"There is no file at {name}.")
        tokens = " ".join(mention(str(Path(n).expanduser().resolve())) for n in files)
        text = f"{text}\n\n{tokens}" if text else f"Summarise {tokens}"
    if not text:
        raise UsageError("Nothing to ask: give a question or pipe text on stdin.")
    # The model loads while the settings are checked, the database opens and
    # the question is stored.
    rt = runtime(ctx, preload_model=True)
    rt.model_handle.start_loading()
    session = rt.session()
    session.answer_language = to.strip() if to and to.strip() else None
    if continue_id is not None:
        session.open(continue_id)
        follow_engine(ctx, rt, session)
    if notes:
        session.set_notes(True)  # remembered, as the app's switch is
    if memory_mode is not None:
        session.set_memory(memory_mode)  # remembered with the conversation
    # Proposed memories are asked about on a terminal; off one nothing is
    # proposed, so nothing can be kept unasked.
    session.propose_memories = on_terminal()
    if session.state.use_notes:
        from assistant.cli.notes import ensure_notes_ready

        ensure_notes_ready(rt, quiet=quiet)
    if tool_names is not None or allow:
        from assistant.tools.registry import parse_names

        session.tools_once = parse_names(tool_names) if tool_names is not None else None
        session.allowed_tools = frozenset(allow)
        for name in allow:
            if rt.tools.get(name) is None:
                raise UsageError(
                    f"There is no tool named {name} (tools: {', '.join(rt.tools.names())})."
                )
    session.approve = terminal_approver()
    if edit_id is not None:
        edited = edit_id
        return answer(session, lambda cancel: session.edit(edited, text, cancel), as_json)
    return answer(session, lambda cancel: session.send(text, cancel), as_json)


def on_terminal() -> bool:
    """A person can answer a question: stdin and stderr are a terminal."""
    import sys

    return bool(sys.stdin and sys.stdin.isatty() and sys.stderr and sys.stderr.isatty())


def follow_engine(ctx: click.Context, rt: Any, session: ChatSession) -> None:
    """A conversation continued with ``-c`` goes on with the named engine its
    replies came from, unless a model or an engine was given for this run."""
    from assistant.cli.console import say
    from assistant.cli.options import settings_overrides

    engine = session.state.engine
    if engine is None or engine == rt.current_spec().engine:
        return
    chosen = settings_overrides(ctx)
    if "model_path" in chosen or "engine" in chosen:
        return
    if engine not in rt.settings.engines:
        say(
            f"(conversation {session.state.conversation_id} used engine {engine}, "
            "which is no longer in config.toml)"
        )
        return
    rt.switch_model(rt.model_spec(engine=engine))


def terminal_approver() -> Any:
    """Ask the user on the terminal before a tool that asks first runs; None
    off a terminal (such calls are then refused, unless --allow)."""
    import sys

    if sys.stdin is None or not sys.stdin.isatty():
        return None
    from assistant.chat.tooluse import Approval, ApprovalRequest
    from assistant.cli.console import ask_choice

    def approve(request: ApprovalRequest, cancel: threading.Event) -> Approval:
        where = "" if request.tool.source == "built-in" else f" ({request.tool.source})"
        what = "run this command" if request.tool.name == "run_command" else "make this call"
        answer = ask_choice(
            f"\nThe model wants to {what}{where}:\n  {request.shown}\n"
            "Allow it? [y] once, [a] for this conversation, [N] no: ",
            {"y": "once", "a": "conversation", "n": "deny"},
            cancel,
        )
        return Approval(answer) if answer else Approval.DENY

    return approve


def _call_line(call: Any) -> str:
    if call.name == "run_command" and isinstance(call.arguments.get("command"), str):
        return f"$ {call.arguments['command']}"
    arguments = call.arguments_json()
    return f"{call.name} {arguments if len(arguments) <= 200 else arguments[:199] + '…'}"


def answer(
    session: ChatSession,
    start: Callable[[threading.Event], Generator[ChatEvent, None, None]],
    as_json: bool,
) -> int:
    """Stream one reply (``start(cancel)``'s events) to stdout; Ctrl-C keeps
    the partial reply."""
    from assistant.chat.events import (
        MemoryProposed,
        ReplyDone,
        ReplyProgress,
        ReplyStarted,
        TextPiece,
        ToolCallDone,
        ToolCallStarted,
        ToolsUnavailable,
    )
    from assistant.domain import MessageStatus
    from assistant.errors import AssistantError

    done: ReplyDone | None = None
    started: ReplyStarted | None = None
    proposed: MemoryProposed | None = None
    first: ReplyStarted | None = None
    shown = False
    line_open = False  # streamed text not yet ended by a new line
    calls: list[dict[str, Any]] = []
    with CancelOnSigint() as cancel:
        events = start(cancel)
        for warning in session.tool_warnings():
            say(warning)  # an MCP server that did not start: the chat goes on
        try:
            for event in events:
                if isinstance(event, ToolsUnavailable):
                    say(event.sentence)
                elif isinstance(event, ToolCallStarted):
                    if line_open:
                        stream_text("\n")
                        line_open = False
                    source = "" if event.source in ("built-in", "") else f" [{event.source}]"
                    say(f"→ {_call_line(event.call)}{source}")
                elif isinstance(event, ToolCallDone):
                    result = event.message
                    size = f"{len(result.content)} characters"
                    detail = size if event.outcome == "ok" else result.content.splitlines()[0]
                    say(f"← {event.call.name}: {event.outcome} ({detail})")
                    calls.append(
                        {
                            "call": event.call.to_dict(),
                            "outcome": event.outcome,
                            "message_id": result.id,
                            "result": result.content,
                            **(
                                {"sources": [c.to_dict() for c in result.citations]}
                                if result.citations
                                else {}
                            ),
                        }
                    )
                elif isinstance(event, ReplyStarted):
                    started = event
                    first = first or event
                    if event.step:
                        continue
                    notice = getattr(session.chat.handle.loaded, "fit_notice", None)
                    if notice:  # the model will not fit: say what would, once
                        say(notice)
                    plan = event.plan
                    if plan is not None and plan.dropped_turns:
                        say(
                            f"({plan.dropped_turns} earlier messages, {plan.dropped_tokens} "
                            "tokens, were left out to fit the context window)"
                        )
                elif isinstance(event, ReplyProgress) and event.phase == "read":
                    say(f"(reading part {event.part} of {event.parts} of the attached documents)")
                elif isinstance(event, TextPiece):
                    if not as_json:
                        stream_text(event.text)
                        shown = line_open = True
                elif isinstance(event, ReplyDone):
                    # Said at once: the service may go on after this event
                    # (getting the model ready for the next turn).
                    done = event
                    if first is None:  # the service always starts a reply first
                        raise RuntimeError("the reply ended before it started")
                    if not (as_json and session.propose_memories):
                        # all of the reply is shown before proposals are asked for
                        _finish(session, first, done, calls, as_json)
                elif isinstance(event, MemoryProposed):
                    proposed = event
        except AssistantError:
            # a model or server failure mid-reply: what came is stored; say where
            if shown and started is not None and done is None:
                stream_text("\n")
                say(f"(the reply so far is kept in conversation {started.conversation_id})")
            raise
        finally:
            events.close()
    if done is None or started is None or first is None:  # the service ends with ReplyDone
        raise RuntimeError("the reply ended without its final event")
    decisions = ask_about_proposals(session, proposed.proposals if proposed else ())
    if as_json and session.propose_memories:  # the JSON says what was decided
        _finish(session, first, done, calls, as_json, decisions)
    msg = done.message
    if done.warning:  # shown and stored, but the database lost its files under the reply
        say(f"assistant: {done.warning}")
        return EXIT_USAGE
    if msg.status == MessageStatus.STOPPED:
        say(f"Stopped; the partial reply is kept in conversation {msg.conversation_id}.")
        return EXIT_INTERRUPTED
    return 0


def first_message_citations(
    session: ChatSession, first: ReplyStarted, done_id: int, done_citations: list[Citation]
) -> list[Citation]:
    """The sources of the reply's first message as stored (the ones its answer
    comes from are marked once it is written), else as the reply started."""
    if done_id == first.reply_message_id:
        stored = done_citations
    else:  # a reply with tool steps: its sources are on the first step
        stored = session.chat.message(first.reply_message_id).citations
    return stored or list(first.citations)


def _finish(
    session: ChatSession,
    first: ReplyStarted,
    done: ReplyDone,
    calls: list[dict[str, Any]],
    as_json: bool,
    decisions: list[dict[str, Any]] | None = None,
) -> None:
    """The end of a reply: the JSON object (with the ``decisions`` on proposed
    memories), or the line end, notices, sources and the memories given."""
    msg, fin = done.message, done.finished
    use_notes = session.state.use_notes
    # stored with the reply: marked as used by the answer or not
    cited = first_message_citations(session, first, msg.id, msg.citations)
    if as_json:
        print_json(
            {
                "conversation_id": msg.conversation_id,
                "message_id": msg.id,
                "parent_id": msg.parent_id,
                "text": msg.content,
                "model": msg.model,
                "status": str(msg.status),
                "finish_reason": msg.finish_reason,
                "prompt_tokens": msg.prompt_tokens,
                "completion_tokens": msg.completion_tokens,
                "cached_tokens": fin.cached_tokens,
                "tokens_per_second": msg.tokens_per_second,
                "time_to_first_token_ms": msg.time_to_first_token_ms,
                "generation_ms": msg.generation_ms,
                "dropped_turns": done.plan.dropped_turns if done.plan else 0,
                **({"sources": [c.to_dict() for c in cited]} if use_notes or cited else {}),
                **({"tool_calls": calls} if calls else {}),
                "memories": [{"id": m.id, "uid": m.uid, "text": m.text} for m in first.memories],
                "memory_tokens": first.plan.memory_tokens if first.plan else 0,
                "memory_proposals": decisions or [],
            }
        )
    else:
        stream_text("\n")
        if msg.finish_reason == "length":
            say("(reply cut at the token limit)")
        if use_notes or cited:
            from assistant.cli.notes import print_sources

            print_sources(cited)
        print_memories(first.memories)


def print_memories(memories: Sequence[Memory]) -> None:
    """The memories a reply was given, on stderr (stdout stays the answer)."""
    if not memories:
        return
    from assistant.textsafe import one_line

    say("Memories given:")
    for m in memories:
        text = one_line(" ".join(m.text.split()))
        say(f"  [{m.id}] {text if len(text) <= 90 else text[:89] + '…'}")


def ask_about_proposals(
    session: ChatSession, proposals: Sequence[MemoryProposal]
) -> list[dict[str, Any]]:
    """Ask the user about each proposed memory (the session only proposes on
    a terminal) and keep what they say yes to; returns what was decided.
    Enter, Ctrl-C or the end of input is no."""
    from assistant.cli.console import CancelOnSigint, ask_choice
    from assistant.domain import ProposalKind

    decisions: list[dict[str, Any]] = []
    if not proposals:
        return decisions
    with CancelOnSigint() as cancel:
        for proposal in proposals:
            related = proposal.related
            if proposal.kind == ProposalKind.NEW or related is None:
                answer = ask_choice(
                    f"{proposal.question()} [y/N] ", {"y": "keep", "n": "no"}, cancel
                )
            else:
                answer = ask_choice(
                    f"{proposal.question()} [r] replace it, [a] add as a new memory, [N] no: ",
                    {"r": "replace", "a": "keep", "n": "no"},
                    cancel,
                )
            kept = None
            if answer in ("keep", "replace"):
                kept = session.accept_proposal(proposal, replace=answer == "replace")
                say(f"Memory {kept.id} {'replaced' if answer == 'replace' else 'kept'}.")
            decisions.append(
                {
                    "text": proposal.text,
                    "kind": str(proposal.kind),
                    "related_id": related.id if related else None,
                    "answer": {"keep": "kept", "replace": "replaced"}.get(answer or "", "declined"),
                    "memory_id": kept.id if kept else None,
                }
            )
    return decisions
