"""Each bundled action on the real bundled 270M base model: it runs to the end,
says something, and leaks no transcript role markers. Quality is not judged."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.llm.base import TextPiece
from assistant.writing.actions import ActionDone, ActionRunner, has_role_marker
from assistant.writing.templates import load_library

TEXT = (
    "Our team moved the weekly meeting to Thursday morning. Everyone agreed that the "
    "new time works better, and the notes will be shared by email afterwards."
)
LIBRARY = load_library(Path("/nonexistent-user-prompts"))


@pytest.mark.parametrize("name", sorted(LIBRARY.templates))
def test_action_on_the_bundled_model(real_model, name):
    runner = ActionRunner(real_model, LIBRARY, max_tokens=8, temperature=0.0)
    events = list(runner.run(LIBRARY.template(name), TEXT))
    done = events[-1]
    assert isinstance(done, ActionDone)
    streamed = "".join(e.text for e in events if isinstance(e, TextPiece))
    assert streamed == done.text
    assert done.text.strip(), f"{name} produced nothing"
    assert not has_role_marker(done.text), done.text
    assert "<end_of_turn>" not in done.text
    assert done.finish_reason in ("stop", "length")
    assert 0 < done.completion_tokens <= 8 * done.parts
