"""Pilot tests for memory in the chat screen: ``/remember`` keeps a memory,
``/memory private`` keeps them out of the prompt, and the context meter
counts the memories given (the memory screen and proposals in the app come
later)."""

from __future__ import annotations

from assistant.domain import MemoryMode
from assistant.runtime import Runtime
from assistant.ui.panels import StatusLine
from tests.ui.helpers import settle

SIZE = (110, 34)


async def type_text(pilot, text: str) -> None:
    for char in text:
        await pilot.press("space" if char == " " else char)


async def test_remember_then_memory_private(make_app, ui_model):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "/remember I am vegetarian.")
        await pilot.press("enter")
        await settle(pilot)
        assert app.chat.prompt.text == ""
        kept = app.runtime.memory.list_memories()
        assert [m.text for m in kept] == ["I am vegetarian."]
        assert ui_model.history == []  # a command, not a message to the model

        ui_model.enqueue("Lentil curry.")
        await type_text(pilot, "dinner?")
        await pilot.press("enter")
        await settle(pilot)
        assert "I am vegetarian." in ui_model.history[-1][0].content
        status = str(app.query_one(StatusLine).render())
        assert "memories" in status  # the meter names what the memories take

        await type_text(pilot, "/memory private")
        await pilot.press("enter")
        await settle(pilot)
        assert "memory private" in str(app.query_one(StatusLine).render())
        ui_model.enqueue("Pasta.")
        await type_text(pilot, "lunch?")
        await pilot.press("enter")
        await settle(pilot)
        assert "vegetarian" not in ui_model.history[-1][0].content
        conversation = app.chat.controller.conversation_id

    stored = Runtime().repo.get_conversation(conversation, messages=False)
    assert stored.memory == MemoryMode.PRIVATE


async def test_a_memory_too_long_stays_in_the_box(make_app, ui_model):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        line = "/remember " + "x" * 501
        app.chat.prompt.load_text(line)
        await pilot.press("enter")
        await settle(pilot)
        assert app.chat.prompt.text == line  # nothing lost: the line is there to fix
        assert app.runtime.memory.count() == 0 and app.is_running
