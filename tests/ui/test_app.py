"""Pilot tests: the real app, driven by keys, on the scripted FakeModel.

They wait for workers (``settle``) instead of sleeping, and check both the
screen and the rows in the database.
"""

from __future__ import annotations

import asyncio

from assistant.domain import MessageStatus, Role
from assistant.runtime import Runtime
from assistant.ui.app import AssistantApp
from assistant.ui.keys import BINDING_KEYS, KEY_TABLE
from assistant.ui.panels import StatusLine
from assistant.ui.screens import ConfirmDeleteScreen, HelpScreen, RenameScreen
from assistant.ui.widgets import CopyableFence, MessageView
from tests.ui.helpers import seed_conversation, settle

SIZE = (110, 34)


def stored_messages(app: AssistantApp, conversation_id: int | None = None):
    conversation_id = conversation_id or app.chat.controller.conversation_id
    assert conversation_id is not None
    return app.runtime.repo.messages(conversation_id)


def footer_text(view: MessageView) -> str:
    return str(view.query_one(".footer").render())


async def type_text(pilot, text: str) -> None:
    for char in text:
        await pilot.press("space" if char == " " else char)


async def test_send_streams_a_reply_and_stores_it(make_app, ui_model):
    ui_model.enqueue(["Paris", " is", " the", " **capital**."])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "fake-model" in str(app.query_one(StatusLine).render())
        await type_text(pilot, "capital of France?")
        await pilot.press("enter")
        await settle(pilot)

        views = app.chat.chat_view.views
        assert [v.role for v in views] == [Role.USER, Role.ASSISTANT]
        assert views[1].shown_text == "Paris is the **capital**."
        assert app.chat.prompt.text == ""
        rows = stored_messages(app)
        assert [(m.role, m.content, m.status) for m in rows] == [
            (Role.USER, "capital of France?", MessageStatus.COMPLETE),
            (Role.ASSISTANT, "Paris is the **capital**.", MessageStatus.COMPLETE),
        ]
        status = str(app.query_one(StatusLine).render())
        assert "fake-model" in status and "tok/s" in status
        assert f"/{ui_model.context_size} (" in status
        # the sidebar now lists the new conversation under its title
        assert [c.title for c in app.chat.sidebar.conversations] == ["capital of France?"]
        assert app.chat.sidebar.highlighted_id == app.chat.controller.conversation_id


async def test_shift_enter_and_ctrl_j_insert_new_lines(make_app, ui_model):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a", "shift+enter", "b", "ctrl+j", "c")
        assert app.chat.prompt.text == "a\nb\nc"
        assert app.chat.chat_view.views == []
        await pilot.press("enter")
        await settle(pilot)
        assert stored_messages(app)[0].content == "a\nb\nc"


async def test_escape_stops_the_reply_and_keeps_the_partial_text(make_app, ui_model):
    ui_model.delay = 0.02
    ui_model.enqueue([f"word{i} " for i in range(400)])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g", "o", "enter")
        assert await asyncio.to_thread(ui_model.started.wait, 10)
        await pilot.pause()
        # never locked (issue 9)
        assert app.chat.controller.streaming and not app.chat.prompt.read_only
        await pilot.press("escape")
        await settle(pilot)

        assert not app.chat.controller.streaming
        reply = stored_messages(app)[-1]
        assert reply.status == MessageStatus.STOPPED
        assert reply.content.startswith("word0 ")
        assert len(reply.content.split()) < 400
        view = app.chat.chat_view.views[-1]
        assert view.shown_text == reply.content
        assert "stopped" in footer_text(view)


async def test_switch_between_conversations(make_app):
    first = seed_conversation("Trees", [("oak?", "A tree.")])
    second = seed_conversation("Rivers", [("nile?", "A river."), ("long?", "Very.")])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert [c.id for c in app.chat.sidebar.conversations] == [second, first]  # newest first
        assert app.chat.chat_view.views == []

        app.chat.sidebar.focus()  # highlights the newest
        await pilot.press("enter")
        await settle(pilot)
        assert app.chat.controller.conversation_id == second
        assert [v.shown_text for v in app.chat.chat_view.views] == [
            "nile?",
            "A river.",
            "long?",
            "Very.",
        ]
        assert app.focused is app.chat.prompt  # the keys went back to the box
        app.chat.sidebar.focus()
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.chat.controller.conversation_id == first
        assert [v.shown_text for v in app.chat.chat_view.views] == ["oak?", "A tree."]


async def test_rename_the_open_conversation(make_app):
    conversation = seed_conversation("Old title", [("q", "a")])
    app = make_app(conversation_id=conversation)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        assert isinstance(app.screen, RenameScreen)
        await pilot.press("ctrl+u")
        await type_text(pilot, "New title")
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, RenameScreen)
        assert app.runtime.repo.get_conversation(conversation).title == "New title"
        assert [c.title for c in app.chat.sidebar.conversations] == ["New title"]

        await pilot.press("f2", "ctrl+u", "x", "escape")  # Esc cancels
        await settle(pilot)
        assert app.runtime.repo.get_conversation(conversation).title == "New title"


async def test_delete_asks_first_then_removes_everything(make_app):
    keep = seed_conversation("Keep me", [("k", "kept")])
    doomed = seed_conversation("Delete me", [("d", "gone")])
    app = make_app(conversation_id=doomed)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f8")
        assert isinstance(app.screen, ConfirmDeleteScreen)
        await pilot.press("escape")  # changed my mind
        await settle(pilot)
        assert app.runtime.repo.get_conversation(doomed).title == "Delete me"

        await pilot.press("f8")
        await pilot.click("#yes")
        await settle(pilot)
        assert [c.id for c in app.runtime.repo.list_conversations()] == [keep]
        assert app.runtime.repo.all_messages(doomed) == []
        assert app.chat.controller.conversation_id is None and app.chat.chat_view.views == []
        assert [c.id for c in app.chat.sidebar.conversations] == [keep]

        # from the sidebar: Delete on the highlighted conversation, then "y"
        app.chat.sidebar.focus()
        await pilot.press("delete")
        assert isinstance(app.screen, ConfirmDeleteScreen)
        await pilot.press("y")
        await settle(pilot)
        assert app.runtime.repo.list_conversations() == []


async def test_copy_the_last_reply_and_its_code_blocks(make_app, ui_model):
    reply = "Two ways:\n\n```python\nprint(1)\n```\n\nor\n\n```sh\necho 2\n```\n"
    ui_model.enqueue([reply[:20], reply[20:]])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q", "enter")
        await settle(pilot)
        await pilot.press("ctrl+o")
        assert app.clipboard == reply
        await pilot.press("ctrl+g")
        assert app.clipboard == "echo 2"
        await pilot.press("ctrl+g")
        assert app.clipboard == "print(1)"
        await pilot.press("ctrl+g")
        assert app.clipboard == "echo 2"
        # a click on a code block copies that block
        app.copy_to_clipboard("")
        fences = list(app.query(CopyableFence))
        assert len(fences) == 2
        await pilot.click(fences[0], offset=(2, 1))  # left of the toasts (top right)
        assert app.clipboard == "print(1)"


async def test_help_lists_every_key(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        # "?" types into the message box, and opens the help elsewhere
        await pilot.press("question_mark")
        assert app.chat.prompt.text == "?"
        app.chat.sidebar.focus()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")

    documented = {row.keys for row in KEY_TABLE}
    bindings = [b for b in AssistantApp.BINDINGS if not isinstance(b, tuple)]
    for binding in bindings:
        for key in binding.key.split(","):
            assert BINDING_KEYS[key] in documented, key
    from assistant.ui.keys import MESSAGE_KEYS
    from assistant.ui.widgets import ChatView

    for binding in ChatView.BINDINGS:
        assert not isinstance(binding, tuple)
        for key in binding.key.split(","):
            assert MESSAGE_KEYS[key] in documented, key


async def test_an_error_mid_reply_is_marked_on_the_message(make_app, ui_model):
    ui_model.enqueue(["partial", " text", " never"])
    ui_model.fail_with = RuntimeError("GPU on fire")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x", "enter")
        await settle(pilot)
        assert app.is_running and not app.chat.controller.streaming
        reply = stored_messages(app)[-1]
        assert reply.status == MessageStatus.ERROR
        assert reply.content == "partial"
        view = app.chat.chat_view.views[-1]
        assert view.shown_text == "partial"
        assert "error" in footer_text(view) and "GPU on fire" in footer_text(view)


ESCAPES = (
    "\x1b[2J\x1b[31mred\x1b[0m "
    "\x1b]52;c;cHduZWQ=\x07 "
    "\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07 "
    "safe\roverwritten \x9b31m"
)


def terminal_bytes(app: AssistantApp) -> str:
    """Exactly what Textual would write to a real terminal for the current
    screen (the headless driver in tests discards it, so render it here)."""
    update = app.screen._compositor.render_full_update()
    return update.render_segments(app.console)


async def test_escape_sequences_in_replies_and_titles_never_reach_the_terminal(make_app, ui_model):
    seed_conversation("title \x1b]0;pwned\x07 here", [("q", "old \x1b[5m blink")])
    ui_model.enqueue([ESCAPES[:7], ESCAPES[7:30], ESCAPES[30:]])
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        app.chat.sidebar.focus()
        await pilot.press("enter")  # the stored conversation, with its title
        await settle(pilot)
        stored = terminal_bytes(app)
        await pilot.press("ctrl+n", "e", "enter")
        await settle(pilot)
        streamed = terminal_bytes(app)

    for output in (stored, streamed):
        for payload in ("\x1b]52", "\x1b]8;;http://evil", "\x1b]0;", "\x1b[2J", "\x1b[5m"):
            assert payload not in output
        assert "\x07" not in output and "\x9b" not in output and "\r" not in output
    # the text is still there to read, in caret form
    assert "^[]0;pwned^G" in stored
    assert "^[[5m blink" in stored
    assert "^[[31mred" in streamed
    assert "^[]52;c;cHduZWQ=^G" in streamed
    assert "safe^Moverwritten" in streamed
    assert "<U+009B>31m" in streamed
    reply = app.runtime.repo.messages(app.chat.controller.conversation_id)[-1]
    assert reply.content == ESCAPES  # stored as written; only the display is made safe


async def test_f4_opens_the_writing_screen_on_the_chat_service_and_goes_back(make_app, ui_model):
    from assistant.ui.writing_screen import WritingScreen

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        assert isinstance(app.screen, WritingScreen)
        assert app.screen.chat() is app.runtime.chat
        assert app.screen.library is not None  # read in a worker
        await pilot.press("f4")
        assert not isinstance(app.screen, WritingScreen)


async def test_quit_while_a_reply_streams_stores_it_stopped(make_app, ui_model):
    """Ctrl+Q stops the reply and waits until it is stored as stopped (the
    process then ends at once: nothing would finish it later)."""
    ui_model.delay = 0.02
    ui_model.enqueue([f"word{i} " for i in range(400)])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g", "o", "enter")
        assert await asyncio.to_thread(ui_model.started.wait, 10)
        await pilot.press("ctrl+q")
        conversation = app.chat.controller.conversation_id
        # stored before the app is gone (the process ends right after it)
        reply = Runtime().repo.messages(conversation)[-1]
    assert reply.status == MessageStatus.STOPPED and reply.finish_reason == "stopped"
    assert reply.content.startswith("word0 ")
