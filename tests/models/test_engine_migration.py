"""Migration 0006: a conversation remembers its named engine. From 0004 with
data to head, nothing lost; the chat service records the engine of the model
that wrote each reply."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import inspect

from assistant.paths import app_paths
from assistant.store.database import Database, make_engine
from assistant.store.migrate import current_revision, head_revision, upgrade
from tests.fakes import FakeModel


def test_upgrade_from_0004_keeps_everything(isolated_home):
    path = app_paths().database
    path.parent.mkdir(parents=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine, "0004")
    now = datetime(2026, 1, 2, 3, 4, 5)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO conversations (id, title, created_at, updated_at, model, persona, "
            "use_notes) VALUES (1, 'Kept', ?, ?, 'm.gguf', 'pirate', 1)",
            (now, now),
        )
        conn.exec_driver_sql(
            "INSERT INTO messages (id, conversation_id, role, content, status, created_at, "
            "updated_at, model) "
            "VALUES (1, 1, 'assistant', 'old reply', 'complete', ?, ?, 'm.gguf')",
            (now, now),
        )
    engine.dispose()

    db = Database(path)
    assert current_revision(db.engine) == head_revision()
    from assistant.store.repository import ConversationRepository

    repo = ConversationRepository(db)
    conv = repo.get_conversation(1)
    assert (conv.title, conv.model, conv.persona, conv.use_notes) == (
        "Kept",
        "m.gguf",
        "pirate",
        True,
    )
    assert conv.engine is None
    assert [(m.content, m.model) for m in conv.messages] == [("old reply", "m.gguf")]
    columns = {c["name"] for c in inspect(db.engine).get_columns("conversations")}
    assert "engine" in columns
    db.close()


def test_reply_records_model_and_engine(repo):
    from assistant.chat.service import ChatService

    local = FakeModel()
    service = ChatService(repo, local, flush_interval=0.0)
    events = list(service.send(None, "hello"))
    conversation_id = events[0].conversation_id
    conv = repo.get_conversation(conversation_id)
    assert conv.engine is None and conv.model == "fake-model"

    remote = FakeModel()
    remote.name = "work/big-model"
    remote.engine = "work"  # type: ignore[attr-defined]
    service.handle.replace(remote)
    list(service.send(conversation_id, "and now?"))
    conv = repo.get_conversation(conversation_id)
    assert conv.engine == "work" and conv.model == "work/big-model"
    assert [m.model for m in conv.messages if m.role == "assistant"] == [
        "fake-model",
        "work/big-model",
    ]
