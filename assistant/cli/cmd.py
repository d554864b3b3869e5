"""``assistant cmd "..."``: a shell command proposed, then run, explained,
copied or dropped, as the user says. It never runs unasked: off a terminal
the command is only printed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from typing import Any

import click

from assistant.cli.console import (
    CancelOnSigint,
    ask_choice,
    out,
    print_json,
    say,
    stream_text,
)
from assistant.cli.options import model_options, runtime
from assistant.textsafe import sanitize


@click.command()
@click.argument("request", nargs=-1)
@click.option("--explain", is_flag=True, help="Explain the command as well.")
@click.option("--json", "as_json", is_flag=True, help="Print the command as JSON; never run.")
@model_options
@click.pass_context
def cmd(
    ctx: click.Context, request: tuple[str, ...], explain: bool, as_json: bool, **_options: Any
) -> int:
    """Propose one shell command for REQUEST; on a terminal, run, explain,
    copy or drop it (nothing runs unless you say so)."""
    from assistant.chat.shellcmd import explain_command, propose_command, surroundings

    rt = runtime(ctx, preload_model=True)
    where = surroundings()
    options = rt.generation_options()
    with CancelOnSigint() as cancel:
        command = propose_command(rt.model_handle.get(), " ".join(request), where, options, cancel)
        if as_json:
            print_json({"command": command, "shell": where.shell, "system": where.system})
            return 0
        out(sanitize(command))
        if explain:
            _explain(explain_command(rt.model_handle.get(), command, where, options, cancel))
        choices = {"r": "run", "e": "explain", "c": "copy", "d": "drop"}
        while True:
            answer = ask_choice("[r]un, [e]xplain, [c]opy, [D]rop? ", choices, cancel)
            if answer is None or answer == "drop":
                return 0
            if answer == "explain":
                _explain(explain_command(rt.model_handle.get(), command, where, options, cancel))
                continue
            if answer == "copy":
                say("Copied." if copy_to_clipboard(command) else "No clipboard was found.")
                return 0
            return subprocess.run([where.shell_path, "-c", command]).returncode


def _explain(pieces: Any) -> None:
    for piece in pieces:
        stream_text(piece)
    stream_text("\n")


def copy_to_clipboard(text: str) -> bool:
    """The system clipboard through its usual tool; else OSC 52 to the
    terminal (which most terminals honour)."""
    for tool in (["pbcopy"], ["wl-copy"], ["xclip", "-selection", "clipboard"], ["xsel", "-b"]):
        if shutil.which(tool[0]):
            try:
                subprocess.run(tool, input=text.encode(), check=True, timeout=5)
                return True
            except (OSError, subprocess.SubprocessError):
                continue
    if sys.stderr.isatty():
        import base64

        sys.stderr.write(f"\x1b]52;c;{base64.b64encode(text.encode()).decode()}\x07")
        sys.stderr.flush()
        return True
    return False
