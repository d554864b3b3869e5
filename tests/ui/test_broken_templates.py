"""The app shows a skipped user template once, and works on without it."""

from __future__ import annotations

from assistant.paths import app_paths
from tests.ui.helpers import settle


async def test_the_app_shows_a_skipped_template_once(make_app):
    folder = app_paths().user_prompts
    folder.mkdir(parents=True)
    (folder / "broken.md").write_text("---\nname: [unclosed\n---\n{{ text }}\n")
    app = make_app()
    async with app.run_test(size=(110, 34)) as pilot:
        await settle(pilot)
        notices = [n for n in app._notifications if "broken.md" in str(n.message)]
        assert len(notices) == 1 and notices[0].severity == "warning"
        app.action_open_writing()
        await settle(pilot)
        assert len([n for n in app._notifications if "broken.md" in str(n.message)]) == 1
        library = app.chat.controller.library
        assert library is not None and "proofread" in library.templates
