"""ComposeService: drafts stored before they are shown, kept on every exit,
recovered after a crash; migration 0008 keeps older data."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest

from assistant.domain import DraftStatus, OutlineSection
from assistant.errors import ModelError, NotFound
from assistant.llm.base import TextPiece
from assistant.writing.compose import Composer
from assistant.writing.templates import load_library
from tests.writing.compose_helpers import WriterModel

LIBRARY = load_library(Path("/nonexistent-user-prompts"))


@pytest.fixture
def drafts(db):
    from assistant.store.drafts import DraftRepository

    return DraftRepository(db)


def make_service(drafts, model, max_tokens=None):
    from assistant.chat.compose import ComposeService

    return ComposeService(
        drafts,
        model,
        composer=lambda m: Composer(m, LIBRARY, max_tokens=max_tokens),
        library=lambda: LIBRARY,
        flush_interval=0.0,
    )


def test_plan_stores_the_draft_and_its_outline(drafts):
    model = WriterModel(words_per_call=300, titles=["One", "Two", "Three"])
    service = make_service(drafts, model, max_tokens=300)
    job = service.prepare("report", {"topic": "bins", "length": "480"})
    draft, plan = service.plan(job)
    stored = drafts.get(draft.id)
    assert stored.status == DraftStatus.PLANNED and stored.kind == "report"
    assert stored.title == "Report: bins" and stored.variables == {"topic": "bins", "length": "480"}
    assert [s.title for s in stored.outline] == ["One", "Two", "Three"]
    assert stored.target_words == 480 and stored.model == "fake-model"
    assert stored.completion_tokens and stored.completion_tokens > 0


def test_every_piece_is_on_disk_before_it_is_shown(drafts):
    from assistant.chat.compose import DraftDone, DraftStarted, SectionDone

    model = WriterModel(words_per_call=120, titles=["One", "Two"])
    service = make_service(drafts, model, max_tokens=300)
    job = service.prepare("article", {"topic": "owls", "length": "320"})
    draft, plan = service.plan(job)
    edited = [OutlineSection("Owls at night", 160), OutlineSection("Owls by day", 160)]
    shown = ""
    events = list()
    for event in service.write(draft.id, job, edited):
        events.append(event)
        if isinstance(event, TextPiece):
            shown += event.text
            assert drafts.get(draft.id).content == shown  # saved, then shown
        elif isinstance(event, SectionDone):
            stored = drafts.get(draft.id)
            assert stored.sections_done == event.index and stored.words == event.words_so_far
    assert isinstance(events[0], DraftStarted) and events[0].outline == tuple(edited)
    done = events[-1]
    assert isinstance(done, DraftDone)
    stored = done.draft
    assert stored.status == DraftStatus.COMPLETE and stored.content == shown.rstrip() + "\n"
    assert [s.title for s in stored.outline] == ["Owls at night", "Owls by day"]
    assert "## Owls at night" in stored.content and "## Owls by day" in stored.content
    assert stored.words == done.done.words and stored.sections_done == 2
    assert stored.completion_tokens > done.done.completion_tokens  # the plan's are added
    assert stored.finish_reason == "stop"


def test_cancel_and_a_consumer_that_stops_reading_keep_the_text(drafts):
    model = WriterModel(words_per_call=200, delay=0.001)
    service = make_service(drafts, model)
    job = service.prepare("story", {"topic": "a fox", "length": "1500"})
    draft, plan = service.plan(job)
    cancel = threading.Event()
    shown = ""
    for event in service.write(draft.id, job, plan.outline, cancel):
        if isinstance(event, TextPiece):
            shown += event.text
            if len(shown) > 3000:
                cancel.set()
    stored = drafts.get(draft.id)
    assert stored.status == DraftStatus.CANCELLED and stored.content == shown
    assert stored.finish_reason == "stopped"

    draft, plan = service.plan(job)
    events = service.write(draft.id, job, plan.outline)
    shown = ""
    for event in events:
        if isinstance(event, TextPiece):
            shown += event.text
            if len(shown) > 500:
                break
    events.close()  # the shell went away (Ctrl-C in a consumer, a closed screen)
    stored = drafts.get(draft.id)
    assert stored.status == DraftStatus.CANCELLED and stored.content == shown


def test_a_model_error_is_stored_with_the_text_so_far(drafts):
    model = WriterModel(words_per_call=50)
    service = make_service(drafts, model)
    job = service.prepare("poem", {"topic": "rain", "length": "40"})
    draft, plan = service.plan(job)
    model.fail_with = RuntimeError("GPU on fire")
    with pytest.raises(ModelError, match="The model failed: GPU on fire"):
        list(service.write(draft.id, job, plan.outline))
    stored = drafts.get(draft.id)
    assert stored.status == DraftStatus.ERROR and "GPU on fire" in (stored.error or "")


def test_drafts_list_and_delete(drafts):
    service = make_service(drafts, WriterModel(words_per_call=30))
    for topic in ("one", "two"):
        job = service.prepare("poem", {"topic": topic, "length": "30"})
        draft, plan = service.plan(job)
        list(service.write(draft.id, job, plan.outline))
    listed = service.list_drafts()
    assert [d.title for d in listed] == ["Poem: two", "Poem: one"]
    service.delete_draft(listed[0].id)
    assert [d.title for d in service.list_drafts()] == ["Poem: one"]
    with pytest.raises(NotFound, match="There is no draft"):
        service.draft(listed[0].id)


def test_a_draft_left_writing_by_a_dead_process_is_marked_interrupted(drafts):
    draft = drafts.create("poem", "Poem: x", {}, 100)
    drafts.update(draft.id, content="half a po")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    from sqlalchemy import update

    from assistant.store.tables import DraftRow

    with drafts.db.session() as s, s.begin():
        s.execute(update(DraftRow).values(owner_pid=int(dead.stdout)))
    live = drafts.create("poem", "Poem: live", {}, 100)  # this process: still writing
    assert drafts.recover_interrupted() == 1
    stored = drafts.get(draft.id)
    assert stored.status == DraftStatus.INTERRUPTED and stored.content == "half a po"
    assert drafts.get(live.id).status == DraftStatus.WRITING


def test_killed_while_writing_keeps_every_piece_shown(tmp_path, isolated_home):
    """A child writes a draft and prints each piece as it is shown; it is
    killed with SIGKILL mid-piece; the next start finds every shown piece."""
    script = tmp_path / "child.py"
    script.write_text(
        "import sys\n"
        "from pathlib import Path\n"
        "from assistant.chat.compose import ComposeService\n"
        "from assistant.llm.base import TextPiece\n"
        "from assistant.paths import app_paths\n"
        "from assistant.store.database import Database\n"
        "from assistant.store.drafts import DraftRepository\n"
        "from assistant.writing.compose import Composer\n"
        "from assistant.writing.templates import load_library\n"
        "from tests.writing.compose_helpers import WriterModel\n"
        "lib = load_library(Path('/nonexistent'))\n"
        "svc = ComposeService(DraftRepository(Database(app_paths().database)),\n"
        "    WriterModel(words_per_call=400, delay=0.01), library=lambda: lib,\n"
        "    composer=lambda m: Composer(m, lib), flush_interval=0.05)\n"
        "job = svc.prepare('story', {'topic': 'a fox', 'length': '2000'})\n"
        "draft, plan = svc.plan(job)\n"
        "print(draft.id, flush=True)\n"
        "for ev in svc.write(draft.id, job, plan.outline):\n"
        "    if isinstance(ev, TextPiece):\n"
        "        sys.stdout.write(repr(ev.text) + '\\n'); sys.stdout.flush()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    draft_id = int(child.stdout.readline())
    shown = []
    while len(shown) < 40:
        line = child.stdout.readline()
        assert line, "the child ended early"
        shown.append(eval(line))  # noqa: S307 - our own repr() lines
    child.kill()
    child.wait()
    from assistant.paths import app_paths
    from assistant.store.database import Database
    from assistant.store.drafts import DraftRepository

    repo = DraftRepository(Database(app_paths().database))
    assert repo.recover_interrupted() == 1
    stored = repo.get(draft_id)
    assert stored.status == DraftStatus.INTERRUPTED
    assert stored.content.startswith("".join(shown))


def test_migration_0008_from_0004_keeps_the_data(isolated_home):
    from assistant.paths import app_paths
    from assistant.store.database import Database, make_engine
    from assistant.store.drafts import DraftRepository
    from assistant.store.migrate import current_revision, head_revision, upgrade
    from assistant.store.repository import ConversationRepository

    path = app_paths().database
    path.parent.mkdir(parents=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine, "0004")
    now = datetime(2026, 3, 4, 5, 6, 7)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO conversations (id, title, created_at, updated_at, use_notes, persona) "
            "VALUES (1, 'Kept', ?, ?, 1, 'editor')",
            (now, now),
        )
        conn.exec_driver_sql(
            "INSERT INTO messages (id, conversation_id, role, content, status, created_at, "
            "updated_at, citations) VALUES (1, 1, 'user', 'hello heron', 'complete', ?, ?, '[]')",
            (now, now),
        )
    engine.dispose()
    db = Database(path)
    assert current_revision(db.engine) == head_revision()
    conversation = ConversationRepository(db).get_conversation(1)
    assert conversation.title == "Kept" and conversation.persona == "editor"
    assert conversation.use_notes and conversation.messages[0].content == "hello heron"
    assert [h.message_id for h in ConversationRepository(db).search("heron")] == [1]
    drafts = DraftRepository(db)
    assert drafts.list_drafts() == []
    draft = drafts.create("poem", "Poem: x", {"topic": "x"}, 80)
    assert drafts.get(draft.id).variables == {"topic": "x"}
    db.close()
