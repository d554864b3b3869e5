"""Issue 17, item 1: keys typed while the app starts are kept and sent once it
is ready. The start-up is held at two known points (the first read of the
conversation list, the model load) with events, so the keys really arrive
before the app is ready; nothing sleeps."""

from __future__ import annotations

import asyncio
import threading

import pytest

from assistant.domain import MessageStatus, Role
from assistant.runtime import Runtime
from assistant.store.repository import ConversationRepository
from tests.fakes import FakeModel
from tests.ui.helpers import settle


class Gate:
    """Holds a function's callers until ``open()``; ``entered`` is set when
    the first caller arrives and ``left`` once it has returned."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.left = threading.Event()

    def wrap(self, function):
        def held(*args, **kwargs):
            if not self.release.is_set():
                self.entered.set()
                assert self.release.wait(30), "the test never opened the gate"
                try:
                    return function(*args, **kwargs)
                finally:
                    self.left.set()
            return function(*args, **kwargs)

        return held

    def open(self) -> None:
        self.release.set()


async def wait(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, 30)


@pytest.mark.parametrize("typed", ["before the history is read", "before the model loads"])
async def test_a_message_typed_while_the_app_starts_is_kept_and_sent(
    make_app, ui_model: FakeModel, monkeypatch: pytest.MonkeyPatch, typed: str
):
    history, model = Gate(), Gate()
    monkeypatch.setattr(
        ConversationRepository,
        "list_conversations",
        history.wrap(ConversationRepository.list_conversations),
    )
    monkeypatch.setattr(Runtime, "load_model", model.wrap(lambda self: ui_model))
    ui_model.enqueue(["Hello", " there."])
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait(history.entered)  # the app is up, reading the conversation list
        if typed == "before the model loads":
            history.open()
            await wait(history.left)
            await pilot.pause()
        for key in ("h", "i", "enter"):
            await pilot.press(key)
        await pilot.pause()
        history.open()
        await wait(history.left)
        for _ in range(3):
            await pilot.pause()
        model.open()
        await settle(pilot)
        assert app.is_running
        views = app.chat.chat_view.views
        assert [(v.role, v.shown_text) for v in views] == [
            (Role.USER, "hi"),
            (Role.ASSISTANT, "Hello there."),
        ]
        rows = app.runtime.repo.messages(app.chat.controller.conversation_id)
        assert [(m.role, m.content, m.status) for m in rows] == [
            (Role.USER, "hi", MessageStatus.COMPLETE),
            (Role.ASSISTANT, "Hello there.", MessageStatus.COMPLETE),
        ]
