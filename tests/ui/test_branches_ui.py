"""Issue 9 in the TUI, driven by keys: editing a sent message and answering
again make branches with a "2/3" marker and keys to move between them;
forking; the sidebar filter; the command-palette search that opens a hit on
its branch; export from the TUI; long branches drawn from the end."""

from __future__ import annotations

import json
from pathlib import Path

from textual.command import CommandPalette
from textual.widgets import Input

from assistant.domain import Role
from assistant.ui.screens import ExportScreen
from assistant.ui.widgets import EarlierMessages, MessageHead
from tests.ui.helpers import seed_conversation, settle

SIZE = (110, 34)


async def type_text(pilot, text: str) -> None:
    for char in text:
        await pilot.press("space" if char == " " else char)


def shown(app) -> list[str]:
    return [v.shown_text for v in app.chat.chat_view.views]


def marker(view) -> str:
    return view.marker_text


async def test_edit_a_sent_message_by_keys_and_move_between_versions(make_app, ui_model):
    conversation = seed_conversation("Capitals", [("Capital of France?", "Paris.")])
    ui_model.enqueue("Berlin.")
    app = make_app(conversation)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+up")  # pick the last message, then the question above
        await pilot.press("up")
        assert app.chat.chat_view.selected is app.chat.chat_view.views[0]
        await pilot.press("e")
        assert app.focused is app.chat.prompt and app.chat.prompt.text == "Capital of France?"
        assert app.chat.mode_label.display
        await pilot.press(*["backspace"] * len("France?"))
        await type_text(pilot, "Germany?")
        await pilot.press("enter")
        await settle(pilot)
        assert shown(app) == ["Capital of Germany?", "Berlin."]
        assert [t.content for t in ui_model.history[-1] if t.role != Role.SYSTEM] == [
            "Capital of Germany?"
        ]
        assert marker(app.chat.chat_view.views[0]) == "‹ 2/2 ›"
        assert not app.chat.mode_label.display
        # back to the first version: its whole branch comes back
        await pilot.press("alt+left")
        await settle(pilot)
        assert shown(app) == ["Capital of France?", "Paris."]
        assert marker(app.chat.chat_view.views[0]) == "‹ 1/2 ›"
        await pilot.press("alt+right")
        await settle(pilot)
        assert shown(app) == ["Capital of Germany?", "Berlin."]
        # the branch in front of the user is remembered
        thread = app.runtime.repo.thread(conversation)
        assert [m.content for m in thread.messages] == ["Capital of Germany?", "Berlin."]


async def test_a_click_on_the_marker_moves_between_versions(make_app, ui_model):
    ui_model.enqueue("One.")
    ui_model.enqueue("Two.")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "hi")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        head = app.chat.chat_view.views[1].query_one(MessageHead)
        assert str(head.render()).endswith("‹ 2/2 ›")
        left = head.content_region.width - len(head.marker) + 1
        await pilot.click(head, offset=(left + 1, 0))  # the marker's left half: previous
        await settle(pilot)
        assert shown(app) == ["hi", "One."]


async def test_the_sidebar_filter_finds_titles_and_text(make_app):
    seed_conversation("Garden plans", [("tomatoes?", "In May.")])
    seed_conversation("Bikes", [("chain?", "Replace the chain every 3000 km.")])
    seed_conversation("Cooking", [("bread?", "Knead it well.")])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+f")
        assert isinstance(app.focused, Input)
        await type_text(pilot, "chain")
        await pilot.pause(0.3)
        await settle(pilot)
        assert [c.title for c in app.chat.sidebar.conversations] == ["Bikes"]
        await pilot.press("enter", "enter")  # into the list, then open
        await settle(pilot)
        assert shown(app)[0] == "chain?"
        await pilot.press("ctrl+f", "escape")  # clears the filter
        await pilot.pause(0.3)
        await settle(pilot)
        assert len(app.chat.sidebar.conversations) == 3


async def test_palette_search_opens_the_hit_on_its_branch(make_app, ui_model):
    conversation = seed_conversation("Animals", [("Tell me about aardvarks", "They dig.")])
    seed_conversation("Other", [("something", "else")])
    ui_model.enqueue("Zebras have stripes.")
    app = make_app(conversation)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+up", "up", "e", "ctrl+u")
        await type_text(pilot, "Tell me about zebras")
        await pilot.press("enter")
        await settle(pilot)
        await app.chat.controller.open(None)
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await type_text(pilot, "aardvark")
        await pilot.pause(0.5)
        await settle(pilot)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.pause()
        assert app.chat.controller.conversation_id == conversation
        assert shown(app) == ["Tell me about aardvarks", "They dig."]  # the hit's branch
        assert app.chat.chat_view.selected is app.chat.chat_view.views[0]
        assert app.chat.chat_view.views[0].has_class("-found")


async def test_export_from_the_tui_in_markdown_and_json(make_app, tmp_path: Path):
    from assistant.domain import Citation
    from assistant.runtime import Runtime

    conversation = seed_conversation("Cats and sofas", [("Where do cats sleep?", "Sofa [1].")])
    repo = Runtime().repo
    reply = repo.messages(conversation)[-1]
    repo.update_message(reply.id, citations=[Citation(1, "pets", "cat.md", "/p/cat.md", 2, 4)])
    repo.db.close()
    app = make_app(conversation)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for name in ("cats.md", "cats.json"):
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert isinstance(app.screen, ExportScreen)
            assert str(app.screen.suggested).endswith("cats-and-sofas.md")
            app.screen.query_one(Input).value = str(tmp_path / name)
            await pilot.press("enter")
            await settle(pilot)
        markdown = (tmp_path / "cats.md").read_text()
        assert "# Cats and sofas" in markdown and "- [1] pets/cat.md:2-4" in markdown
        data = json.loads((tmp_path / "cats.json").read_text())
        assert data["messages"][1]["sources"][0]["path"] == "cat.md"
        # an existing file is replaced only after asking
        (tmp_path / "cats.md").write_text("keep me")
        await pilot.press("ctrl+s")
        await settle(pilot)
        app.screen.query_one(Input).value = str(tmp_path / "cats.md")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert (tmp_path / "cats.md").read_text() == "keep me"


async def test_a_long_branch_is_drawn_from_the_end(make_app):
    from assistant.ui.widgets import ChatView

    exchanges = [(f"question {i}", f"answer {i}") for i in range(60)]
    conversation = seed_conversation("Long", exchanges)
    app = make_app(conversation)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        views = app.chat.chat_view.views
        assert len(views) == ChatView.WINDOW
        assert views[-1].shown_text == "answer 59"
        assert app.chat.chat_view.query(EarlierMessages)
        await pilot.press("ctrl+up", "home")
        await settle(pilot)
        assert len(app.chat.chat_view.views) == 120
        assert app.chat.chat_view.views[0].shown_text == "question 0"
        assert not app.chat.chat_view.query(EarlierMessages)


async def test_scrolling_to_the_top_draws_earlier_messages_in_chunks(make_app):
    from assistant.ui.widgets import ChatView

    exchanges = [(f"question {i}", f"answer {i}") for i in range(40)]
    conversation = seed_conversation("Long", exchanges)
    app = make_app(conversation)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        chat = app.chat.chat_view
        assert len(chat.views) == ChatView.WINDOW
        for _ in range(10):
            await pilot.press("pageup")
            await settle(pilot)
            if len(chat.views) > ChatView.WINDOW:
                break
        assert len(chat.views) == ChatView.WINDOW + ChatView.CHUNK
        assert chat.scroll_y > 0  # still where the reader was, not thrown to the top
        marker = chat.query_one(EarlierMessages)
        assert marker.count == 80 - ChatView.WINDOW - ChatView.CHUNK
