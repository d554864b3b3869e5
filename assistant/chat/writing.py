"""Writing actions, one path for both shells: the rules, then the run.

``plan_action`` checks, before any text is read or any model loaded,
everything a request can get wrong: the action exists, its variables are
valid, the persona exists, ``to`` (the language to answer in) is not asked
of an action that edits the text in its own language, and the output (a
diff, or writing the result back over the file) is only for an action that
edits (``result: edit``): only such an action may ever replace a user's
file. ``ActionPlan.on(text)`` adds the text (it must not be empty).
``stream_action`` runs the request on the model with the user's options (the
CLI's ``write``), and ``ChatService.run_action`` runs it the same way in a
conversation, stored like a reply (slash commands and the writing screen).
Saving back from the writing screen goes through ``check_output`` too.

The shells use the writing helpers through this module (diffs, reading and
writing files), never the writing package itself.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from assistant.errors import WritingError
from assistant.llm.base import TextPiece
from assistant.writing.actions import ActionDone, ActionEvent, ActionProgress, ActionRunner
from assistant.writing.diffing import (
    Change,
    TextDiff,
    diff_texts,
    drops_sentence,
    keep_trailing_newline,
)
from assistant.writing.files import (
    check_new_file,
    decode_text,
    read_input_text,
    save_new_file,
    writable_target,
    write_back,
)
from assistant.writing.templates import Persona, PromptLibrary, PromptTemplate, parse_assignments

# What is done with the result: shown as it streams, shown as a diff against
# the text, or written back over the file the text came from.
STREAM, DIFF, IN_PLACE = "stream", "diff", "in_place"


@dataclass(frozen=True)
class ActionPlan:
    """An action whose request passed every rule; ``on(text)`` makes it a request."""

    template: PromptTemplate
    variables: dict[str, str] = field(default_factory=dict)
    persona: Persona | None = None
    answer_to: str | None = None  # the language to answer in (None: the text's)
    output: str = STREAM

    def on(self, text: str, label: str | None = None) -> ActionRequest:
        """The request on ``text`` (``label`` names it in the sentence when it is empty)."""
        if not text.strip():
            if label is None:
                raise WritingError("There is no text to work on.")
            raise WritingError(f"{label} is empty: there is no text to work on.")
        return ActionRequest(
            self.template, text, self.variables, self.persona, self.answer_to, self.output
        )


@dataclass(frozen=True)
class ActionRequest:
    template: PromptTemplate
    text: str
    variables: dict[str, str] = field(default_factory=dict)
    persona: Persona | None = None
    answer_to: str | None = None
    output: str = STREAM

    @property
    def name(self) -> str:
        return self.template.name

    def result(self, text: str) -> str:
        """The final text: an edit keeps the original's final new line."""
        return keep_trailing_newline(self.text, text) if self.template.edits_text else text

    def with_value(self, name: str, value: str) -> ActionRequest:
        return replace(self, variables={**self.variables, name: value})


def check_output(template: PromptTemplate, output: str, how: str | None = None) -> None:
    """Refuse a diff or a write-back for an action that writes a new text:
    only an action that edits may replace the user's text. ``how`` names
    the way it was asked for (``--in-place``, ``saving over the file``)."""
    if output in (DIFF, IN_PLACE) and not template.edits_text:
        asked = how or ("--diff" if output == DIFF else "--in-place")
        raise WritingError(
            f"'{template.name}' writes a new text rather than editing this one, so {asked} "
            f"does not apply; use it with proofread, rewrite, translate, tone, shorten or expand."
        )


def plan_action(
    library: PromptLibrary,
    action: str | PromptTemplate,
    *,
    variables: Mapping[str, str] | None = None,
    assignments: Sequence[str] = (),
    to: str | None = None,
    tone: str | None = None,
    persona: str | Persona | None = None,
    output: str = STREAM,
) -> ActionPlan:
    """Every rule of a writing action that does not need the text.

    ``to`` is the translation's target when the action has a ``language``
    variable, else the language to answer in (an action that edits the text
    keeps its language, so it refuses ``to``). ``assignments`` are
    ``NAME=VALUE`` strings; ``variables`` are already split."""
    template = library.template(action) if isinstance(action, str) else action
    values = dict(variables or {})
    values.update(parse_assignments(assignments))
    answer_to = to if to and "language" not in template.variables else None
    if answer_to and template.edits_text:
        raise WritingError(
            f"'{template.name}' edits the text in its own language, so --to does not apply; "
            "use translate, or an action that writes a new text (summarise, explain, reply...)."
        )
    if to and not answer_to:
        values["language"] = to
    if tone:
        values["tone"] = tone
    template.resolve_values(values)  # a bad variable fails before anything is read or run
    chosen = library.persona(persona) if isinstance(persona, str) else persona
    check_output(template, output)
    return ActionPlan(template, values, chosen, answer_to, output)


def stream_action(
    request: ActionRequest, runner: ActionRunner, cancel: threading.Event | None = None
) -> Generator[ActionEvent, None, None]:
    """Run ``request`` with ``runner`` (the model and the user's options):
    text pieces, progress, then ``ActionDone``. Nothing is stored: the CLI
    shows it; ``ChatService.run_action`` stores the same run as a reply."""
    return runner.run(
        request.template,
        request.text,
        request.variables,
        request.persona,
        cancel,
        request.answer_to,
    )


# Variables whose default would decide for the user what the result is (the
# language a translation is in, the tone of a rewrite): asked for, not assumed.
CHOSEN_BY_THE_USER = frozenset({"language", "tone"})


def missing_argument(template: PromptTemplate, variables: Mapping[str, str]) -> str | None:
    """The variable an action needs the user to choose (translate: the
    language, tone: the tone) when it was not given, else None: a shell asks
    for it rather than running with a default the user never saw. (A
    summary's length has a default anyone expects: it is not asked.)"""
    name = template.argument
    if name is None or name not in CHOSEN_BY_THE_USER or variables.get(name):
        return None
    return name


__all__ = [
    "DIFF",
    "IN_PLACE",
    "STREAM",
    "ActionDone",
    "ActionPlan",
    "ActionProgress",
    "ActionRequest",
    "Change",
    "PromptLibrary",
    "PromptTemplate",
    "TextDiff",
    "TextPiece",
    "check_new_file",
    "check_output",
    "decode_text",
    "diff_texts",
    "drops_sentence",
    "missing_argument",
    "parse_assignments",
    "plan_action",
    "read_input_text",
    "save_new_file",
    "stream_action",
    "writable_target",
    "write_back",
]
