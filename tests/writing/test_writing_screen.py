"""Pilot test: the writing screen inside a minimal app, on a scripted model."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.widgets import Log

from assistant.chat.service import ChatService
from assistant.ui.writing_screen import ChangeItem, WritingScreen
from assistant.writing.templates import load_library
from tests.writing.helpers import EchoModel

ORIGINAL = "Teh first line.\n\nA line that is fine.\n\nWe recieve mail.\n"


class WritingTestApp(App[None]):
    def __init__(self, screen: WritingScreen) -> None:
        super().__init__()
        self.writing = screen

    def on_mount(self) -> None:
        self.push_screen(self.writing)


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()


def chat_on(repo, model, tmp_path: Path) -> ChatService:
    library = load_library(tmp_path / "none")
    return ChatService(repo, model, library=lambda: library, flush_interval=0.0)


async def test_choose_action_accept_one_change_reject_another_and_save(tmp_path: Path, repo):
    doc = tmp_path / "letter.txt"
    doc.write_text(ORIGINAL)
    model = EchoModel(
        transform=lambda t: t.replace("Teh", "The").replace("recieve", "receive") + "\x1b[2J"
    )
    chat = chat_on(repo, model, tmp_path)
    screen = WritingScreen(lambda: chat, path=doc)
    app = WritingTestApp(screen)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        assert screen.query_one("#source").text == ORIGINAL
        # choose the action from the command palette
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"proofread")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert model.history, "the action did not run"
        shown = "\n".join(screen.query_one("#result", Log).lines)
        assert "\x1b" not in shown and "^[[2J" in shown  # escape shown, not obeyed
        items = list(screen.query(ChangeItem))
        assert [item.change.old_lines for item in items] == [
            ("Teh first line.\n",),
            ("We recieve mail.\n",),
        ]
        # accept the first change, reject the second
        await pilot.press("a")
        await pilot.press("r")
        await pilot.pause()
        assert [item.accepted for item in items] == [True, False]
        await pilot.press("ctrl+s")
        await settle(pilot)
    assert doc.read_text() == "The first line.\n\nA line that is fine.\n\nWe recieve mail.\n"
    assert (tmp_path / "letter.txt.bak").read_text() == ORIGINAL
    # the run is stored like a chat exchange, in the screen's own conversation
    (conversation,) = repo.list_conversations()
    assert conversation.title == "Writing: letter.txt"
    request, reply = repo.messages(conversation.id)
    assert request.content.startswith("/proofread (letter.txt)") and ORIGINAL in request.content
    assert reply.status == "complete" and "The first line." in reply.content


async def test_model_error_is_shown_and_text_kept(tmp_path: Path, repo):
    from assistant.errors import ModelError

    model = EchoModel()
    model.fail_with = ModelError("The model file is damaged.")
    chat = chat_on(repo, model, tmp_path)
    screen = WritingScreen(lambda: chat)
    app = WritingTestApp(screen)
    async with app.run_test() as pilot:
        await settle(pilot)
        screen.query_one("#source").load_text("some words here to fix")
        screen.start_action("proofread")
        await settle(pilot)
        assert not screen.busy
        assert screen.query_one("#source").text == "some words here to fix"
        assert any("damaged" in str(n.message) for n in app._notifications)


async def test_a_new_text_is_never_saved_over_the_file(tmp_path: Path, repo):
    """The rule the CLI's --in-place follows holds on the screen too: only an
    action that edits may replace the file; a summary goes to a new file."""
    from textual.widgets import Input

    from assistant.ui.screens import SaveAsScreen

    doc = tmp_path / "report.txt"
    doc.write_text(ORIGINAL)
    model = EchoModel(transform=lambda _text: "A short summary.")
    chat = chat_on(repo, model, tmp_path)
    screen = WritingScreen(lambda: chat, path=doc)
    app = WritingTestApp(screen)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        screen.start_action("summarise")
        await settle(pilot)
        assert screen.result_text == "A short summary."
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, SaveAsScreen)
        field = app.screen.query_one(Input)
        assert field.value == str(tmp_path / "report-summarise.md")
        assert any("writes a new text" in str(n.message) for n in app._notifications)
        await pilot.press("enter")
        await settle(pilot)
    assert doc.read_text() == ORIGINAL
    assert (tmp_path / "report-summarise.md").read_text() == "A short summary."
