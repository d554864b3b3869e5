"""`assistant compose --from-notes`: the real notes index retrieves the
passages; the piece cites only those and lists them at the end."""

from __future__ import annotations

import io
import re
import sys

import pytest

from assistant.cli import main
from tests.notes.conftest import write
from tests.writing.compose_helpers import WriterModel, request


@pytest.fixture(autouse=True)
def shared_embedder(monkeypatch, embedder):
    from assistant.notes import service

    real_init = service.NotesService.__init__

    def init(self, *args, **kwargs):
        kwargs["embedder"] = embedder
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(service.NotesService, "__init__", init)


@pytest.fixture
def writer(monkeypatch):
    model = WriterModel(words_per_call=60)
    model.after = " Herons nest by the lake [1], as a diary says [7] and a map [2, 9]."
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: model)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    return model


def test_from_notes_cites_only_the_passages_it_retrieved(writer, folder, capsys):
    write(
        folder, "birds.md", "# Birds\n\n## Herons\n\nHerons nest in the alder carr by the lake.\n"
    )
    write(folder, "lake.md", "# Lake\n\nThe lake freezes in January; herons move to the river.\n")
    write(folder, "tools.txt", "Tools\n\nThe torque wrench is calibrated every spring.\n")
    assert main(["notes", "add", str(folder), "--name", "mine"]) == 0
    assert main(["notes", "sync"]) == 0
    capsys.readouterr()

    code = main(["compose", "article", "--from-notes", "herons lake", "--length", "60"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    prompt = request(writer.history[-1])
    given = re.findall(r"<<<PASSAGE (\d+) \| mine/([^:]+):", prompt)
    assert given and given[0][1] in ("birds.md", "lake.md")
    numbers = {int(n) for n, _ in given}
    cited = {int(n) for group in re.findall(r"\[([\d, ]+)\]", cap.out) for n in group.split(",")}
    assert cited and cited <= numbers  # nothing cited that was not retrieved
    assert "[7]" not in cap.out and "9" not in re.findall(r"\[([\d, ]+)\]", cap.out)[-1]
    sources = cap.out.split("Sources:\n", 1)[1].strip().splitlines()
    assert [line.split(" ", 1)[0] for line in sources] == [f"[{n}]" for n, _ in given]
    assert all(f"mine/{path}:" in line for line, (_, path) in zip(sources, given, strict=True))

    from assistant.runtime import Runtime

    (draft,) = Runtime().compose.list_drafts()
    assert draft.source == "notes: herons lake"
    assert [c.n for c in draft.citations] == sorted(numbers)
    assert {c.path for c in draft.citations} <= {"birds.md", "lake.md", "tools.txt"}


def test_from_notes_when_nothing_is_found_says_so_and_writes_nothing(writer, folder, capsys):
    assert main(["notes", "add", str(folder), "--name", "empty"]) == 0
    assert main(["notes", "sync"]) == 0
    capsys.readouterr()
    code = main(["compose", "poem", "--from-notes", "herons"])
    cap = capsys.readouterr()
    assert code == 2 and cap.out == ""
    assert "Nothing in your notes matches 'herons'" in cap.err
    assert writer.history == []


async def test_the_compose_screen_notes_switch_writes_from_the_notes(notes, folder, db, tmp_path):
    from pathlib import Path

    from assistant.chat.compose import ComposeService
    from assistant.store.drafts import DraftRepository
    from assistant.ui.compose_screen import ComposeScreen
    from assistant.writing.compose import Composer
    from assistant.writing.templates import load_library
    from tests.ui.test_compose_screen import ComposeTestApp, set_field, settle

    write(
        folder, "birds.md", "# Birds\n\n## Herons\n\nHerons nest in the alder carr by the lake.\n"
    )
    notes.add_collection(folder)
    notes.sync()
    library = load_library(Path("/nonexistent-user-prompts"))
    model = WriterModel(words_per_call=40)
    model.after = " See [1] and [4]."
    service = ComposeService(
        DraftRepository(db),
        model,
        composer=lambda m: Composer(m, library),
        library=lambda: library,
        notes=lambda: notes,
        flush_interval=0.0,
    )
    screen = ComposeScreen(lambda: service, start_dir=tmp_path)
    async with ComposeTestApp(screen).run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        set_field(screen, "topic", "herons")
        set_field(screen, "length", "50")
        await pilot.press("f5")
        await pilot.press("ctrl+g")
        await settle(pilot)
    (draft,) = service.list_drafts()
    assert draft.source == "notes: herons"
    assert [c.path for c in draft.citations] == ["birds.md"]
    assert "See [1] and." in draft.content and "[4]" not in draft.content
    assert f"\n\nSources:\n[1] {folder.name}/birds.md:5 — Birds > Herons" in draft.content
    assert "<<<PASSAGE 1 |" in request(model.history[-1])
