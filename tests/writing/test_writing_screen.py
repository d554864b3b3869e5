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
    assert request.content.startswith("/proofread\n\n") and ORIGINAL in request.content
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
    assert (tmp_path / "report-summarise.md").read_text() == "A short summary.\n"  # a text file


async def test_translate_asks_for_the_language_and_records_it(tmp_path: Path, repo):
    """Issue 18: F4's translate and tone ran at once with a hidden default
    (French); they ask, and the choice is in the request and the status."""
    from textual.widgets import Input

    doc = tmp_path / "note.txt"
    doc.write_text("Good morning.\n")
    model = EchoModel(transform=lambda _text: "Guten Morgen.")
    chat = chat_on(repo, model, tmp_path)
    screen = WritingScreen(lambda: chat, path=doc)
    app = WritingTestApp(screen)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        screen.start_action("translate")
        await settle(pilot)
        assert model.history == []  # nothing ran yet: it asks first
        assert app.screen is not screen
        app.screen.query_one(Input).value = "German"
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert "German" in "\n".join(t.content for t in model.history[-1])
        assert "French" not in "\n".join(t.content for t in model.history[-1])
        assert "German" in str(screen.query_one("#status").render())
    (conversation,) = repo.list_conversations()
    request = repo.messages(conversation.id)[0]
    assert request.content.startswith("/translate German")


async def test_escape_on_the_question_runs_nothing(tmp_path: Path, repo):
    doc = tmp_path / "note.txt"
    doc.write_text("Hey.\n")
    model = EchoModel(transform=lambda _text: "Good day.")
    screen = WritingScreen(lambda: chat_on(repo, model, tmp_path), path=doc)
    app = WritingTestApp(screen)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        screen.start_action("tone")
        await settle(pilot)
        assert app.screen is not screen
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and model.history == [] and not screen.busy


async def test_one_change_is_one_change(tmp_path: Path, repo):
    doc = tmp_path / "note.txt"
    doc.write_text("Teh cat sat.\n")
    model = EchoModel(transform=lambda t: t.replace("Teh", "The"))
    screen = WritingScreen(lambda: chat_on(repo, model, tmp_path), path=doc)
    app = WritingTestApp(screen)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        screen.start_action("proofread")
        await settle(pilot)
        status = str(screen.query_one("#status").render())
        assert "1 change." in status and "1 changes" not in status


async def test_save_as_into_a_missing_folder_says_it_once(tmp_path: Path, repo):
    from textual.widgets import Input

    screen = WritingScreen(lambda: chat_on(repo, EchoModel(), tmp_path))
    app = WritingTestApp(screen)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        screen.query_one("#source").load_text("Some words.\n")
        await pilot.press("ctrl+s")
        await settle(pilot)
        app.screen.query_one(Input).value = str(tmp_path / "absent-folder" / "kept.md")
        await pilot.press("enter")
        await settle(pilot)
        said = [str(n.message) for n in app._notifications if "absent" in str(n.message)]
        assert len(said) == 1 and "does not exist" in said[0]
        assert said[0].count("absent-folder") == 1  # one sentence, not two in a row
        assert not (tmp_path / "absent-folder").exists()
