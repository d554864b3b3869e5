"""Pilot tests of the UI as a shell over the application layer: reads never
wait for a writer, slash actions are stored before they are shown and get
the user's options, and errors are sentences (a bug's names its crash log)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from assistant.domain import MessageStatus
from assistant.paths import app_paths
from assistant.runtime import Runtime
from assistant.ui.panels import StatusLine
from assistant.ui.widgets import MessageView
from tests.ui.helpers import seed_conversation, settle

SIZE = (110, 34)

HOLD_WRITE_LOCK = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
con.execute("BEGIN IMMEDIATE")
con.execute("UPDATE conversations SET title = title")
print("locked", flush=True)
sys.stdin.readline()  # held until the test says so
con.execute("COMMIT")
"""


async def test_sidebar_and_open_return_at_once_while_another_process_writes(make_app):
    first = seed_conversation("First", [("one", "uno")])
    second = seed_conversation("Second", [("two", "dos")])
    app = make_app(first)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # the lock is held until the reads are done: a read that waited for
        # the writer would never end (the test's timeout says so)
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_WRITE_LOCK, str(app_paths().database)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            await app.chat.refresh_sidebar().wait()
            await pilot.pause()
            assert [c.id for c in app.chat.sidebar.conversations] == [second, first]
            await app.chat.controller.open(second)
            await pilot.pause()
            assert app.chat.controller.conversation_id == second
            assert [v.shown_text for v in app.chat.chat_view.views][0] == "two"
            assert holder.poll() is None, "the lock was released before the reads ended"
            assert holder.stdin is not None
            holder.stdin.write("done\n")
            holder.stdin.flush()
            assert holder.wait(30) == 0
        finally:
            holder.kill()
            holder.wait()


async def test_a_slash_action_is_stored_before_it_is_shown(make_app, ui_model, monkeypatch):
    conversation = seed_conversation("Greeting", [("say hello", "Good morning, dear friend.")])
    shown_then_stored: list[tuple[str, str]] = []
    original_append = MessageView.append

    async def append(self: MessageView, piece: str) -> None:
        await original_append(self, piece)
        assert self.message_id is not None
        stored = Runtime().repo.get_message(self.message_id).content
        shown_then_stored.append((self.shown_text, stored))

    monkeypatch.setattr(MessageView, "append", append)
    words = ["Bonjour,", " cher", " ami", " du", " matin,"] + [f" mot{i}" for i in range(20)]
    ui_model.enqueue(words)
    ui_model.delay = 0.03  # pieces arrive over about 0.6 s: several flushes
    app = make_app(conversation)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.chat.prompt.insert("/translate fr")
        await pilot.press("enter")
        await settle(pilot)
        reply = app.runtime.repo.messages(conversation)[-1]
    assert len(shown_then_stored) >= 2
    for shown, stored in shown_then_stored:
        assert stored.startswith(shown), (shown, stored)
    assert reply.status == MessageStatus.COMPLETE and reply.content == "".join(words)
    assert reply.tokens_per_second is not None and reply.completion_tokens == len(words)


async def test_slash_actions_and_the_writing_screen_use_the_users_options(
    make_app, ui_model, isolated_home: Path
):
    from assistant.ui.writing_screen import WritingScreen

    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("temperature = 0.33\ntop_p = 0.77\nseed = 123\nmax_tokens = 21\n")
    conversation = seed_conversation("Greeting", [("say hello", "Good morning.")])
    app = make_app(conversation)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.chat.prompt.insert("/translate fr")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, WritingScreen)
        screen.query_one("#source").load_text("Teh text is hear.")
        screen.start_action("proofread")
        await settle(pilot)
    assert len(ui_model.options) == 2
    for options in ui_model.options:
        assert (options.temperature, options.top_p, options.seed) == (0.33, 0.77, 123)
        assert options.max_tokens <= 21


async def test_an_assistant_error_is_its_sentence(make_app, ui_model):
    from assistant.errors import ModelError

    ui_model.fail_with = ModelError("The model file is damaged.")
    ui_model.enqueue(["a", "b", "c"])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.chat.prompt.insert("hello")
        await pilot.press("enter")
        await settle(pilot)
        status = str(app.query_one(StatusLine).render())
        assert "The model file is damaged." in status
        assert app.is_running


async def test_a_bug_is_one_sentence_naming_the_crash_log(
    make_app, ui_model, isolated_home, monkeypatch
):
    from assistant.chat.service import ChatService

    def broken(self: ChatService, conversation_id: int) -> list:
        return [1 / 0]

    monkeypatch.setattr(ChatService, "history_turns", broken)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.chat.prompt.insert("hello")
        await pilot.press("enter")
        await settle(pilot)
        status = str(app.query_one(StatusLine).render())
        assert app.is_running
    logs = list((isolated_home / "data" / "logs").glob("assistant-crash-*.log"))
    assert len(logs) == 1
    assert "Something went wrong inside assistant" in status and str(logs[0]) in status
    assert "Traceback" not in status and "Traceback" in logs[0].read_text()


async def test_a_damaged_database_is_said_and_nothing_typed_is_written(make_app):
    """The integrity check runs once the history is on screen (not before the
    first paint): the damage is said, and a message typed meanwhile waits for
    the check, then is refused with the sentence; no row is added."""
    import sqlite3

    from tests.standins import corrupt_page
    from tests.test_database_damage import count_rows, seed

    path = seed()
    corrupt_page(path)
    before = count_rows(path)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h", "i", "enter")
        await settle(pilot)
        status = str(app.query_one(StatusLine).render())
        assert "is damaged" in status or any(
            "is damaged" in str(n.message) for n in app._notifications
        )
        assert app.runtime.db.damage is not None and not app.runtime.db.writable
        assert app.is_running
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT count(*) FROM conversations").fetchone()[0] == before
