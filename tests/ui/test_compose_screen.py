"""Pilot tests: the compose screen on the scripted writer, in a minimal app
and from the real app's key."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Input, OptionList, TextArea

from assistant.chat.compose import ComposeService
from assistant.domain import DraftStatus
from assistant.runtime import Runtime
from assistant.ui.app import AssistantApp
from assistant.ui.compose_screen import ComposeScreen, DraftsScreen
from assistant.ui.screens import ConfirmScreen, SaveAsScreen
from assistant.writing.compose import Composer
from assistant.writing.templates import load_library
from tests.ui.helpers import settle as settle_app
from tests.writing.compose_helpers import WriterModel

LIBRARY = load_library(Path("/nonexistent-user-prompts"))


class ComposeTestApp(App[None]):
    def __init__(self, screen: ComposeScreen) -> None:
        super().__init__()
        self.compose_screen = screen

    def on_mount(self) -> None:
        self.push_screen(self.compose_screen)


async def settle(pilot) -> None:
    for _ in range(4):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.fixture
def service(db):
    from assistant.store.drafts import DraftRepository

    model = WriterModel(words_per_call=120, titles=["Dawn", "Noon", "Dusk"])
    return ComposeService(
        DraftRepository(db),
        model,
        composer=lambda m: Composer(m, LIBRARY, max_tokens=300),
        library=lambda: LIBRARY,
        flush_interval=0.0,
    )


def set_field(screen: ComposeScreen, name: str, value: str) -> None:
    screen.query_one(f"#var-{name}", Input).value = value


async def test_plan_edit_the_outline_write_and_save_as(service, tmp_path: Path):
    screen = ComposeScreen(lambda: service, start_dir=tmp_path)
    app = ComposeTestApp(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert screen.kind == "article"
        assert screen.values()["length"] == "600"  # the template's defaults fill the form
        set_field(screen, "topic", "a day of a city park")
        set_field(screen, "length", "480")
        await pilot.press("ctrl+o")
        await settle(pilot)
        outline = screen.query_one("#outline", TextArea)
        assert outline.text == "1. Dawn (160 words)\n2. Noon (160 words)\n3. Dusk (160 words)"
        assert screen.text == ""  # nothing written before Ctrl+G
        # the user edits the outline: one section more, one renamed
        outline.load_text("1. Early morning (160 words)\n2. Noon (160 words)\n3. Dusk\n4. Night")
        await pilot.press("ctrl+g")
        await settle(pilot)
        piece = screen.query_one("#piece", TextArea).text
        assert "## Early morning" in piece and "## Night" in piece
        assert piece.index("## Early morning") < piece.index("## Noon") < piece.index("## Night")
        (draft,) = service.list_drafts()
        assert draft.status == DraftStatus.COMPLETE
        assert [s.title for s in draft.outline] == ["Early morning", "Noon", "Dusk", "Night"]
        assert draft.content.rstrip() == screen.text.rstrip() == piece.rstrip()
        assert "done" in str(screen.query_one("#compose-status").render())
        # Save As: a new file
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SaveAsScreen)
        target = tmp_path / "park.md"
        app.screen.query_one(Input).value = str(target)
        await pilot.press("enter")
        await settle(pilot)
        assert target.read_text() == draft.content
        # again on the same name: asked first, replaced only on "y"
        target.write_text("mine")
        await pilot.press("ctrl+s")
        await pilot.pause()
        app.screen.query_one(Input).value = str(target)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert target.read_text() == "mine"
        await pilot.press("ctrl+s")
        await pilot.pause()
        app.screen.query_one(Input).value = str(target)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert target.read_text() == draft.content


async def test_a_short_piece_is_written_at_once_and_drafts_reopen(service, tmp_path: Path):
    screen = ComposeScreen(lambda: service, start_dir=tmp_path)
    app = ComposeTestApp(screen)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        kinds = screen.query_one("#kinds", OptionList)
        kinds.focus()
        kinds.highlighted = sorted(LIBRARY.compose).index("poem")
        await settle(pilot)
        assert screen.kind == "poem" and "language" in screen.values()
        set_field(screen, "topic", "frost on the window")
        await pilot.press("ctrl+g")
        await settle(pilot)
        first = screen.text
        assert first.strip(), str(screen.query_one("#compose-status").render())
        assert screen.query_one("#outline", TextArea).text == ""
        set_field(screen, "topic", "a second poem")
        await pilot.press("ctrl+g")
        await settle(pilot)
        assert len(service.list_drafts()) == 2
        # reopen the first from the list
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, DraftsScreen)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert screen.text == service.list_drafts()[1].content
        assert screen.values()["topic"] == "frost on the window"
        # delete the newer one from the list
        await pilot.press("ctrl+l")
        await settle(pilot)
        await pilot.press("delete")
        await settle(pilot)
        await pilot.press("escape")
        assert [d.title for d in service.list_drafts()] == ["Poem: frost on the window"]


async def test_stop_keeps_the_text_and_says_so(db, tmp_path: Path):
    from assistant.store.drafts import DraftRepository

    model = WriterModel(words_per_call=300, delay=0.01)
    service = ComposeService(
        DraftRepository(db),
        model,
        composer=lambda m: Composer(m, LIBRARY),
        library=lambda: LIBRARY,
        flush_interval=0.0,
    )
    screen = ComposeScreen(lambda: service, start_dir=tmp_path)
    app = ComposeTestApp(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        set_field(screen, "length", "300")
        await pilot.press("ctrl+g")
        for _ in range(100):
            await pilot.pause(0.05)
            if len(screen.text) > 200:
                break
        await pilot.press("escape")
        await settle(pilot)
        (draft,) = service.list_drafts()
        assert draft.status == DraftStatus.STOPPED
        assert draft.content == screen.text and screen.text
        assert "Stopped" in str(screen.query_one("#compose-status").render())


async def test_a_bad_form_is_one_sentence(service, tmp_path: Path):
    screen = ComposeScreen(lambda: service, start_dir=tmp_path)
    app = ComposeTestApp(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        set_field(screen, "length", "3")
        await pilot.press("ctrl+g")
        await settle(pilot)
        status = str(screen.query_one("#compose-status").render())
        assert "not a number of words between 10 and 50,000" in status
        assert service.list_drafts() == []


async def test_the_app_opens_and_closes_compose_with_ctrl_t(monkeypatch):
    model = WriterModel(words_per_call=40)
    monkeypatch.setattr(Runtime, "load_model", lambda self: model)
    app = AssistantApp(Runtime(), sync_notes=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_app(pilot)
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert isinstance(app.screen, ComposeScreen)
        set_field(app.screen, "length", "30")
        await pilot.press("ctrl+g")
        await settle(pilot)
        assert app.screen.text.strip()
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert not isinstance(app.screen, ComposeScreen)
    (draft,) = Runtime().compose.list_drafts()
    assert draft.status == DraftStatus.COMPLETE and draft.kind == "article"
