"""``@path`` in the chat input: completion (listed in a worker) and the
document put into the question, with the sources panel citing it."""

from __future__ import annotations

from assistant.ui.panels import SlashOptions, SourcesPanel
from tests.ui.helpers import settle

SIZE = (100, 30)


async def type_text(pilot, text: str) -> None:
    for char in text:
        await pilot.press("space" if char == " " else char)


async def test_at_path_completes_and_attaches_the_document(
    make_app, ui_model, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plan.md").write_text("# Plan\n\nThe ferry leaves at nine.\n")
    (tmp_path / "photos").mkdir()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_text(pilot, "summarise @pl")
        await settle(pilot)
        options = app.query_one(SlashOptions)
        assert options.display and options.choice == "@plan.md"
        await pilot.press("tab")
        assert app.chat.prompt.text == "summarise @plan.md "
        ui_model.enqueue("The ferry leaves at nine [1].")
        await pilot.press("enter")
        await settle(pilot)
        prompt = ui_model.history[-1][-1].content
        assert "The ferry leaves at nine." in prompt and "<<<DOCUMENT 1" in prompt
        sources = app.query_one(SourcesPanel)
        assert sources.display and sources.citations[0].location == "plan.md:1-3"
