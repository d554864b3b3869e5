"""The TUI faults listed in issue 9, each driven by keys through Pilot on the
real app (the notes ones, 3 and 5, are in test_notes_and_slash.py; the CLI
ones, 11, in tests/test_cli_history.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Input

from assistant.domain import MessageStatus, Role
from assistant.runtime import Runtime
from assistant.ui.panels import SlashOptions, StatusLine
from assistant.ui.screens import ConfirmDeleteScreen, ConfirmScreen, HelpScreen, SaveAsScreen
from assistant.ui.widgets import MessageView, NoteView
from assistant.ui.writing_screen import (
    ChangeItem,
    FilePickerScreen,
    WritingScreen,
)
from tests.ui.helpers import seed_conversation, settle

SIZE = (110, 34)


def status_text(app) -> str:
    return str(app.query_one(StatusLine).render())


async def type_text(pilot, text: str) -> None:
    for char in text:
        await pilot.press("space" if char == " " else char)


# ------------------------------------------------------------------ fault 1
async def test_typing_while_a_reply_streams_is_kept_and_enter_queues(make_app, ui_model):
    ui_model.delay = 0.02
    ui_model.enqueue([f"w{i} " for i in range(300)])
    ui_model.enqueue("Second reply.")
    ui_model.enqueue("Third reply.")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "first")
        await pilot.press("enter")
        assert await asyncio.to_thread(ui_model.started.wait, 10)
        await type_text(pilot, "second one")
        assert app.chat.controller.streaming
        assert app.chat.prompt.text == "second one"  # nothing dropped
        await pilot.press("enter")
        await type_text(pilot, "third")
        await pilot.press("enter")
        pending = [v for v in app.chat.chat_view.views if v.has_class("-pending")]
        assert [v.shown_text for v in pending] == ["second one", "third"]
        assert "pending" in str(pending[0].query_one(".footer").render())
        await pilot.press("up")  # the last queued message comes back to the box
        assert app.chat.prompt.text == "third"
        pending = [v for v in app.chat.chat_view.views if v.has_class("-pending")]
        assert [v.shown_text for v in pending] == ["second one"]
        await pilot.press("enter")
        assert app.chat.prompt.text == "" and app.chat.controller.streaming
        await type_text(pilot, "draft")  # not sent: stays while the queue is sent
        await settle(pilot)
        assert app.chat.prompt.text == "draft"
        # sent in order once the reply before them ended
        asked = [h[-1].content for h in ui_model.history]
        assert asked == ["first", "second one", "third"]
        shown = [v.shown_text for v in app.chat.chat_view.views]
        assert shown[2:] == ["second one", "Second reply.", "third", "Third reply."]
        assert not any(v.has_class("-pending") for v in app.chat.chat_view.views)


# ------------------------------------------------------------------ fault 2
async def test_escape_from_the_sources_gives_the_keys_back_to_the_box(make_app, ui_model):
    from assistant.domain import Citation

    conversation = seed_conversation("Cats", [("where?", "On the sofa [1].")])
    repo = Runtime().repo
    reply = repo.messages(conversation)[-1]
    source = Citation(1, "pets", "cat.md", "/nowhere/cat.md", 1, 2)
    repo.update_message(reply.id, citations=[source])
    repo.db.close()
    app = make_app(conversation)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        assert app.focused is not app.chat.prompt
        await pilot.press("escape")
        assert app.focused is app.chat.prompt
        await type_text(pilot, "e?")
        await settle(pilot)
        assert app.chat.prompt.text == "e?"
        assert not isinstance(app.screen, HelpScreen)
        assert "no longer there" not in status_text(app)  # `e` opened nothing


# ------------------------------------------------------------------ fault 4
async def test_toasts_leave_the_box_and_the_status_line_visible(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        app.notify("A notice that would cover things.", timeout=10)
        await app.chat.controller.error(
            "Something went wrong and this sentence is long enough to wrap."
        )
        await pilot.pause(0.3)
        toasts = [t.region for t in app.screen.query("Toast")]
        assert toasts
        for region in toasts:
            assert not region.overlaps(app.chat.prompt.region)
            assert not region.overlaps(app.query_one(StatusLine).region)


# ------------------------------------------------------------------ fault 6
async def test_writing_screen_saves_pasted_text_with_save_as(make_app, tmp_path: Path):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, WritingScreen)
        screen.query_one("#source").load_text("Pasted words to keep.\n")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SaveAsScreen)
        field = app.screen.query_one(Input)
        field.value = str(tmp_path / "kept.md")
        await pilot.press("enter")
        await settle(pilot)
        assert (tmp_path / "kept.md").read_text() == "Pasted words to keep.\n"
        assert screen.path == tmp_path / "kept.md" and not screen.unsaved()


async def test_writing_file_picker_takes_a_typed_path_and_asks_before_replacing_text(
    make_app, tmp_path: Path
):
    doc = tmp_path / "deep" / "letter.txt"
    doc.parent.mkdir()
    doc.write_text("Dear Sam,\n")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, WritingScreen)
        screen.query_one("#source").load_text("Unsaved draft.\n")
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)  # unsaved text: asked first
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and screen.query_one("#source").text == "Unsaved draft.\n"
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, FilePickerScreen)
        field = picker.query_one("#picker-path", Input)
        field.value = str(doc)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert screen.query_one("#source").text == "Dear Sam,\n" and screen.path == doc


async def test_chat_keys_do_nothing_on_the_writing_screen(make_app, ui_model):
    conversation = seed_conversation("Hidden behind", [("q", "a")])
    app = make_app(conversation)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        writing = app.screen
        for key in ("f8", "ctrl+n", "ctrl+r", "f5", "f2", "ctrl+s"):
            await pilot.press(key)
            await settle(pilot)
            assert not isinstance(app.screen, ConfirmDeleteScreen), key
        assert app.screen is writing or isinstance(app.screen, SaveAsScreen)
        assert app.chat.controller.conversation_id == conversation
        assert not app.chat.controller.state.use_notes
        assert [m.content for m in app.runtime.repo.messages(conversation)] == ["q", "a"]
        assert ui_model.history == []


async def test_a_change_that_drops_a_sentence_starts_rejected_and_long_lines_wrap(
    make_app, ui_model
):
    long_line = "This opening sentence is long " + "and keeps going " * 12 + "to the end."
    original = f"{long_line}\n\nKeep this sentence. Drop this sentence too.\n"
    edited = f"{long_line.replace('opening', 'first')}\n\nKeep this sentence.\n"
    ui_model.enqueue(edited)
    app = make_app()
    async with app.run_test(size=(80, 30)) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, WritingScreen)
        screen.query_one("#source").load_text(original)
        screen.start_action("proofread")
        await settle(pilot)
        items = list(screen.query(ChangeItem))
        assert [item.drops for item in items] == [False, True]
        assert [item.accepted for item in items] == [True, False]
        assert "leaves out a sentence" in str(items[1].body.render())
        # the long line wraps inside the screen instead of being cut
        assert items[0].body.region.height >= 4
        assert items[0].body.region.right <= 80
        rendered = " ".join(str(items[0].body.render()).split())
        assert "to the end." in rendered


# ------------------------------------------------------------------ fault 7
async def test_persona_alone_says_which_and_completion_describes(make_app, ui_model):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "/persona tutor")
        await pilot.press("enter")
        await pilot.pause()
        assert "persona tutor" in status_text(app)  # the active persona is shown
        await type_text(pilot, "/persona")
        await pilot.press("enter")
        await pilot.pause()
        note = str(app.chat.chat_view.query(NoteView).last().render())
        assert "Persona in use: tutor" in note and "editor" in note
        assert app.chat.controller.state.persona == "tutor"  # nothing was reset
        await type_text(pilot, "/su")
        options = app.query_one(SlashOptions)
        label = str(options.get_option_at_index(0).prompt)
        assert label.startswith("/summarise  — ") and "/summarize" in label
        assert options.option_count == 1  # the alias is not a second line
        app.chat.prompt.clear()
        await type_text(pilot, "/persona default")
        await pilot.press("enter")
        await pilot.pause()
        assert app.chat.controller.state.persona is None and "persona" not in status_text(app)


# ------------------------------------------------------------------ fault 8
async def test_status_follows_the_conversation_and_counts_the_reply(make_app, ui_model):
    seed_conversation("Quiet", [("q", "a")])
    ui_model.enqueue(["one", " two", " three"])
    app = make_app()
    async with app.run_test(size=(120, 34)) as pilot:
        await settle(pilot)
        await type_text(pilot, "count to three")
        await pilot.press("enter")
        await settle(pilot)
        reply = app.runtime.repo.messages(app.chat.controller.conversation_id)[-1]
        used = reply.prompt_tokens + reply.completion_tokens
        text = status_text(app)
        share = f"{used / ui_model.context_size:.0%}"
        assert f"context {used}/{ui_model.context_size} ({share})" in text
        assert text.rstrip().endswith(f"({share})")  # whole, even at 120 columns
        app.chat.status.notice_text = "A long notice " * 8
        await pilot.pause()
        assert status_text(app).rstrip().endswith(f"({share})")
        # another conversation: the figures of this one are gone
        app.chat.sidebar.focus()
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.chat.controller.conversation_id != reply.conversation_id
        text = status_text(app)
        assert "tok/s" in text and "context" not in text  # its reply has stats, no prompt count
        assert "A long notice" not in text


# ------------------------------------------------------------------ fault 9
async def test_page_keys_scroll_from_the_box_and_home_shows_the_first_message(make_app):
    exchanges = [
        (f"Question {i}: " + "words " * 30, f"Answer {i}\n\n" + "text " * 60) for i in range(8)
    ]
    conversation = seed_conversation("Long", exchanges)
    app = make_app(conversation)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        chat = app.chat.chat_view
        bottom = chat.scroll_y
        assert bottom > 0 and app.focused is app.chat.prompt
        await pilot.press("pageup")
        await settle(pilot)
        # up from the bottom (earlier messages are drawn above as it gets
        # there, so the offset itself may grow)
        assert chat.scroll_y < chat.max_scroll_y
        await pilot.press("pagedown")
        await settle(pilot)
        assert chat.scroll_y == chat.max_scroll_y  # back at the bottom
        await pilot.press("ctrl+up", "home")
        await pilot.pause(0.3)
        first = chat.views[0]
        assert chat.scroll_y == 0
        assert first.region.y >= chat.region.y  # its first line is on screen
        assert first.shown_text.startswith("Question 0")


# ------------------------------------------------------------------ fault 12
async def test_the_sidebar_hides_when_narrow_and_ctrl_b_toggles_it(make_app):
    seed_conversation("Something", [("q", "a")])
    app = make_app()
    async with app.run_test(size=(40, 20)) as pilot:
        await settle(pilot)
        assert not app.chat.sidebar_box.display  # 40 columns: all of them for the chat
        await pilot.press("ctrl+b")
        assert app.chat.sidebar_box.display
        await pilot.press("ctrl+b")
        assert not app.chat.sidebar_box.display and app.focused is app.chat.prompt
    app = make_app()
    async with app.run_test(size=(100, 20)) as pilot:
        await settle(pilot)
        assert app.chat.sidebar_box.display
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert not app.chat.sidebar_box.display
        assert app.chat.chat_view.region.x == 0


# ------------------------------------------------------------------ fault 13
async def test_a_long_history_loads_page_by_page(make_app):
    from datetime import datetime, timedelta

    from assistant.domain import Conversation, Message
    from assistant.ui.sidebar import PAGE

    start = datetime(2025, 1, 1)
    batch = []
    for n in range(PAGE * 3 + 7):
        when = start + timedelta(minutes=n)
        conversation = Conversation(0, f"Conversation {n}", when, when, uid=f"bulk-{n}")
        conversation.messages = [
            Message(1, 0, Role.USER, f"question {n}", MessageStatus.COMPLETE, when),
            Message(2, 0, Role.ASSISTANT, f"answer {n}", MessageStatus.COMPLETE, when, parent_id=1),
        ]
        batch.append(conversation)
    repo = Runtime().repo
    repo.import_conversations(batch)
    repo.db.close()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        listing = app.chat.sidebar
        assert len(listing.conversations) == PAGE and listing.has_more
        assert listing.conversations[0].title == f"Conversation {PAGE * 3 + 6}"
        listing.focus()
        await pilot.press("end")
        await settle(pilot)
        assert len(listing.conversations) > PAGE
        for _ in range(5):
            await pilot.press("end")
            await settle(pilot)
        assert len(listing.conversations) == PAGE * 3 + 7 and not listing.has_more
        assert listing.conversations[-1].title == "Conversation 0"
        assert len({c.id for c in listing.conversations}) == PAGE * 3 + 7


async def test_a_stopped_reply_says_stopped(make_app, ui_model):
    """Fault 11, on screen: the one word."""
    conversation = seed_conversation("Cut", [("q", "half")], status="stopped")
    app = make_app(conversation)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        footer = str(app.chat.chat_view.views[-1].query_one(".footer").render())
        assert "stopped" in footer and "cancel" not in footer and "interrupt" not in footer
        assert isinstance(app.chat.chat_view.views[-1], MessageView)
