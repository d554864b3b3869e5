"""The app on the bundled GGUF: a real answer streams into the chat view."""

from __future__ import annotations

from assistant.domain import MessageStatus, Role
from assistant.runtime import Runtime
from assistant.ui.app import AssistantApp
from assistant.ui.panels import StatusLine
from tests.ui.helpers import settle


async def test_a_real_answer_streams_into_the_view(home_with_model, monkeypatch):
    monkeypatch.setenv("ASSISTANT_N_THREADS", "2")
    monkeypatch.setenv("ASSISTANT_MAX_TOKENS", "48")
    monkeypatch.setenv("ASSISTANT_SEED", "7")
    app = AssistantApp(Runtime())
    async with app.run_test(size=(110, 32)) as pilot:
        await settle(pilot)  # the model loads in its worker
        assert app.runtime.model_handle.loaded is not None
        for key in "What is the capital of France?":
            await pilot.press("space" if key == " " else key)
        await pilot.press("enter")
        await settle(pilot)

        assert app.is_running and not app.chat.controller.streaming
        rows = app.runtime.repo.messages(app.chat.controller.conversation_id)
        assert [m.role for m in rows] == [Role.USER, Role.ASSISTANT]
        reply = rows[-1]
        assert reply.status == MessageStatus.COMPLETE
        assert reply.content.strip()
        assert reply.completion_tokens and reply.completion_tokens > 0
        view = app.chat.chat_view.views[-1]
        assert view.shown_text.strip() == reply.content  # the stored reply is right-trimmed
        assert "User:" not in view.shown_text  # no echoed role markers
        status = str(app.query_one(StatusLine).render())
        assert "gemma" in status.lower() and "tok/s" in status and "context" in status
