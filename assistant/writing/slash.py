"""Chat slash commands: parsing and completion, with no UI in sight.

``/ACTION [ARGUMENT] [TEXT]`` runs a template. The word after the action fills
the template's ``argument`` variable (``/translate fr``, ``/tone formal``,
``/summarise bullets``) only when the template has one and the word is one of
its known choices (or the template has no choices, like a language name); the
rest is the text to work on. An empty text means "apply to the last reply";
the chat screen decides what that is. Control commands (``/persona``,
``/notes``, ``/memory``, ``/remember``, ``/new``, ``/help``) come back as
``kind="control"``. ``/persona`` alone asks which persona is in use (it
changes nothing); ``/persona default`` goes back to the default system prompt.
``/remember TEXT`` keeps its text exactly as typed (the argument).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.errors import WritingError
from assistant.writing.templates import PromptLibrary

CONTROL_COMMANDS: dict[str, str] = {
    "persona": "use a persona for this conversation (/persona NAME; alone: which one)",
    "notes": "answer from your notes or not (/notes on|off)",
    "tools": "let replies call tools or not (/tools on|off)",
    "remember": "keep a fact about you for later conversations (/remember TEXT)",
    "memory": "give this conversation your memories or not, or make it private "
    "(/memory on|off|private)",
    "new": "start a new conversation",
    "help": "list the slash commands",
}
NOTES_CHOICES = ("on", "off")
MEMORY_CHOICES = ("on", "off", "private")
DEFAULT_PERSONA = "default"  # /persona default: back to the default system prompt
# Arguments taken freely (no fixed list): the first word is the argument.
FREE_ARGUMENTS = frozenset({"language"})


@dataclass(frozen=True)
class SlashCommand:
    kind: str  # "action" (run a template) or "control"
    name: str  # template name (aliases resolved) or control command
    variables: dict[str, str] = field(default_factory=dict)
    text: str = ""  # text to work on; empty means the last reply
    argument: str = ""  # for control commands: the persona name, on/off

    @property
    def uses_last_reply(self) -> bool:
        return self.kind == "action" and not self.text.strip()


def is_slash(line: str) -> bool:
    return line.startswith("/") and not line.startswith("//")


def parse_slash(line: str, library: PromptLibrary) -> SlashCommand:
    """Parse one input line starting with '/'; unknown commands raise WritingError."""
    if not is_slash(line):
        raise WritingError("A slash command starts with '/'.")
    head, rest = _first_word(line[1:])
    name = head.strip().lower()
    if not name:
        raise WritingError("Type a command after '/', e.g. /summarise or /help.")
    if name in CONTROL_COMMANDS:
        argument = rest.strip()
        if name == "persona":
            if argument.lower() in (DEFAULT_PERSONA, "none"):
                return SlashCommand("control", name, argument=DEFAULT_PERSONA)
            if argument:
                library.persona(argument)  # unknown persona: clear error now
            return SlashCommand("control", name, argument=argument.lower())
        if name in ("notes", "tools") and argument.lower() not in NOTES_CHOICES:
            raise WritingError(f"Use /{name} on or /{name} off.")
        if name == "memory" and argument.lower() not in MEMORY_CHOICES:
            raise WritingError("Use /memory on, /memory off or /memory private.")
        if name == "remember":
            if not argument:
                raise WritingError("Type what to remember after it: /remember I am vegetarian.")
            return SlashCommand("control", name, argument=argument)
        return SlashCommand("control", name, argument=argument.lower())
    template = library.template(name)
    variables: dict[str, str] = {}
    text = rest.strip()
    if template.argument and text:
        word, remainder = _first_word(text)
        var = template.variables[template.argument]
        lowered = word.lower()
        if (
            lowered in var.values
            or lowered in {c.lower() for c in var.suggestions}
            or (template.argument in FREE_ARGUMENTS and remainder == "" and "\n" not in word)
            or (template.argument in FREE_ARGUMENTS and len(word) <= 3)
            # alone on the command's line, the text below (the writing screen's requests)
            or (template.argument in FREE_ARGUMENTS and text[len(word) :].startswith("\n"))
        ):
            variables[template.argument] = word
            text = remainder.strip()
    return SlashCommand("action", template.name, variables, text)


def _first_word(text: str) -> tuple[str, str]:
    """The first word and the rest, split at the first space or line break (a
    command's text may start on the next line)."""
    parts = text.split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def complete_slash(line: str, library: PromptLibrary) -> list[str]:
    """Candidates that complete ``line`` (whole lines, ready to replace the input)."""
    return [value for value, _ in slash_choices(line, library)]


def slash_choices(line: str, library: PromptLibrary) -> list[tuple[str, str]]:
    """(completed line, what it does) for ``line``. A template is offered
    once under its name, with its aliases in the description, whether the
    prefix matches the name or an alias."""
    if not is_slash(line):
        return []
    body = line[1:]
    if " " not in body:
        prefix = body.lower()
        found: dict[str, str] = {}
        for template in library.templates.values():
            names = (template.name, *template.aliases)
            if any(n.startswith(prefix) for n in names):
                about = template.description
                if template.aliases:
                    about += " (also " + ", ".join(f"/{a}" for a in template.aliases) + ")"
                found[template.name] = about
        for name, about in CONTROL_COMMANDS.items():
            if name.startswith(prefix):
                found[name] = about
        return [(f"/{n}", found[n]) for n in sorted(found)]
    head, _, rest = body.partition(" ")
    if " " in rest:
        return []
    name, prefix = head.lower(), rest.lower()
    choices: list[tuple[str, str]]
    if name == "persona":
        choices = [(p.name, p.description) for p in sorted(
            library.personas.values(), key=lambda p: p.name
        )] + [(DEFAULT_PERSONA, "the default system prompt")]  # fmt: skip
    elif name == "notes":
        choices = [("on", "answer from your notes"), ("off", "answer without them")]
    elif name == "tools":
        choices = [("on", "replies may call tools"), ("off", "replies call none")]
    elif name == "memory":
        choices = [
            ("on", "give replies your memories"),
            ("off", "give replies none"),
            ("private", "neither use nor propose memories here"),
        ]
    else:
        try:
            template = library.template(name)
        except WritingError:
            return []
        if not template.argument:
            return []
        variable = template.variables[template.argument]
        choices = [(c, variable.description) for c in variable.choices]
    return [(f"/{head} {c}", about) for c, about in choices if c.lower().startswith(prefix)]


def help_lines(library: PromptLibrary) -> list[str]:
    """One line per slash command, for /help."""
    lines = []
    for template in sorted(library.templates.values(), key=lambda t: t.name):
        arg = f" [{template.argument}]" if template.argument else ""
        lines.append(f"/{template.name}{arg} [text]  {template.description}")
    for name, what in CONTROL_COMMANDS.items():
        lines.append(f"/{name}  {what}")
    return lines
