"""Helpers for the UI tests: wait for workers, seed a stored conversation."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.worker import WorkerState

from assistant.runtime import Runtime


async def settle(pilot: Pilot) -> None:
    """Wait until the first screen is up, every worker has finished, and no
    handler has started another one (the model worker starts when the
    database worker ends), then let the screen catch up."""
    app = pilot.app
    quiet_rounds = 0
    for _ in range(200):
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        busy = any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in app.workers)
        started = getattr(app, "first_screen_at", True) is not None
        quiet_rounds = quiet_rounds + 1 if started and not busy else 0
        if quiet_rounds >= 2:
            return
    raise AssertionError("the app did not settle")


def seed_conversation(
    title: str, exchanges: list[tuple[str, str]], status: str = "complete"
) -> int:
    """Store a conversation directly (as an earlier session would have), with
    fixed statistics so what the UI shows is deterministic. ``status`` applies
    to the last reply."""
    from assistant.domain import MessageStatus, Role

    repo = Runtime().repo
    conversation = repo.create_conversation(title=title, model="fake-model")
    for n, (question, answer) in enumerate(exchanges, start=1):
        repo.add_message(conversation.id, Role.USER, question)
        reply = repo.add_message(conversation.id, Role.ASSISTANT, answer, model="fake-model")
        last = n == len(exchanges)
        repo.update_message(
            reply.id,
            completion_tokens=40 + n,
            tokens_per_second=20.5,
            finish_reason="stop",
            status=MessageStatus(status) if last else MessageStatus.COMPLETE,
        )
    repo.db.close()
    return conversation.id
