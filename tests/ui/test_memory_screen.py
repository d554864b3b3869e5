"""Pilot tests for memory in the app: memories the model proposes are asked
about one by one (yes keeps, no and Esc keep nothing, a change can replace
the old one), and the memory screen (F7) reads, edits, deletes and turns
memory off."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from assistant.domain import MemorySource
from assistant.runtime import Runtime
from assistant.ui.memory_screen import EditMemoryScreen, MemoryScreen, ProposalScreen
from assistant.ui.screens import ConfirmScreen
from tests.fakes import ProposingFakeModel
from tests.ui.helpers import settle

SIZE = (100, 30)


@pytest.fixture
def proposing(monkeypatch: pytest.MonkeyPatch) -> ProposingFakeModel:
    model = ProposingFakeModel()
    monkeypatch.setattr(Runtime, "load_model", lambda self: model)
    return model


def app_with(model):
    from assistant.ui.app import AssistantApp

    return AssistantApp(Runtime(), sync_notes=False)


async def send(pilot, text: str) -> None:
    pilot.app.chat.prompt.load_text(text)
    await pilot.press("enter")
    await settle(pilot)


async def test_proposed_memories_are_asked_and_kept_only_on_yes(proposing):
    app = app_with(proposing)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        proposing.enqueue("Try a mushroom risotto.")
        proposing.propose("NEW: I am vegetarian.\nNEW: I live in Porto.")
        await send(pilot, "I'm vegetarian and live in Porto. Dinner ideas?")
        # the reply is on screen, then the first question
        assert isinstance(app.screen, ProposalScreen)
        assert "Remember “I am vegetarian.”?" in str(app.screen.proposal.question())
        assert app.runtime.memory.count() == 0  # nothing before the answer
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, ProposalScreen)
        assert app.screen.proposal.text == "I live in Porto."
        await pilot.press("escape")  # Esc is no
        await settle(pilot)
        assert not isinstance(app.screen, ProposalScreen)
        kept = app.runtime.memory.list_memories()
        assert [m.text for m in kept] == ["I am vegetarian."]
        assert kept[0].source == MemorySource.PROPOSED
        assert kept[0].conversation_id == app.chat.controller.conversation_id

        # a change to a kept memory: r replaces it
        proposing.enqueue("Noted.")
        proposing.propose("CHANGES 1: I eat fish but no meat.")
        await send(pilot, "Actually I eat fish now.")
        assert isinstance(app.screen, ProposalScreen)
        assert "changes memory" in app.screen.proposal.question()
        await pilot.press("y")  # means nothing here: replace, add or no
        await pilot.pause()
        assert isinstance(app.screen, ProposalScreen)
        await pilot.press("r")
        await settle(pilot)
        assert [m.text for m in app.runtime.memory.list_memories()] == ["I eat fish but no meat."]


async def test_a_private_conversation_asks_about_no_memories(proposing):
    app = app_with(proposing)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "/memory private")
        proposing.enqueue("Try a mushroom risotto.")
        proposing.propose("NEW: I am vegetarian.")
        await send(pilot, "I'm vegetarian. Dinner ideas?")
        assert not isinstance(app.screen, ProposalScreen)
        assert proposing.proposal_prompts == []
        assert app.runtime.memory.count() == 0


async def test_the_memory_screen_edits_deletes_and_turns_memory_off(make_app, ui_model):
    app = make_app()
    memory = app.runtime.memory
    veg, _ = memory.add("I am vegetarian.")
    porto, _ = memory.add("I live in Porto.")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f7")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MemoryScreen)
        table = screen.query_one(DataTable)
        assert table.row_count == 2
        texts = {screen.memories[n].text for n in range(2)}
        assert texts == {"I am vegetarian.", "I live in Porto."}

        # edit the highlighted one; an empty text stays in the box with why
        first = screen.chosen()
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, EditMemoryScreen)
        app.screen.query_one("#memory-text").value = ""
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, EditMemoryScreen)  # back, with the reason
        app.screen.query_one("#memory-text").value = "I live in Lisbon."
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert memory.get(first.id).text == "I live in Lisbon."

        # delete asks first; n keeps it, y deletes it
        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert memory.count() == 2
        await pilot.press("delete")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert memory.count() == 1 and table.row_count == 1

        # o turns memory off everywhere (config.toml), the memories stay
        await pilot.press("o")
        await settle(pilot)
        assert memory.enabled is False
        assert "Memory is off" in str(screen.query_one("#memory-state").render())
        config = app.runtime.paths.config_file.read_text(encoding="utf-8")
        assert "memory = false" in config
        assert memory.count() == 1
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, MemoryScreen)
    assert {veg.id, porto.id} & {m.id for m in Runtime().memory.list_memories()}
    assert Runtime().settings.memory is False


async def test_a_reply_says_it_was_given_memories_and_f7_marks_them(make_app, ui_model):
    app = make_app()
    memory = app.runtime.memory
    veg, _ = memory.add("I am vegetarian.")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        ui_model.enqueue("A lentil curry.")
        await send(pilot, "What should a vegetarian like me cook tonight?")
        reply = app.chat._last_reply()
        assert reply.message.memories and veg.uid in reply.message.memories
        footer = str(reply.query_one(".footer").render())
        assert "given" in footer and "(F7)" in footer
        # thousands kept (imported at once): the screen still lists them all
        many = [
            memory._new(f"Fact number {n} about a thing I own.", MemorySource.TYPED)
            for n in range(3000)
        ]
        memory.import_memories(many)
        await pilot.press("f7")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MemoryScreen)
        table = screen.query_one(DataTable)
        assert table.row_count == 3001
        first = table.get_row_at(0)
        assert first[0] == "→" and first[2] == "I am vegetarian."
        assert "given to the selected reply" in str(screen.query_one("#memory-state").render())
