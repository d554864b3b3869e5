"""Helpers for the UI tests: wait for workers, seed a stored conversation."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.worker import WorkerState

from assistant.runtime import Runtime


async def settle(pilot: Pilot) -> None:
    """Wait until the first screen is up, every worker has finished, and no
    handler has started another one (the model loads after the history is
    read), then let the screen catch up. Workers of the ``dialog`` group wait
    for the user to answer a dialog: they are not waited for."""
    app = pilot.app
    quiet_rounds = 0
    for _ in range(200):
        await pilot.pause()
        waiting = working(app)
        if waiting:  # (an empty list would mean every worker)
            await app.workers.wait_for_complete(waiting)
        await pilot.pause()
        busy = any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in working(app))
        started = getattr(app, "first_screen_at", True) is not None
        quiet_rounds = quiet_rounds + 1 if started and not busy else 0
        if quiet_rounds >= 2:
            return
    raise AssertionError("the app did not settle")


DIALOG = "dialog"  # the chat screen's workers that wait for a dialog's answer


def working(app) -> list:
    """The app's workers, but for those waiting on a dialog's answer."""
    return [w for w in app.workers if w.group != DIALOG]


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
