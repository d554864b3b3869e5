"""The ``assistant`` command: a thin shell over the application layer.

The root group is lazy: each command group lives in its own module and is
imported only when it runs, so ``assistant --help`` loads neither llama.cpp
nor SQLAlchemy nor pydantic. ``main`` turns every outcome into an exit code:
0 done, 2 for a mistake the user can fix (one sentence on stderr), 130 for
Ctrl-C, 1 for a bug (one sentence naming the crash log that holds the
traceback).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from assistant import __version__
from assistant.cli.console import (
    EXIT_CRASH,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    already_warned,
    forget_warnings,
    say,
    silence_stdout,
)
from assistant.cli.options import model_options

# name -> (module, attribute, one line of help shown by `assistant --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "chat": ("assistant.cli.chat", "chat", "Open the UI, optionally on a conversation."),
    "ask": ("assistant.cli.chat", "ask", "Ask one question; the answer streams to stdout."),
    "history": (
        "assistant.cli.history",
        "history",
        "List, show, search, export or delete conversations.",
    ),
    "notes": ("assistant.cli.notes", "notes", "Index folders of notes and search them."),
    "memory": (
        "assistant.cli.memory",
        "memory",
        "What the assistant keeps about you: add, list, show, edit, rm, export, import.",
    ),
    "write": ("assistant.cli.write", "write", "Run a writing action on a file or stdin."),
    "compose": (
        "assistant.cli.compose",
        "compose",
        "Write a new piece (article, story, email...) from a brief.",
    ),
    "prompts": ("assistant.cli.write", "prompts", "List or show prompt templates and personas."),
    "models": ("assistant.cli.models", "models", "Download, list and choose models."),
    "cmd": ("assistant.cli.cmd", "cmd", "Propose a shell command; run, explain or copy it."),
    "tools": ("assistant.cli.tools", "tools", "List the tools a model may call."),
    "mcp": ("assistant.cli.mcp", "mcp", "Serve your notes and history to other agents over MCP."),
    "doctor": (
        "assistant.cli.doctor",
        "doctor",
        "Versions, paths, model, GPU offload, database status.",
    ),
}


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs (or its help is asked)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        import importlib

        command: click.Command = getattr(importlib.import_module(entry[0]), entry[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_text) for name, (_, _, help_text) in COMMANDS.items()])


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(
    __version__, "--version", prog_name="assistant", message="%(prog)s %(version)s"
)
@model_options
@click.pass_context
def cli(ctx: click.Context, **_options: Any) -> None:
    """A local-first AI assistant for the terminal. With no command, opens the UI."""
    if ctx.invoked_subcommand is None:
        from assistant.cli.chat import open_ui

        open_ui(ctx, None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (never raises for user errors)."""
    from assistant.crashlog import crash_sentence, describe_os_error, is_environment_error
    from assistant.errors import AssistantError

    forget_warnings()
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="assistant",
            standalone_mode=False,
        )
        return result if isinstance(result, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort):
        say("Stopped.")
        return EXIT_INTERRUPTED
    except AssistantError as exc:
        if not already_warned(str(exc)):  # a damaged database is said once
            say(f"assistant: {exc}")
        return EXIT_USAGE
    except BrokenPipeError:
        silence_stdout()
        return 0
    except OSError as exc:  # a full disk, a read-only folder...: the user can act on it
        say(f"assistant: {describe_os_error(exc)}")
        return EXIT_USAGE if is_environment_error(exc) else EXIT_CRASH
    except Exception as exc:
        say(f"assistant: {crash_sentence(exc)}")
        return EXIT_CRASH


def run() -> None:
    """The console script's entry point.

    When the command is done, everything is stored (committed) and written;
    the interpreter's own teardown would then spend about 0.2 s freeing a
    loaded model and thousands of objects the OS reclaims at once anyway, so
    the process ends without it. When the command is the UI (no command
    given), an Enter typed ahead stays an Enter from here on (see
    ``enter_stays_enter``)."""
    from assistant.cli.console import enter_stays_enter

    opens_ui = not any(arg in cli.commands for arg in sys.argv[1:])
    if opens_ui:
        with enter_stays_enter():
            code = main()
    else:
        code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)
