"""Pilot tests for notes in the app (issue 3) and chat slash commands (issue 4).

The notes tests use a real ``NotesService`` on a tiny folder with the real
bundled embedding model, loaded once for this module; the chat model is the
scripted FakeModel.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from assistant.domain import MessageStatus, Role
from assistant.notes.service import NotesService
from assistant.runtime import Runtime
from assistant.ui.app import AssistantApp
from assistant.ui.panels import SlashOptions, SourcesPanel, StatusLine
from assistant.ui.screens import RetrievalScreen
from tests.ui.helpers import seed_conversation, settle

SIZE = (110, 34)

GARDEN = """# Garden

## Tomatoes

The tomato seedlings go out on the fourteenth of May, after the last frost.
Water them every second evening.

## Roses

The climbing rose by the shed is pruned in February.
"""

BICYCLE = """# Bicycle

The chain was replaced in March with a KMC X11 chain; the next one is due
after about 3000 kilometres.
"""


@pytest.fixture(scope="module")
def shared_embedder(tmp_path_factory: pytest.TempPathFactory):
    from assistant.notes.embedder import SentenceEmbedder

    embedder = SentenceEmbedder(cache_dir=tmp_path_factory.mktemp("ui-embed-cache"))
    embedder.load()
    return embedder


@pytest.fixture
def notes_folder(tmp_path: Path, shared_embedder, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two notes, registered as a collection; the app's NotesService uses the
    shared embedder (the only change from what the app builds by itself)."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "garden.md").write_text(GARDEN)
    (folder / "bicycle.md").write_text(BICYCLE)

    def notes(rt: Runtime) -> NotesService:
        return rt._once("notes", lambda: NotesService(rt.db, rt.paths, embedder=shared_embedder))

    monkeypatch.setattr(Runtime, "notes", property(notes))
    rt = Runtime()
    rt.notes.add_collection(folder, "mine")
    rt.db.close()
    return folder


def status_text(app: AssistantApp) -> str:
    return str(app.query_one(StatusLine).render())


async def type_text(pilot, text: str) -> None:
    for char in text:
        await pilot.press("space" if char == " " else char)


async def ask_with_notes(pilot, app: AssistantApp, ui_model, question: str, answer: str) -> None:
    await pilot.press("f5")
    assert "using notes" in status_text(app)
    ui_model.enqueue(answer)
    await type_text(pilot, question)
    await pilot.press("enter")
    await settle(pilot)


async def test_notes_sync_at_start_toggle_and_sources(notes_folder, ui_model):
    app = AssistantApp(Runtime(), sync_notes=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "notes 2 files" in status_text(app)
        assert "using notes" not in status_text(app)

        await ask_with_notes(
            pilot, app, ui_model, "when do the tomato seedlings go out?", "Mid May [1]."
        )
        # the model saw the passages as quoted material; the stored question did not change
        prompt = ui_model.history[-1][-1].content
        assert "<<<PASSAGE 1 | garden.md:" in prompt and "fourteenth of May" in prompt
        rows = app.runtime.repo.messages(app.chat.controller.conversation_id)
        assert rows[0].content == "when do the tomato seedlings go out?"
        citations = rows[-1].citations
        assert citations and citations[0].path == "garden.md"
        assert citations[0].heading.endswith("Tomatoes")

        panel = app.query_one(SourcesPanel)
        assert panel.display
        # collection/path, as the CLI and the exports say it (issue 9, fault 10)
        first = f"[1] mine/garden.md:{citations[0].start_line}-{citations[0].end_line}"
        labels = [
            str(panel.query_one("#sources-list").get_option_at_index(i).prompt)
            for i in range(len(citations))
        ]
        # marked "→ " when the answer comes from it (the fake's reply here may not)
        assert labels[0].removeprefix("→ ").startswith(first) and "Tomatoes" in labels[0]

        # off again: the next question goes to the model as typed
        await pilot.press("f5")
        assert "using notes" not in status_text(app)
        ui_model.enqueue("No idea.")
        await type_text(pilot, "and roses?")
        await pilot.press("enter")
        await settle(pilot)
        assert ui_model.history[-1][-1].content == "and roses?"
        assert not panel.display  # the last reply cites nothing

        # click the grounded reply: its sources come back
        grounded = [v for v in app.chat.chat_view.views if v.role == Role.ASSISTANT][0]
        await pilot.click(grounded)
        await pilot.pause()
        assert panel.display and panel.citations[0].path == "garden.md"

        # reopened, the conversation shows its sources again (stored with the message)
        conversation = app.chat.controller.conversation_id
        await app.chat.controller.open(None)
        await settle(pilot)
        assert not panel.display
        await app.chat.controller.open(conversation)
        await settle(pilot)
        await pilot.pause()
        assert not panel.display  # last reply has none
        await pilot.click([v for v in app.chat.chat_view.views if v.role == Role.ASSISTANT][0])
        await pilot.pause()
        assert panel.citations == citations


async def test_editor_opens_the_selected_source_at_its_line(
    notes_folder, ui_model, tmp_path, monkeypatch
):
    record = tmp_path / "argv.txt"
    script = tmp_path / "fake-editor"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("EDITOR", str(script))

    app = AssistantApp(Runtime(), sync_notes=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await ask_with_notes(pilot, app, ui_model, "when was the bicycle chain replaced?", "[1]")
        panel = app.query_one(SourcesPanel)
        cited = panel.citations
        assert cited[0].path == "bicycle.md"

        await pilot.press("f3")  # to the sources list, then Enter on the first
        await pilot.press("enter")
        await pilot.pause()
        argv = record.read_text().splitlines()
        assert argv == [f"+{cited[0].start_line}", str(notes_folder / "bicycle.md")]

        # the second source, by Down then e
        assert len(cited) >= 2
        record.unlink()
        await pilot.press("down", "e")
        await pilot.pause()
        second = record.read_text().splitlines()
        assert second == [f"+{cited[1].start_line}", cited[1].abs_path]

        # an editor that is not installed is one clear message, and the app stays up
        monkeypatch.setenv("EDITOR", "no-such-editor-here --wait")
        await pilot.press("e")
        await pilot.pause()
        assert "“no-such-editor-here” was not found" in status_text(app)
        assert app.is_running


async def test_retrieval_view_shows_ranks_and_searches(notes_folder, ui_model):
    app = AssistantApp(Runtime(), sync_notes=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await ask_with_notes(pilot, app, ui_model, "tomato seedlings frost", "May [1].")
        citations = app.runtime.repo.messages(app.chat.controller.conversation_id)[-1].citations

        await pilot.press("f9")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RetrievalScreen)
        table = screen.query_one(DataTable)
        assert table.row_count == len(citations)
        first = table.get_row_at(0)
        expected_kw = "–" if citations[0].keyword_rank is None else str(citations[0].keyword_rank)
        assert first[1].startswith("mine/garden.md:")  # as the CLI names it
        assert first[3] == expected_kw
        assert first[4] == str(citations[0].vector_rank)
        assert first[5] == f"{citations[0].score:.4f}"
        assert citations[0].keyword_rank == 1  # the words are in the note

        # a new query, searched in the screen's worker
        screen.query_one(Input).focus()
        await type_text(pilot, "KMC chain")
        await pilot.press("enter")
        await screen.workers.wait_for_complete()
        await pilot.pause()
        assert table.get_row_at(0)[1].startswith("mine/bicycle.md:")
        assert table.get_row_at(0)[3] == "1"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, RetrievalScreen)


async def test_notes_sync_failure_is_a_message(make_app, ui_model, monkeypatch):
    def broken(self, progress=None, cancel=None, collection=None):
        import errno

        raise OSError(errno.ENOSPC, "No space left on device", "/notes/index.faiss")

    monkeypatch.setattr(NotesService, "offer_samples", lambda self: None)
    monkeypatch.setattr(NotesService, "sync", broken)
    app = AssistantApp(Runtime(), sync_notes=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = status_text(app)
        assert "notes index failed" in text
        assert "/notes/index.faiss: the disk is full; free some space" in text
        assert app.is_running


# ------------------------------------------------------------------ slash
async def test_slash_completion_and_translate_the_last_reply(make_app, ui_model):
    conversation = seed_conversation("Greeting", [("say hello", "Good morning, dear friend.")])
    app = make_app(conversation)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "/tr")
        options = app.query_one(SlashOptions)
        assert options.display and options.choice == "/translate"
        await pilot.press("tab")
        assert app.chat.prompt.text == "/translate "
        assert app.chat.prompt.has_focus
        await pilot.press("f")
        assert options.choice == "/translate fr"
        await pilot.press("tab")
        assert app.chat.prompt.text == "/translate fr "
        assert not options.display

        ui_model.enqueue(["Bonjour,", " cher ami."])
        await pilot.press("enter")
        await settle(pilot)

        sent = "\n".join(t.content for t in ui_model.history[-1])
        assert "Good morning, dear friend." in sent and "French" in sent
        views = app.chat.chat_view.views
        assert views[-2].shown_text == "/translate fr"
        assert views[-1].shown_text == "Bonjour, cher ami."
        rows = app.runtime.repo.messages(conversation)
        assert [(m.role, m.content) for m in rows[-2:]] == [
            (Role.USER, "/translate fr"),
            (Role.ASSISTANT, "Bonjour, cher ami."),
        ]
        assert rows[-1].status == MessageStatus.COMPLETE and rows[-1].model == "fake-model"


# --------------------------------------------------------- issue 9 faults
async def test_notes_synced_by_another_process_are_noticed(
    notes_folder, ui_model, shared_embedder, tmp_path
):
    """Fault 3: notes added and synced from the CLI while the app runs reach
    the status line and the app's searches without a restart."""
    app = AssistantApp(Runtime(), sync_notes=True)
    app.NOTES_POLL_SECONDS = 0.2
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "notes 2 files" in status_text(app)
        assert app.runtime.notes.search("espresso grinder", k=3)[0].path != "coffee.md"
        # what `assistant notes add` and `notes sync` do, from another NotesService
        more = tmp_path / "more"
        more.mkdir()
        (more / "coffee.md").write_text(
            "# Coffee\n\nThe espresso grinder is set to 14 for the dark roast beans.\n"
        )
        other = NotesService(app.runtime.db, app.runtime.paths, embedder=shared_embedder)
        other.add_collection(more, "more")
        other.sync()
        for _ in range(50):
            await pilot.pause(0.1)
            if "notes 3 files" in status_text(app):
                break
        assert "notes 3 files" in status_text(app)
        hits = app.runtime.notes.search("espresso grinder setting", k=3, mode="vector")
        assert hits[0].path == "coffee.md"  # the vectors saved by the other process


async def test_a_docx_source_shows_its_passage_not_the_zip(
    notes_folder, ui_model, tmp_path, monkeypatch
):
    """Fault 5: $EDITOR is never handed a .docx/.pdf; the cited passage is shown."""
    import shutil

    from assistant.domain import Role
    from assistant.notes.grounding import citation
    from assistant.ui.screens import PassageScreen

    shutil.copy(Path(__file__).parents[2] / "data" / "meeting-notes.docx", notes_folder)
    record = tmp_path / "argv.txt"
    script = tmp_path / "fake-editor"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("EDITOR", str(script))
    app = AssistantApp(Runtime(), sync_notes=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        hit = next(
            h
            for h in app.runtime.notes.search("weekly release Tuesday", k=5)
            if h.path == "meeting-notes.docx"
        )
        repo = app.runtime.repo
        conversation = repo.create_conversation("Release day")
        repo.add_message(conversation.id, Role.USER, "When is the release?")
        reply = repo.add_message(conversation.id, Role.ASSISTANT, "On Tuesday [1].")
        repo.update_message(reply.id, citations=[citation(1, hit)])
        await app.chat.controller.open(conversation.id)
        await settle(pilot)
        await pilot.press("f3", "enter")
        await settle(pilot)
        assert isinstance(app.screen, PassageScreen)
        assert "Tuesday" in app.screen.text and "mine/meeting-notes.docx" in app.screen.where
        assert not record.exists()  # the editor never saw the zip
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, PassageScreen)
