"""Migrations 0010 (the history index keeps Chinese words apart) and 0011
(drafts say stopped), both ways: a database at 0008 with data is upgraded
with nothing lost, downgraded, and upgraded again."""

from __future__ import annotations

from datetime import datetime

from assistant.domain import DraftStatus
from assistant.paths import app_paths
from assistant.store.database import Database, make_engine
from assistant.store.migrate import alembic_config, current_revision, head_revision, upgrade
from assistant.store.repository import ConversationRepository

NOW = datetime(2026, 3, 4, 5, 6, 7)


def _old_database():
    path = app_paths().database
    path.parent.mkdir(parents=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine, "0008")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO conversations (id, title, created_at, updated_at, use_notes) "
            "VALUES (1, 'Keys', ?, ?, 0)",
            (NOW, NOW),
        )
        for mid, role, text in [
            (1, "user", "备用钥匙在哪里？"),
            (2, "assistant", "Under the heron statue by the door."),
        ]:
            conn.exec_driver_sql(
                "INSERT INTO messages (id, conversation_id, role, content, status, created_at, "
                "updated_at, citations, parent_id) VALUES (?, 1, ?, ?, 'complete', ?, ?, '[]', ?)",
                (mid, role, text, NOW, NOW, mid - 1 or None),
            )
        for did, status, reason in [(1, "cancelled", "cancelled"), (2, "interrupted", None)]:
            conn.exec_driver_sql(
                "INSERT INTO drafts (id, kind, title, status, content, target_words, words, "
                "sections_done, created_at, updated_at, finish_reason) "
                "VALUES (?, 'poem', 'Poem', ?, 'half a po', 80, 3, 0, ?, ?, ?)",
                (did, status, NOW, NOW, reason),
            )
    assert [h.message_id for h in ConversationRepository(_Db(engine)).search("heron")] == [2]
    assert ConversationRepository(_Db(engine)).search("钥匙") == []  # the fault, at 0008
    return path, engine


class _Db:
    """Just enough of a Database for the repository's reads on a bare engine."""

    def __init__(self, engine) -> None:
        from sqlalchemy.orm import sessionmaker

        from assistant.store.database import READ_ONLY

        self.readers = sessionmaker(engine.execution_options(**{READ_ONLY: True}))

    def reader(self):
        return self.readers()


def test_0010_and_0011_upgrade_keep_everything_and_downgrade_back(isolated_home):
    from alembic import command

    from assistant.store.drafts import DraftRepository

    path, engine = _old_database()
    engine.dispose()
    db = Database(path)  # upgrades to head at open
    assert current_revision(db.engine) == head_revision()
    repo = ConversationRepository(db)
    assert [m.content for m in repo.messages(1)] == [
        "备用钥匙在哪里？",
        "Under the heron statue by the door.",
    ]
    assert [h.message_id for h in repo.search("钥匙")] == [1]
    assert repo.search("钥匙")[0].marked() == "备用[钥匙]在哪里？"
    assert [h.message_id for h in repo.search("herons")] == [2]  # still stemmed
    drafts = DraftRepository(db)
    assert {d.id: (d.status, d.finish_reason) for d in drafts.list_drafts()} == {
        1: (DraftStatus.STOPPED, "stopped"),
        2: (DraftStatus.STOPPED, None),
    }
    # a new message is indexed by the new trigger
    repo.add_message(1, "user", "钥匙圈")
    assert len(repo.search("钥匙")) == 2
    db.close()

    command.downgrade(alembic_config(db.engine), "0008")
    engine = make_engine(f"sqlite:///{path}")
    assert current_revision(engine) == "0008"
    with engine.connect() as conn:
        statuses = sorted(r[0] for r in conn.exec_driver_sql("SELECT status FROM drafts"))
    assert statuses == ["cancelled", "cancelled"]
    assert [h.message_id for h in ConversationRepository(_Db(engine)).search("heron")] == [2]
    engine.dispose()

    db = Database(path)
    assert current_revision(db.engine) == head_revision()
    assert {h.message_id for h in ConversationRepository(db).search("钥匙")} == {1, 3}
    db.close()
