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
from assistant.ui.panels import PromptInput
from assistant.ui.screens import (
    ConfirmDeleteScreen,
    ExportScreen,
    PassageScreen,
    RenameScreen,
    RetrievalScreen,
)
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


# ------------------------------------------------ compose and the model picker
@pytest.mark.parametrize("size", SIZES)
def test_compose_screen(snap_compare, make_app, size):
    """Ctrl+T: the compose mode's form, as a new user first sees it."""
    from assistant.ui.compose_screen import ComposeScreen

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("ctrl+t")
        await steady(pilot)
        await pilot.wait_for_scheduled_animations()  # the list's scrollbar fades in
        await steady(pilot)
        assert isinstance(pilot.app.screen, ComposeScreen)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


PICKER_ENTRIES = [  # what gather_entries found (its reading is tested in tests/models)
    ("bundled", "253 MB  Q4_K_M  268M  ctx 2048  fits", True, True),
    ("bartowski/Qwen2.5-7B-GGUF:Q4_K_M", "4.7 GB  Q4_K_M  7.6B  ctx 32768  fits", True, False),
    ("ollama/llama3.2", "http://127.0.0.1:11434/v1", True, False),
    ("lab", "http://10.0.0.7:8080/v1: the server did not answer (timed out)", False, False),
]  # fmt: skip


@pytest.mark.parametrize("size", SIZES)
def test_model_picker(snap_compare, make_app, size, monkeypatch: pytest.MonkeyPatch):
    """Ctrl+L over a conversation: the current model marked, an engine that
    failed greyed out (it cannot be chosen)."""
    import assistant.chat.models as models
    from assistant.llm.spec import ModelSpec
    from assistant.ui.model_picker import ModelPickerScreen

    entries = [
        models.PickerEntry(label, detail, ModelSpec() if usable else None, current)
        for label, detail, usable, current in PICKER_ENTRIES
    ]
    monkeypatch.setattr(models, "gather_entries", lambda runtime: entries)
    conversation = seed_conversation("Holiday plans", [("Where?", "Somewhere warm.")])

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("ctrl+l")
        await steady(pilot)
        assert isinstance(pilot.app.screen, ModelPickerScreen)

    assert snap_compare(make_app(conversation), terminal_size=size, run_before=run_before)


# ------------------------------------------------------------ tool calls
# A stored reply that called a tool: the step that only asked for it is one
# line naming the tool, the call one collapsed line (tool, arguments, how it
# ended); opened (Enter on the picked entry), its arguments and result.
def seed_tool_conversation() -> int:
    """A question, a reply that asked for a tool, its result, the answer."""
    from assistant.domain import ToolCall

    repo = Runtime().repo
    conversation = repo.create_conversation("Time in Tokyo", model="fake-model").id
    repo.add_message(conversation, Role.USER, "What time is it in Tokyo?")
    call = ToolCall("call-1", "now", {"timezone": "Asia/Tokyo"})
    asked = repo.add_message(conversation, Role.ASSISTANT, "", model="fake-model")
    repo.update_message(asked.id, tool_calls=[call], finish_reason="tool_calls")
    result = repo.add_message(
        conversation, Role.TOOL, "2026-12-04T18:10:00+09:00 (Friday, 星期五)", tool_call=call
    )
    repo.update_message(result.id, finish_reason="ok")
    answer = repo.add_message(
        conversation, Role.ASSISTANT, "It is 18:10 on Friday in Tokyo.", model="fake-model"
    )
    repo.update_message(answer.id, completion_tokens=11, tokens_per_second=20.5)
    repo.db.close()
    return conversation


@pytest.mark.parametrize("size", SIZES)
def test_main_screen_with_a_stored_tool_call(snap_compare, make_app, size):
    conversation = seed_tool_conversation()
    assert snap_compare(make_app(conversation), terminal_size=size, run_before=steady)


@pytest.mark.parametrize("size", SIZES)
def test_main_screen_with_a_stored_tool_call_opened(snap_compare, make_app, size):
    conversation = seed_tool_conversation()

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("ctrl+up", "up", "enter")
        await steady(pilot)
        await pilot.wait_for_scheduled_animations()  # the opened entry is scrolled to
        await steady(pilot)

    assert snap_compare(make_app(conversation), terminal_size=size, run_before=run_before)
