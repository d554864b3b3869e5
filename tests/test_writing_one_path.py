"""Writing actions take one path in both shells: ``plan_action`` holds every
rule, ``stream_action`` runs on the user's options, and the stored run of the
TUI (``ChatService.run_action``) goes through the same two."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.chat.writing import DIFF, IN_PLACE, plan_action, stream_action
from assistant.errors import WritingError
from assistant.writing.actions import ActionDone, ActionRunner
from assistant.writing.templates import load_library

LIBRARY = load_library(Path("/nonexistent-user-prompts"))


@pytest.mark.parametrize(
    ("action", "kwargs", "says"),
    [
        ("nosuchaction", {}, "nosuchaction"),
        ("proofread", {"to": "German"}, "edits the text in its own language"),
        ("summarise", {"output": DIFF}, "so --diff does not apply"),
        ("summarise", {"output": IN_PLACE}, "so --in-place does not apply"),
        ("summarise", {"assignments": ["nosuch=1"]}, "has no variable 'nosuch'"),
        ("proofread", {"persona": "nobody"}, "nobody"),
    ],
)
def test_every_rule_is_in_plan_action(action, kwargs, says):
    with pytest.raises(WritingError) as caught:
        plan_action(LIBRARY, action, **kwargs)
    assert says in str(caught.value)


def test_to_is_the_target_of_translate_and_the_answer_language_elsewhere():
    translate = plan_action(LIBRARY, "translate", to="German")
    assert translate.variables["language"] == "German" and translate.answer_to is None
    summary = plan_action(LIBRARY, "summarise", to="German")
    assert summary.answer_to == "German" and "language" not in summary.variables


def test_an_empty_text_is_refused_with_its_name():
    plan = plan_action(LIBRARY, "proofread")
    with pytest.raises(WritingError, match="notes.md is empty"):
        plan.on("  \n", "notes.md")
    with pytest.raises(WritingError, match="There is no text to work on"):
        plan.on("")


def test_the_cli_and_the_stored_run_give_the_same_result(service, fake_model):
    request = plan_action(LIBRARY, "proofread").on("Teh cat.\n")
    fake_model.enqueue("The cat.")
    runner = ActionRunner(fake_model, LIBRARY)
    done = [e for e in stream_action(request, runner) if isinstance(e, ActionDone)][0]
    assert request.result(done.text) == "The cat.\n"  # an edit keeps the final new line
    service._library = lambda: LIBRARY
    fake_model.enqueue("The cat.")
    events = list(service.run_action(None, "/proofread Teh cat.", "proofread", "Teh cat.\n"))
    assert events[-1].message.content == "The cat."
    assert fake_model.history[0] == fake_model.history[1]  # the same prompt both ways
