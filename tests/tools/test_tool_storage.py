"""Tool calls and results are messages of the conversation tree (migration
0009): upgraded from 0008 with nothing lost, back down again, and carried
through our JSON export and import."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from alembic import command

from assistant.chat.tooluse import ToolUse
from assistant.domain import Role, ToolCall
from assistant.paths import app_paths
from assistant.store.database import Database, make_engine
from assistant.store.migrate import alembic_config, current_revision, head_revision, upgrade
from tests.tools.test_tool_loop import echo_tool


def test_upgrade_from_0008_keeps_everything_and_downgrade_works(isolated_home):
    path = app_paths().database
    path.parent.mkdir(parents=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine, "0008")
    now = datetime(2026, 11, 2, 3, 4, 5)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO conversations (id, title, created_at, updated_at, use_notes) "
            "VALUES (1, 'Before tools', ?, ?, 1)",
            (now, now),
        )
        conn.exec_driver_sql(
            "INSERT INTO messages (id, conversation_id, role, content, status, created_at, "
            "updated_at, citations) VALUES (1, 1, 'user', 'an old question', 'complete', ?, ?, "
            "'[]')",
            (now, now),
        )
    engine.dispose()

    db = Database(path)
    assert current_revision(db.engine) == head_revision()  # 0009 and what came after it
    from assistant.store.repository import ConversationRepository

    repo = ConversationRepository(db)
    conv = repo.get_conversation(1)
    assert conv.title == "Before tools" and conv.use_notes
    assert conv.tools is None and conv.tools_allowed == ()
    assert [m.content for m in conv.messages] == ["an old question"]
    assert conv.messages[0].tool_calls == [] and conv.messages[0].tool_call is None
    repo.set_tools(1, ("now",))
    repo.allow_tool(1, "run_command")
    conv = repo.get_conversation(1, messages=False)
    assert conv.tools == ("now",) and conv.tools_allowed == ("run_command",)
    db.close()

    engine = make_engine(f"sqlite:///{path}")
    command.downgrade(alembic_config(engine), "0008")
    engine.dispose()
    con = sqlite3.connect(path)
    columns = {r[1] for r in con.execute("PRAGMA table_info(messages)")}
    assert "tool_calls" not in columns and "tool_call" not in columns
    assert con.execute("SELECT content FROM messages").fetchall() == [("an old question",)]
    con.close()


def test_tool_messages_round_trip_through_our_json(service, fake_model, repo, tmp_path):
    fake_model.enqueue_calls(ToolCall("c1", "echo", {"text": "hi"}), text="Let me see.")
    fake_model.enqueue("Done.")
    events = list(service.send(None, "Say hi", tools=ToolUse([echo_tool()])))
    cid = events[-1].message.conversation_id
    service.set_tools(cid, ("echo",))
    exported = service.export_text(cid, "json")
    record = json.loads(exported)
    assert record["tools"] == ["echo"]
    kinds = [(m["role"], m.get("tool_calls"), m.get("tool_call")) for m in record["messages"]]
    assert kinds[1][1] == [{"id": "c1", "name": "echo", "arguments": {"text": "hi"}}]
    assert kinds[2][0] == "tool" and kinds[2][2]["id"] == "c1"
    markdown = service.export_text(cid, "md")
    assert "## Tool echo" in markdown and '- Tool call: `echo` {"text": "hi"}' in markdown

    repo.delete_conversation(cid)
    file = tmp_path / "export.json"
    file.write_text(exported, encoding="utf-8")
    result = service.import_file(file)
    assert result.conversations == 1 and result.messages == 4
    (conv,) = repo.list_conversations()
    path = repo.messages(conv.id)
    assert [m.role for m in path] == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.ASSISTANT]
    assert path[1].tool_calls == [ToolCall("c1", "echo", {"text": "hi"})]
    assert path[2].tool_call == ToolCall("c1", "echo", {"text": "hi"})
    assert path[2].finish_reason == "ok"
    assert repo.get_conversation(conv.id, messages=False).tools == ("echo",)

    def shape(text):
        keys = ("role", "content", "status", "finish_reason", "tool_calls", "tool_call")
        return [{k: m.get(k) for k in keys} for m in json.loads(text)["messages"]]

    assert shape(service.export_text(conv.id, "json")) == shape(exported)
