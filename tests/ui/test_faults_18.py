"""The TUI faults a new user hit (issue 18), each driven by keys through
Pilot on the real app. They reach the widgets by type (``app.query_one``),
not through the app's attributes, so the same tests ran on main before the
fixes, and failed there."""

from __future__ import annotations

import asyncio
import gc
import threading
from pathlib import Path

import pytest
from textual.widgets import Input

from assistant.domain import Citation, Role
from assistant.runtime import Runtime
from assistant.ui.panels import PromptInput
from assistant.ui.screens import ExportScreen, HelpScreen, PassageScreen, RenameScreen
from assistant.ui.sidebar import ConversationList
from assistant.ui.widgets import ChatView, MessageView
from tests.ui.helpers import seed_conversation, settle

SIZE = (100, 30)


async def type_text(pilot, text: str) -> None:
    for char in text:
        await pilot.press("space" if char == " " else char)


def prompt(app) -> PromptInput:
    return app.query_one(PromptInput)


def on_screen(app, view: MessageView) -> bool:
    """True when the first line of ``view`` is inside the chat's visible area."""
    chat = app.query_one(ChatView)
    return chat.region.y <= view.region.y < chat.region.bottom


# -------------------------------------------------------------- focus
async def test_after_enter_in_the_sidebar_the_keys_go_to_the_message_box(make_app):
    seed_conversation("Weather", [("rain?", "Yes.")])
    seed_conversation("Other", [("q", "a")])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.query_one(ConversationList).focus()
        await pilot.press("down", "enter")
        await settle(pilot)
        await type_text(pilot, "rain")
        await settle(pilot)
        assert not isinstance(app.screen, RenameScreen)  # "r" did not open Rename
        assert prompt(app).text == "rain" and app.focused is prompt(app)


async def test_after_esc_from_a_passage_the_question_goes_to_the_box(make_app, tmp_path: Path):
    paper = tmp_path / "paper.pdf"
    paper.write_bytes(b"%PDF-1.4 not really")
    conversation = seed_conversation("Paper", [("what does it say?", "This [1].")])
    repo = Runtime().repo
    reply = repo.messages(conversation)[-1]
    repo.update_message(
        reply.id, citations=[Citation(1, "docs", "paper.pdf", str(paper), 1, 2, kind="pdf")]
    )
    repo.db.close()
    app = make_app(conversation)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f3", "enter")
        await settle(pilot)
        assert isinstance(app.screen, PassageScreen)
        await pilot.press("escape")
        await settle(pilot)
        await type_text(pilot, "e?")
        await settle(pilot)
        assert not isinstance(app.screen, PassageScreen | HelpScreen)
        assert prompt(app).text == "e?"


async def test_esc_in_the_filter_clears_it_and_goes_back_to_the_box(make_app):
    seed_conversation("Bikes", [("chain?", "Every 3000 km.")])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+f")
        await type_text(pilot, "zz")
        await pilot.press("escape")
        await settle(pilot)
        await type_text(pilot, "hi")
        assert prompt(app).text == "hi"
        assert app.query_one("#sidebar-filter", Input).value == ""


# ------------------------------------------------ changes made elsewhere
async def test_the_sidebar_shows_what_the_cli_changed(make_app, monkeypatch):
    from assistant.chat.controller import ChatController

    seed_conversation("Before", [("q", "a")])
    noticed = asyncio.Event()
    original = ChatController.history_changed

    async def watched(self) -> bool:
        changed = await original(self)
        if changed:
            noticed.set()
        return changed

    monkeypatch.setattr(ChatController, "history_changed", watched)
    monkeypatch.setattr("assistant.ui.chat_screen.HISTORY_POLL_SECONDS", 0.05)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        listing = app.query_one(ConversationList)
        assert [c.title for c in listing.conversations] == ["Before"]
        # what `assistant ask` and `history rename` do, from another process's connection
        seed_conversation("Asked from the shell", [("q2", "a2")])
        cli = Runtime()
        before = cli.repo.list_conversations()[-1]
        cli.repo.rename(before.id, "Renamed from the shell")
        cli.db.close()
        await asyncio.wait_for(noticed.wait(), 30)
        await settle(pilot)
        assert {c.title for c in listing.conversations} == {
            "Asked from the shell",
            "Renamed from the shell",
        }


# ------------------------------------------- the message in question
LONG = "word " * 120


def seed_long_branches() -> tuple[int, int]:
    """Six long exchanges; the second question has an older version whose
    branch is long too. Returns the conversation and the newer question."""
    repo = Runtime().repo
    conversation = repo.create_conversation("Long", model="fake-model").id
    first = repo.add_message(conversation, Role.USER, f"Question one {LONG}")
    first_reply = repo.add_message(conversation, Role.ASSISTANT, f"Answer one {LONG}")
    old = repo.add_message(conversation, Role.USER, f"Old question two {LONG}")
    for n in range(4):
        repo.add_message(conversation, Role.ASSISTANT, f"Old answer {n} {LONG}")
        repo.add_message(conversation, Role.USER, f"Old follow-up {n} {LONG}")
    new = repo.add_message(
        conversation, Role.USER, f"New question two {LONG}", parent_id=first_reply.id
    )
    for n in range(3):  # the new question is drawn, far above the box
        repo.add_message(conversation, Role.ASSISTANT, f"New answer {n} {LONG}")
        repo.add_message(conversation, Role.USER, f"New follow-up {n} {LONG}")
    repo.db.close()
    assert first.id < old.id < new.id
    return conversation, new.id


async def test_after_alt_left_the_other_version_is_on_screen_and_marked(make_app):
    conversation, _ = seed_long_branches()
    app = make_app(conversation)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("alt+left")
        await settle(pilot)
        await pilot.pause()
        views = app.query_one(ChatView).query(MessageView)
        (old,) = [v for v in views if v.text.startswith("Old question two")]
        assert old.has_class("-found")
        assert on_screen(app, old)


async def test_a_search_hit_is_on_screen_and_marked(make_app):
    exchanges = [(f"Question {i} {LONG}", f"Answer {i} {LONG}") for i in range(8)]
    exchanges[1] = (f"Tell me about aardvarks {LONG}", f"They dig {LONG}")  # far up
    conversation = seed_conversation("Animals", exchanges)
    seed_conversation("Other", [("something", "else")])
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await type_text(pilot, "aardvarks")
        await settle(pilot)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.pause()
        views = app.query_one(ChatView).query(MessageView)
        (hit,) = [v for v in views if v.text.startswith("Tell me about aardvarks")]
        assert hit.has_class("-found") and on_screen(app, hit)
        assert conversation


# ---------------------------------------------- drawing without a pause
async def test_the_apps_own_heap_is_out_of_full_collections_the_messages_are_not(make_app):
    """A full pass of the collector walked everything the app had loaded
    (~60 ms, landing in the middle of a branch switch); the app keeps what
    lives as long as it out of those passes, but not the message views,
    which go when another conversation is shown, and gives it all back when
    it ends."""

    def collectable(views: list[MessageView]) -> bool:
        tracked = {id(o) for o in gc.get_objects()}  # the frozen ones are not listed
        return bool(views) and all(id(v) in tracked for v in views)

    first = seed_conversation("First", [(f"question {n}", f"answer {n}") for n in range(3)])
    second = seed_conversation("Second", [("question b", "answer b")])
    app = make_app(first)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert gc.get_freeze_count() > 0  # modules, runtime, screen, the sidebar's page
        assert collectable(list(app.query_one(ChatView).query(MessageView)))
        listing = app.query_one(ConversationList)
        assert collectable([listing]) is False  # it lives as long as the app
        listing.focus()
        listing.highlighted = [c.id for c in listing.conversations].index(second)
        await pilot.press("enter")
        await settle(pilot)
        views = list(app.query_one(ChatView).query(MessageView))
        assert [v.text for v in views] == ["question b", "answer b"]
        assert collectable(views)
    assert gc.get_freeze_count() == 0


async def test_the_footer_is_rebuilt_once_a_frame_at_start_and_follows_the_focus(
    make_app, monkeypatch: pytest.MonkeyPatch
):
    """The focus settles in three steps at start-up; the footer rebuilt its
    keys for each before the sidebar could be drawn. Now at most once a
    frame (twice), and it still shows the keys of whatever has the focus."""
    from textual.widgets._footer import FooterKey

    from assistant.ui.panels import KeysFooter

    builds: list[KeysFooter] = []
    original = KeysFooter.recompose

    async def counted(self: KeysFooter) -> None:
        builds.append(self)
        await original(self)

    monkeypatch.setattr(KeysFooter, "recompose", counted)
    app = make_app(seed_conversation("One", [("question", "answer")]))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert len(builds) <= 2  # it was 3

        def keys() -> set[str]:
            return {key.description for key in app.screen.query(FooterKey)}

        assert "Quit" in keys() and "Edit" not in keys()  # the message box's
        await pilot.press("ctrl+up")  # into the messages: their keys
        await settle(pilot)
        assert {"Edit", "Fork", "Copy"} <= keys()
        await pilot.press("escape")
        await settle(pilot)
        assert "Edit" not in keys() and prompt(app).has_focus


async def test_a_200_message_branch_opens_with_a_screenful_and_versions_far_up_are_reached(
    make_app,
):
    """The bench's shape (bench/history.py): the reply to the first question
    has two versions, a short branch and a 200-message one. Opening draws a
    screenful of the long one; Alt+Left and Alt+Right bring the version of
    that early reply on screen, marked; Home brings the first message."""
    repo = Runtime().repo
    conversation = repo.create_conversation("Long", model="fake-model").id
    question = repo.add_message(conversation, Role.USER, "The first question")
    repo.add_message(conversation, Role.ASSISTANT, "The short version", parent_id=question.id)
    repo.add_message(conversation, Role.USER, "A follow-up on the short one")
    parent = repo.add_message(
        conversation, Role.ASSISTANT, "The long version", parent_id=question.id
    )
    for n in range(2, 200):
        role = Role.USER if n % 2 == 0 else Role.ASSISTANT
        parent = repo.add_message(
            conversation, role, f"Message {n + 1} {LONG}", parent_id=parent.id
        )
    repo.db.close()
    app = make_app(conversation)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        chat = app.query_one(ChatView)
        views = list(chat.query(MessageView))
        assert 0 < len(views) <= ChatView.WINDOW < 200
        assert views[-1].text.startswith("Message 200 ")
        await pilot.press("alt+left")
        await settle(pilot)
        await pilot.pause()
        (short,) = [v for v in chat.query(MessageView) if v.text == "The short version"]
        assert short.has_class("-found") and on_screen(app, short)
        await pilot.press("alt+right")
        await settle(pilot)
        await pilot.pause()
        views = list(chat.query(MessageView))
        (long,) = [v for v in views if v.text == "The long version"]
        assert long.has_class("-found") and on_screen(app, long)
        assert len(views) <= ChatView.WINDOW
        await pilot.press("ctrl+up", "home")
        await settle(pilot)
        first = list(chat.query(MessageView))[0]
        assert first.text == "The first question" and on_screen(app, first)
        assert len(chat.query(MessageView)) < 200  # the rest as the reader scrolls down


# --------------------------------------------------------- @path and Tab
async def test_a_fast_tab_completes_the_path_and_never_leaves_the_box(
    make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import assistant.chat.attachments as attachments

    monkeypatch.chdir(tmp_path)
    (tmp_path / "plan.md").write_text("# Plan\n")
    gate, asked = threading.Event(), threading.Event()
    original = attachments.complete_path

    def slow(prefix: str, *args, **kwargs):
        asked.set()
        gate.wait(30)
        return original(prefix, *args, **kwargs)

    monkeypatch.setattr(attachments, "complete_path", slow)
    seed_conversation("Do not rename me", [("q", "a")])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "summarise @pl")
        assert await asyncio.to_thread(asked.wait, 30)
        await pilot.press("tab")  # before the list arrived
        await pilot.press("tab")  # impatient
        gate.set()
        await settle(pilot)
        assert app.focused is prompt(app)
        assert prompt(app).text == "summarise @plan.md "
        await type_text(pilot, "r")
        assert not isinstance(app.screen, RenameScreen)
        assert prompt(app).text == "summarise @plan.md r"


# --------------------------------------------------------- wording
def screen_text(app) -> str:
    """The characters the screen shows, row by row (no styles)."""
    import re

    shown = app.screen._compositor.render_full_update().render_segments(app.console)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_export_hint_is_whole(make_app, size):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        app.push_screen(ExportScreen(Path("/home/me/holiday-plans.md")))
        await settle(pilot)
        text = " ".join(screen_text(app).replace("│", " ").split())
        assert "Both list the sources." in text and "Enter writes, Esc cancels." in text


async def test_a_hit_in_a_short_conversation_shows_the_whole_exchange(make_app):
    """Found by hand: after a longer conversation, a short one opened on a
    hit was drawn half below the box (the reply under it)."""
    seed_conversation("Keys", [("备用钥匙在哪里？", "在门口的花盆下面。")])
    seed_conversation("Long", [(f"Question {i} {LONG}", f"Answer {i} {LONG}") for i in range(6)])
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        listing = app.query_one(ConversationList)
        listing.focus()
        await pilot.press("enter")  # the long one, newest
        await settle(pilot)
        await pilot.press("ctrl+p")
        await type_text(pilot, "钥匙")
        await settle(pilot)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.pause()
        views = list(app.query_one(ChatView).query(MessageView))
        assert [v.text for v in views] == ["备用钥匙在哪里？", "在门口的花盆下面。"]
        chat = app.query_one(ChatView)
        assert all(
            chat.region.y <= v.region.y and v.region.bottom <= chat.region.bottom for v in views
        )
