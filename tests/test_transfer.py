"""Import and export (issue 9): ChatGPT's conversations.json with every
branch and its current node, simonw/llm's logs.db, our own JSON export
(round trip exact, branches included); importing twice adds nothing; a
malformed file is one sentence and nothing is half imported."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from assistant.chat.service import ChatService
from assistant.chat.transfer import CHATGPT, LLM, OURS
from assistant.domain import Citation, Conversation, Message, MessageStatus, Role
from assistant.errors import UsageError
from assistant.store.database import Database
from assistant.store.repository import ConversationRepository
from tests.fakes import FakeModel
from tests.fixtures.llm_logs import make_llm_logs_db
from tests.test_chat_service import run

CHATGPT_EXPORT = Path(__file__).parent / "fixtures" / "chatgpt_conversations.json"


def by_title(repo: ConversationRepository, title: str) -> Conversation:
    return next(c for c in repo.list_conversations() if c.title == title)


def test_chatgpt_export_keeps_every_branch_and_opens_on_current_node(service, repo):
    result = service.import_file(CHATGPT_EXPORT)
    assert (result.format, result.conversations, result.messages) == (CHATGPT, 2, 13)
    assert (result.skipped, result.empty) == (0, 1)  # "New chat" held only hidden text
    assert "Imported 2 conversations (13 messages)" in result.sentence(CHATGPT_EXPORT)

    sourdough = by_title(repo, "Sourdough starter")
    assert sourdough.uid == "chatgpt-67360a1e-1c2d-8000-9f3a-5b1e2d7c4a10"
    assert sourdough.created_at == datetime(2024, 11, 14, 16, 0, 0)
    thread = service.thread(sourdough.id)
    # current_node was "a-2": the older branch, not the newest one
    assert [m.content for m in thread.messages] == [
        "How often should I feed a sourdough starter?",
        "Once a day if it lives on the counter.",
        "And if I keep it in the fridge?",
        "About once a week; let it warm up first.",
    ]
    assert [m.role for m in thread.messages] == [Role.USER, Role.ASSISTANT] * 2
    assert thread.position(thread.messages[1].id) == (1, 2)  # a regenerated reply beside it
    # every branch is there: the hidden system node and the browsing detour are left out
    everything = repo.all_messages(sourdough.id)
    assert len(everything) == 9
    other = service.step_branch(sourdough.id, thread.messages[1].id, +1)
    assert other.messages[1].model == "gpt-4o-mini"
    assert other.messages[1].content.startswith("Twice a day")
    assert other.position(other.messages[2].id) == (2, 2)  # the edited question, newest
    assert other.messages[-1].content == "Equal weights of flour and water: 50 g of each per feed."
    assert other.messages[2].content == "What flour, and how much of it?\n\n[image]"
    first = service.step_branch(sourdough.id, other.messages[2].id, -1)
    assert [m.content for m in first.messages[2:]] == [
        "What flour should I use?",
        "Whole rye or whole wheat flour gets a starter going fastest.",
    ]

    squares = service.thread(by_title(repo, "Squares in Python").id)
    code = squares.messages[-1]
    assert code.content == "```python\nprint([n * n for n in range(10)])\n```"
    assert code.finish_reason == "length" and code.model == "gpt-4o"
    assert squares.messages[1].content.endswith("```") and squares.messages[1].model == "gpt-4"


def test_importing_twice_adds_nothing(service, repo):
    service.import_file(CHATGPT_EXPORT)
    before = repo.stats()
    again = service.import_file(CHATGPT_EXPORT)
    assert (again.conversations, again.messages, again.skipped) == (0, 0, 2)
    assert repo.stats() == before
    assert "2 already imported, skipped" in again.sentence(CHATGPT_EXPORT)


def test_the_zip_chatgpt_sends_is_read_as_is(service, repo, tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("user.json", "{}")
        zf.write(CHATGPT_EXPORT, "conversations.json")
    result = service.import_file(archive)
    assert (result.format, result.conversations, result.messages) == (CHATGPT, 2, 13)


def test_llm_logs_db(service, repo, tmp_path):
    logs = make_llm_logs_db(tmp_path / "logs.db")
    result = service.import_file(logs)
    assert (result.format, result.conversations, result.messages) == (LLM, 2, 8)
    tea = by_title(repo, "Haiku about tea")
    assert tea.uid == "llm-01jd3x5p9v2k7m8n4q6r0s1t2u"
    assert tea.system_prompt == "You are a poet." and tea.model == "gpt-4o-mini"
    messages = repo.messages(tea.id)
    assert [m.role for m in messages] == [Role.USER, Role.ASSISTANT] * 3
    assert messages[0].content == "Write a haiku about green tea"
    assert messages[1].content.startswith("Steam over the cup\n")
    assert messages[1].model == "gpt-4o-mini-2024-07-18"
    assert (messages[1].prompt_tokens, messages[1].completion_tokens) == (24, 21)
    assert messages[1].generation_ms == 1840
    assert messages[-1].model == "gpt-4o-mini"  # no resolved name on that row
    assert messages[0].created_at == datetime(2024, 11, 20, 9, 15, 2, 118204)
    monad = repo.messages(by_title(repo, "What is a monad").id)
    assert monad[0].created_at == datetime(2024, 11, 21, 18, 2, 55, 700000)
    assert [h.conversation_id for h in repo.search("kettle")] == [tea.id]
    again = service.import_file(logs)
    assert (again.conversations, again.skipped) == (0, 2)


def normalised(record: dict[str, Any]) -> dict[str, Any]:
    """An exported conversation with its database ids replaced by positions,
    the only thing a round trip may change."""
    place = {m["id"]: n for n, m in enumerate(record["messages"])}
    out = dict(record, id=None, current_leaf=place.get(record["current_leaf"]))
    out["messages"] = [
        dict(m, id=place[m["id"]], parent_id=place.get(m["parent_id"])) for m in record["messages"]
    ]
    return out


def grown_conversation(service: ChatService, fake_model: FakeModel) -> int:
    """A conversation with an edit, a regenerated reply, a stopped reply and sources."""
    fake_model.enqueue("First answer.")
    _, started, _ = run(service.send(None, "First question"))
    cid = started.conversation_id
    fake_model.enqueue("Second answer.")
    run(service.regenerate(cid))
    fake_model.enqueue("Answer to the edit.")
    run(service.edit(cid, started.user_message_id, "First question, edited"))
    reply = service.thread(cid).messages[-1]
    source = Citation(1, "notes", "sub/cat.md", "/n/sub/cat.md", 3, 9, heading="Cats")
    service.repo.update_message(reply.id, citations=[source], status=MessageStatus.STOPPED)
    service.repo.update_conversation(cid, persona="tutor")
    service.set_notes(cid, True)
    return cid


def test_our_json_export_round_trips_exactly_with_branches(
    service, repo, fake_model, tmp_path, isolated_home
):
    cid = grown_conversation(service, fake_model)
    exported = json.loads(service.export_text(cid, "json"))
    assert exported["format"] == "assistant.conversation" and len(exported["messages"]) == 5
    assert exported["messages"][-1]["sources"][0]["collection"] == "notes"
    assert "citations" not in exported["messages"][-1]  # one word: sources
    path = tmp_path / "conversation.json"
    path.write_text(service.export_text(cid, "json"))

    # into another database: exactly the same conversation comes back
    other_db = Database(tmp_path / "other" / "assistant.db")
    other = ChatService(ConversationRepository(other_db), fake_model)
    result = other.import_file(path)
    assert (result.format, result.conversations, result.messages) == (OURS, 1, 5)
    new_id = other.repo.list_conversations()[0].id
    again = json.loads(other.export_text(new_id, "json"))
    assert normalised(again) == normalised(exported)
    # on the current branch too: the edited question and its answer
    assert [m.content for m in other.repo.messages(new_id)] == [
        "First question, edited",
        "Answer to the edit.",
    ]
    other_db.close()

    # and into the database it came from: it is already here
    back = service.import_file(path)
    assert (back.conversations, back.skipped) == (0, 1)


def test_export_all_and_import_into_an_empty_home(service, repo, fake_model, tmp_path):
    grown_conversation(service, fake_model)
    service.import_file(CHATGPT_EXPORT)
    path = tmp_path / "all.json"
    path.write_text(service.export_all_text())
    other_db = Database(tmp_path / "other" / "assistant.db")
    other = ChatService(ConversationRepository(other_db), fake_model)
    result = other.import_file(path)
    assert (result.conversations, result.messages) == (3, 18)
    assert {c.uid for c in other.repo.list_conversations()} == {
        c.uid for c in repo.list_conversations()
    }
    other_db.close()


def test_a_version_1_export_reads_as_one_branch(service, repo, tmp_path):
    old = {
        "format": "assistant.conversation",
        "id": 4,
        "title": "Before branches",
        "created_at": "2026-01-02T03:04:05",
        "updated_at": "2026-01-02T03:05:00",
        "messages": [
            {"id": 7, "role": "user", "content": "hi", "status": "complete"},
            {"id": 8, "role": "assistant", "content": "hel", "status": "cancelled",
             "citations": [{"n": 1, "collection": "c", "path": "a.md", "start_line": 2}]},
        ],
    }  # fmt: skip
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    service.import_file(path)
    messages = repo.messages(repo.list_conversations()[0].id)
    assert [m.content for m in messages] == ["hi", "hel"]
    assert messages[1].status == MessageStatus.STOPPED
    assert messages[1].citations[0].source == "c/a.md:2"


@pytest.mark.parametrize(
    ("content", "sentence"),
    [
        (b'[{"title": "x", "mapping": {}', r"is not valid JSON \(line 1"),
        (b'{"hello": "world"}', "is not a ChatGPT export, an llm logs.db or an assistant export"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "is not a ChatGPT export"),
        (b"[]", "holds no conversations"),
        (b"PK\x03\x04broken", "is a damaged zip file"),
    ],
)
def test_a_malformed_file_is_one_sentence(service, repo, tmp_path, content, sentence):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(UsageError, match=sentence) as caught:
        service.import_file(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert repo.stats()["conversations"] == 0


def test_one_bad_conversation_means_nothing_is_imported(service, repo, tmp_path):
    data = json.loads(CHATGPT_EXPORT.read_text())
    del data[1]["mapping"]
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match=r"Conversation 2 in .* has no message tree"):
        service.import_file(path)
    assert repo.stats() == {"conversations": 0, "messages": 0}


def test_the_store_step_is_one_transaction(repo):
    now = datetime(2026, 1, 1)

    def conversation(uid: str, parent: int | None) -> Conversation:
        c = Conversation(0, uid, now, now, uid=uid)
        c.messages = [
            Message(1, 0, Role.USER, "q", MessageStatus.COMPLETE, now),
            Message(2, 0, Role.ASSISTANT, "a", MessageStatus.COMPLETE, now, parent_id=parent),
        ]
        return c

    with pytest.raises(UsageError, match="answers one that is not there"):
        repo.import_conversations([conversation("good", 1), conversation("bad", 99)])
    assert repo.stats() == {"conversations": 0, "messages": 0}


def test_other_files_are_one_sentence(service, tmp_path):
    import sqlite3

    with pytest.raises(UsageError, match="is a folder"):
        service.import_file(tmp_path)
    with pytest.raises(UsageError, match="There is no file"):
        service.import_file(tmp_path / "missing.json")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(UsageError, match="not an llm logs.db"):
        service.import_file(other)
