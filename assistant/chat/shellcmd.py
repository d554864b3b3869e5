"""``assistant cmd``: one shell command proposed for a request, for this
operating system and shell, and an explanation of it on request.

The model proposes; it never runs anything. Running, copying or dropping
the command is the shell's question to the user (``assistant.cli.cmd``).
The prompts are kept here rather than in ``prompts/``: they are not writing
actions and must not appear among them.
"""

from __future__ import annotations

import os
import platform
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from assistant.domain import ChatTurn, GenerationOptions, Role
from assistant.errors import ModelError, UsageError
from assistant.llm.base import ChatModel, TextPiece

PROPOSE = (
    "You write shell commands. The user runs {system} with the {shell} shell, in the "
    "folder {cwd}. Reply with exactly one command that does what they ask, in a ```sh "
    "code block, and nothing else. Prefer safe, standard tools; never add sudo unless "
    "the request needs it."
)
EXPLAIN = (
    "Explain briefly what this {shell} command does on {system}, part by part, and any "
    "risk in running it:\n\n```sh\n{command}\n```"
)


@dataclass(frozen=True)
class Surroundings:
    system: str  # "Ubuntu 24.04 LTS (Linux)", "macOS 15.1", "Windows 11"
    shell: str  # "bash", "zsh", "fish", "powershell"...
    shell_path: str  # what runs the command
    cwd: str


def surroundings() -> Surroundings:
    name = platform.system()
    system = name
    if name == "Linux":
        try:
            text = Path("/etc/os-release").read_text(encoding="utf-8")
            pretty = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', text, re.M)
            if pretty:
                system = f"{pretty.group(1)} (Linux)"
        except OSError:
            pass
    elif name == "Darwin":
        system = f"macOS {platform.mac_ver()[0]}".strip()
    elif name == "Windows":
        system = f"Windows {platform.release()}"
    shell_path = os.environ.get("SHELL") or ("powershell" if name == "Windows" else "/bin/sh")
    shell = Path(shell_path).name or "sh"
    return Surroundings(system, shell, shell_path, os.getcwd())


def command_from(text: str) -> str:
    """The command in a reply: the first code block, else the first line
    that is not prose (a ``$ `` prompt and backticks taken off)."""
    block = re.search(r"```[\w+-]*\n(.*?)(?:```|$)", text, re.S)
    if block and block.group(1).strip():
        return block.group(1).strip()
    for line in text.splitlines():
        line = line.strip().strip("`").strip()
        if line.startswith("$ "):
            line = line[2:]
        if line:
            return line
    return ""


def propose_command(
    model: ChatModel,
    request: str,
    where: Surroundings,
    options: GenerationOptions,
    cancel: threading.Event | None = None,
) -> str:
    """One command for ``request``; a ``ModelError`` when the model gave none."""
    if not request.strip():
        raise UsageError('Say what the command should do, e.g. assistant cmd "list big files".')
    system = PROPOSE.format(system=where.system, shell=where.shell, cwd=where.cwd)
    turns = [ChatTurn(Role.SYSTEM, system), ChatTurn(Role.USER, request.strip())]
    text = "".join(
        e.text
        for e in model.stream(
            turns, replace(options, max_tokens=min(options.max_tokens, 200)), cancel
        )
        if isinstance(e, TextPiece)
    )
    command = command_from(text)
    if not command:
        raise ModelError(f"{model.name} proposed no command for that; try saying it another way.")
    return command


def explain_command(
    model: ChatModel,
    command: str,
    where: Surroundings,
    options: GenerationOptions,
    cancel: threading.Event | None = None,
) -> Iterator[str]:
    """The explanation, streamed."""
    prompt = EXPLAIN.format(shell=where.shell, system=where.system, command=command)
    for event in model.stream([ChatTurn(Role.USER, prompt)], options, cancel):
        if isinstance(event, TextPiece):
            yield event.text
