"""Pilot tests of tools in the TUI: the tools switch (F10), the approval
dialog before a real ``run_command`` (it creates a file: whether it ran is
seen on disk), tool calls drawn as collapsed entries that open, and the
tools list of the command palette.

The scripted FakeModel asks for the calls through the model protocol. Waits
are on the controller's updates and the app's workers, never on the clock.
"""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path

import pytest
from textual.pilot import Pilot

from assistant.chat.updates import ApprovalAsked, ReplyClosed, Update
from assistant.domain import MessageStatus, Role, ToolCall
from assistant.ui.panels import StatusLine
from assistant.ui.tool_screens import ApprovalScreen, ToolsScreen
from assistant.ui.widgets import MessageView, ToolCallView, ToolStepView
from tests.fakes import FakeModel
from tests.ui.helpers import settle

SIZE = (100, 32)


def touch(path: Path, call_id: str = "c1") -> ToolCall:
    return ToolCall(call_id, "run_command", {"command": f"touch {shlex.quote(str(path))}"})


class Watch:
    """Counts the controller's updates of one kind and lets a test wait for the next."""

    def __init__(self, app, kind: type) -> None:
        self.kind, self.seen = kind, 0
        self._arrived = asyncio.Event()
        controller = app.chat.controller
        original = controller.listener

        async def listener(update: Update) -> None:
            result = original(update)
            if result is not None:
                await result
            if isinstance(update, kind):
                self.seen += 1
                self._arrived.set()

        controller.listener = listener

    async def until(self, count: int) -> None:
        while self.seen < count:
            self._arrived.clear()
            await asyncio.wait_for(self._arrived.wait(), 30)


async def dialog(pilot: Pilot, asked: Watch, count: int) -> ApprovalScreen:
    await asked.until(count)
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ApprovalScreen), screen
    return screen


async def send(pilot: Pilot, text: str) -> None:
    prompt = pilot.app.chat.prompt
    prompt.text = text
    prompt.focus()
    await pilot.press("enter")


def stored(app):
    return app.chat.controller.backend.repo.messages(app.chat.controller.conversation_id)


async def test_the_approval_dialog_runs_only_what_is_allowed(
    make_app, ui_model: FakeModel, tmp_path: Path
):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        asked, closed = Watch(app, ApprovalAsked), Watch(app, ReplyClosed)
        await pilot.press("f10")
        await pilot.pause()
        assert "tools on" in str(app.chat.query_one(StatusLine).render())

        # allowed once: the command runs, its entry says so, the reply goes on
        ui_model.enqueue_calls(touch(tmp_path / "yes"))
        ui_model.enqueue("Made it.")
        await send(pilot, "make yes")
        screen = await dialog(pilot, asked, 1)
        call = screen.query_one("#approval-call").query("Static").first()
        assert f"touch {tmp_path / 'yes'}" in str(call.render())
        assert not (tmp_path / "yes").exists()  # nothing runs before the answer
        await pilot.press("y")
        await closed.until(1)
        await settle(pilot)
        assert (tmp_path / "yes").exists()
        entries = list(app.chat.chat_view.query(ToolCallView))
        assert len(entries) == 1 and entries[0].state.startswith("ok")
        assert list(app.chat.chat_view.query(ToolStepView))  # the step with only a call
        assert app.chat.chat_view.views[-1].shown_text == "Made it."

        # denied with Esc: nothing runs, the reply goes on with the denial
        ui_model.enqueue_calls(touch(tmp_path / "no", "c2"))
        ui_model.enqueue("I did not make it.")
        await send(pilot, "make no")
        await dialog(pilot, asked, 2)
        await pilot.press("escape")
        await closed.until(2)
        await settle(pilot)
        assert not (tmp_path / "no").exists()
        assert app.chat.chat_view.views[-1].shown_text == "I did not make it."
        tool = [m for m in stored(app) if m.role == Role.TOOL][-1]
        assert tool.finish_reason == "denied"
        assert app.screen is app.chat

        # allowed for this conversation: the next call is not asked about
        ui_model.enqueue_calls(touch(tmp_path / "a1", "c3"))
        ui_model.enqueue("One.")
        await send(pilot, "make a1")
        await dialog(pilot, asked, 3)
        await pilot.press("a")
        await closed.until(3)
        await settle(pilot)
        ui_model.enqueue_calls(touch(tmp_path / "a2", "c4"))
        ui_model.enqueue("Two.")
        await send(pilot, "make a2")
        await closed.until(4)
        await settle(pilot)
        assert asked.seen == 3
        assert (tmp_path / "a1").exists() and (tmp_path / "a2").exists()


@pytest.mark.parametrize("how", ["s in the dialog", "the controller (as quitting does)"])
async def test_stopping_the_reply_closes_the_dialog_and_keeps_everything(
    make_app, ui_model: FakeModel, tmp_path: Path, how: str
):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        asked, closed = Watch(app, ApprovalAsked), Watch(app, ReplyClosed)
        await app.chat.controller.set_switch("tools", True)
        ui_model.enqueue_calls(touch(tmp_path / "never"), text="Let me make it.")
        await send(pilot, "make it")
        await dialog(pilot, asked, 1)
        if how.startswith("s "):
            await pilot.press("s")
        else:
            assert await app.chat.controller.stop()
        await closed.until(1)
        await settle(pilot)
        assert app.screen is app.chat  # the dialog is gone
        assert not (tmp_path / "never").exists()
        rows = stored(app)
        assert [m.role for m in rows] == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.ASSISTANT]
        assert rows[1].content == "Let me make it."
        assert rows[2].status == MessageStatus.STOPPED
        texts = [v.shown_text for v in app.chat.chat_view.views if not isinstance(v, ToolCallView)]
        assert "Let me make it." in texts


async def test_a_stored_tool_call_opens_on_its_arguments_and_result(make_app):
    from tests.ui.test_snapshots import seed_tool_conversation

    conversation = seed_tool_conversation()
    app = make_app(conversation)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        views = app.chat.chat_view.views
        assert [type(v) for v in views] == [MessageView, ToolStepView, ToolCallView, MessageView]
        entry = views[2]
        assert isinstance(entry, ToolCallView)
        head = str(entry.query_one(".head").render())
        assert "now" in head and "Asia/Tokyo" in head and "ok" in head
        detail = entry.query_one(".tool-detail")
        assert not detail.display
        await pilot.press("ctrl+up", "up")  # pick the entry, then Enter opens it
        await pilot.press("enter")
        await pilot.pause()
        assert detail.display
        shown = str(detail.render())
        assert "Asia/Tokyo" in shown and "星期五" in shown
        assert "calls now" in str(views[1].query_one(".head").render())


async def test_tool_output_is_shown_as_text_and_cut(make_app, ui_model: FakeModel):
    from assistant.runtime import Runtime

    repo = Runtime().repo
    conversation = repo.create_conversation("Escapes", model="fake-model").id
    repo.add_message(conversation, Role.USER, "show it")
    call = ToolCall("c", "fetch_url", {"url": "http://x"})
    asked = repo.add_message(conversation, Role.ASSISTANT, "", model="fake-model")
    repo.update_message(asked.id, tool_calls=[call], finish_reason="tool_calls")
    hostile = "[bold red]markup[/] \x1b[31mred\x1b[0m\n" + "line\n" * 500
    result = repo.add_message(conversation, Role.TOOL, hostile, tool_call=call)
    repo.update_message(result.id, finish_reason="ok")
    repo.add_message(conversation, Role.ASSISTANT, "Done.", model="fake-model")
    repo.db.close()
    app = make_app(conversation)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        entry = next(iter(app.chat.chat_view.query(ToolCallView)))
        entry.toggle()
        await pilot.pause()
        shown = str(entry.query_one(".tool-detail").render())
        assert "[bold red]markup[/]" in shown  # markup shown, not obeyed
        assert "\x1b" not in shown and "^[" in shown  # the escape made visible
        assert "more characters" in shown and shown.count("line") <= 41


async def test_the_palette_lists_the_tools(make_app, monkeypatch):
    shown = asyncio.Event()
    mount = ToolsScreen.on_mount

    def on_mount(self) -> None:
        mount(self)
        shown.set()

    monkeypatch.setattr(ToolsScreen, "on_mount", on_mount)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        commands = {c.title: c for c in app.get_system_commands(app.chat)}
        assert "Use tools (toggle)" in commands
        commands["Tools"].callback()  # what the palette runs when it is chosen
        await asyncio.wait_for(shown.wait(), 30)
        await pilot.pause()
        assert isinstance(app.screen, ToolsScreen)
        names = [t.name for t in app.screen.listing.tools]
        assert "run_command" in names and "search_notes" in names
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.chat


async def test_a_tool_that_always_asks_is_not_offered_for_the_conversation(make_app):
    from assistant.chat.tooluse import Approval, ApprovalRequest
    from assistant.domain import ToolSpec
    from assistant.tools.base import Tool

    tool = Tool(ToolSpec("remember", "Keep a fact."), lambda a, c: "", always_asks=True)
    request = ApprovalRequest(1, ToolCall("m", "remember", {"text": "x"}), tool)
    answers: list[Approval | None] = []
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(ApprovalScreen(request), answers.append)
        await pilot.pause()
        assert not app.screen.query("#conversation")
        await pilot.press("a")  # not offered: nothing happens
        await pilot.pause()
        assert isinstance(app.screen, ApprovalScreen) and answers == []
        await pilot.press("y")
        await pilot.pause()
        assert answers == [Approval.ONCE]
