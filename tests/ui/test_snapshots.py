"""Snapshots (pytest-textual-snapshot) of the main screen, the writing
screen, the help and the modals, at 80x24 and 120x40.

Deterministic by construction: the fake model, stored messages with fixed
statistics, no clock on screen, the cursor not blinking, workers finished
before the picture is taken. Update with ``pytest --snapshot-update`` after a
deliberate change, and look at the new SVGs before committing them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import TextArea

from assistant.domain import Citation, MessageStatus, Role
from assistant.runtime import Runtime
from assistant.ui.screens import (
    ConfirmDeleteScreen,
    ExportScreen,
    PassageScreen,
    RenameScreen,
    RetrievalScreen,
)
from assistant.ui.widgets import PromptInput
from tests.ui.helpers import seed_conversation, settle

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]

CODE_REPLY = """Use a list comprehension:

```python
squares = [n * n for n in range(10)]
print(squares)
```

It reads **left to right** [1]."""


async def steady(pilot: Pilot) -> None:
    await settle(pilot)
    for area in pilot.app.query(TextArea):
        area.cursor_blink = False
    await pilot.pause()


def with_screen(make: Callable[[Pilot], object]) -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        pilot.app.push_screen(make(pilot))  # type: ignore[arg-type]
        await steady(pilot)

    return run_before


def seed_branched_conversation() -> int:
    """Two conversations; the open one has a reply answered again (the shown
    one is 2/2) that cites a source, and a stopped last reply."""
    seed_conversation("Holiday plans", [("Where should I go in May?", "Somewhere warm.")])
    repo = Runtime().repo
    conversation = repo.create_conversation("Squares in Python", model="fake-model").id
    question = repo.add_message(conversation, Role.USER, "How do I square numbers?")
    older = repo.add_message(
        conversation, Role.ASSISTANT, "Multiply each number by itself.", model="fake-model"
    )
    repo.update_message(older.id, completion_tokens=6, tokens_per_second=20.5)
    reply = repo.add_message(
        conversation, Role.ASSISTANT, CODE_REPLY, model="fake-model", parent_id=question.id
    )
    source = Citation(1, "notes", "python/lists.md", "/n/python/lists.md", 3, 9, heading="Lists")
    repo.update_message(
        reply.id, completion_tokens=41, tokens_per_second=20.5, finish_reason="stop",
        citations=[source],
    )  # fmt: skip
    repo.add_message(conversation, Role.USER, "And cubes?")
    last = repo.add_message(conversation, Role.ASSISTANT, "Use `n ** 3`.", model="fake-model")
    repo.update_message(last.id, completion_tokens=7, tokens_per_second=20.5,
                        status=MessageStatus.STOPPED, finish_reason="stopped")  # fmt: skip
    repo.db.close()
    return conversation


@pytest.mark.parametrize("size", SIZES)
def test_empty_main_screen(snap_compare, make_app, size):
    assert snap_compare(make_app(), terminal_size=size, run_before=steady)


@pytest.mark.parametrize("size", SIZES)
def test_main_screen_with_branches_and_sources(snap_compare, make_app, size):
    conversation = seed_branched_conversation()
    assert snap_compare(make_app(conversation), terminal_size=size, run_before=steady)


@pytest.mark.parametrize("size", SIZES)
def test_main_screen_picking_a_message(snap_compare, make_app, size):
    conversation = seed_branched_conversation()

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("ctrl+up")
        await steady(pilot)

    assert snap_compare(make_app(conversation), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_writing_screen_with_changes(snap_compare, make_app, ui_model, size):
    from assistant.ui.writing_screen import WritingScreen

    original = "Teh first line.\n\nKeep this sentence. Drop this one as well.\n"
    ui_model.enqueue("The first line.\n\nKeep this sentence.\n")

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, WritingScreen)
        screen.query_one("#source", TextArea).load_text(original)
        screen.start_action("proofread")
        await steady(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare, make_app, size):
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("f1")
        await steady(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_delete_modal(snap_compare, make_app, size):
    conversation = seed_conversation("Holiday plans", [("Where?", "Somewhere warm.")])
    run_before = with_screen(lambda pilot: ConfirmDeleteScreen("Holiday plans"))
    assert snap_compare(make_app(conversation), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_rename_modal(snap_compare, make_app, size):
    run_before = with_screen(lambda pilot: RenameScreen("Holiday plans"))
    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_export_modal(snap_compare, make_app, size):
    from pathlib import Path

    run_before = with_screen(lambda pilot: ExportScreen(Path("/home/me/holiday-plans.md")))
    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_passage_modal(snap_compare, make_app, size):
    text = (
        "Decisions\n\nThe team will move the weekly release from Thursday to Tuesday so "
        "that fixes land before the weekend on-call shift starts."
    )
    run_before = with_screen(
        lambda pilot: PassageScreen("[1] work/meeting-notes.docx:3-5 — Decisions", text, True)
    )
    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_retrieval_modal(snap_compare, make_app, size):
    passages = [
        Citation(1, "notes", "garden.md", "/n/garden.md", 3, 6, heading="Tomatoes",
                 keyword_rank=1, vector_rank=2, score=0.8123),
        Citation(2, "notes", "roses.md", "/n/roses.md", 1, 4, heading="Roses",
                 keyword_rank=None, vector_rank=1, score=0.6042),
    ]  # fmt: skip
    run_before = with_screen(lambda pilot: RetrievalScreen(passages, lambda q: []))
    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


def test_prompt_is_a_prompt_input():
    assert issubclass(PromptInput, TextArea)
