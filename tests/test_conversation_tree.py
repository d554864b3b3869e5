"""Messages as a tree (issue 9): answering again and editing add branches and
never overwrite, the model gets the branch from the root to the message it
answers, moving between siblings, forking, and migration 0005 turning
existing conversations (with data, from the 0004 schema) into single-branch
trees."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import pytest

from assistant.chat.session import ChatSession
from assistant.domain import MessageStatus, Role
from assistant.errors import NotFound, UsageError
from assistant.paths import app_paths
from assistant.store.database import Database, make_engine
from assistant.store.migrate import current_revision, head_revision, upgrade
from assistant.store.repository import ConversationRepository
from tests.test_chat_service import run


def contents(messages) -> list[str]:
    return [m.content for m in messages]


def asked(fake_model) -> list[str]:
    """What the model was given last, without the system prompt."""
    return [t.content for t in fake_model.history[-1] if t.role != Role.SYSTEM]


def test_regenerate_adds_a_sibling_reply_and_keeps_the_old_one(service, repo, fake_model):
    fake_model.enqueue("first")
    _, started, _ = run(service.send(None, "question"))
    cid = started.conversation_id
    fake_model.enqueue("second")
    _, again, done = run(service.regenerate(cid))
    assert contents(repo.messages(cid)) == ["question", "second"]
    assert contents(repo.all_messages(cid)) == ["question", "first", "second"]
    thread = service.thread(cid)
    reply = thread.messages[-1]
    assert thread.position(reply.id) == (2, 2)
    assert reply.parent_id == thread.messages[0].id == again.user_message_id
    # the model answered the question alone, not the old reply
    assert asked(fake_model) == ["question"]
    # back to the first reply: the branch marker says 1/2
    back = service.step_branch(cid, reply.id, -1)
    assert contents(back.messages) == ["question", "first"]
    assert back.position(back.messages[-1].id) == (1, 2)
    assert service.step_branch(cid, back.messages[-1].id, -1).messages[-1].content == "first"


def test_edit_makes_a_new_branch_and_the_model_sees_only_that_branch(service, repo, fake_model):
    fake_model.enqueue("Paris.")
    _, started, _ = run(service.send(None, "Capital of France?"))
    cid = started.conversation_id
    fake_model.enqueue("Yes, about 2 million.")
    run(service.send(cid, "Is it big?"))
    first_question = repo.messages(cid)[0]

    fake_model.enqueue("Berlin.")
    _, edited, done = run(service.edit(cid, first_question.id, "Capital of Germany?"))
    assert asked(fake_model) == ["Capital of Germany?"]
    assert contents(repo.messages(cid)) == ["Capital of Germany?", "Berlin."]
    thread = service.thread(cid)
    assert thread.position(thread.messages[0].id) == (2, 2)
    assert len(repo.all_messages(cid)) == 6  # nothing was overwritten

    # the next message continues the new branch
    fake_model.enqueue("About 3.7 million.")
    run(service.send(cid, "Is it big?"))
    assert asked(fake_model) == ["Capital of Germany?", "Berlin.", "Is it big?"]

    # back to the old branch: down to where the user was on it
    old = service.step_branch(cid, thread.messages[0].id, -1)
    assert contents(old.messages) == [
        "Capital of France?",
        "Paris.",
        "Is it big?",
        "Yes, about 2 million.",
    ]
    fake_model.enqueue("It is the largest city in France.")
    run(service.send(cid, "Largest?"))
    assert asked(fake_model)[:4] == contents(old.messages)


def test_edit_refuses_a_reply_an_empty_text_and_a_foreign_message(service, repo, fake_model):
    run(service.send(None, "one"))
    _, other, _ = run(service.send(None, "two"))
    cid = repo.list_conversations()[-1].id
    reply = repo.messages(cid)[-1]
    with pytest.raises(UsageError, match="only your own messages"):
        run(service.edit(cid, reply.id, "new"))
    with pytest.raises(UsageError, match="empty"):
        run(service.edit(cid, repo.messages(cid)[0].id, "  "))
    with pytest.raises(UsageError, match="has no message"):
        run(service.edit(cid, other.user_message_id, "x"))


def test_regenerate_an_earlier_reply_branches_there(service, repo, fake_model):
    fake_model.enqueue("A1")
    _, started, _ = run(service.send(None, "Q1"))
    cid = started.conversation_id
    fake_model.enqueue("A2")
    run(service.send(cid, "Q2"))
    first_reply = repo.messages(cid)[1]
    fake_model.enqueue("A1 again")
    run(service.regenerate(cid, message_id=first_reply.id))
    assert asked(fake_model) == ["Q1"]
    assert contents(repo.messages(cid)) == ["Q1", "A1 again"]


def test_fork_copies_the_branch_into_a_new_conversation(service, repo, fake_model):
    fake_model.enqueue("A1")
    _, started, _ = run(service.send(None, "Q1"))
    cid = started.conversation_id
    fake_model.enqueue("A2")
    run(service.send(cid, "Q2"))
    repo.update_conversation(cid, persona="tutor", system_prompt="Teach.")
    path = repo.messages(cid)
    fork = service.fork(cid, path[1].id)
    assert fork.id != cid and fork.title.endswith("(fork)") and fork.uid
    copied = repo.messages(fork.id)
    assert contents(copied) == ["Q1", "A1"]
    assert copied[1].completion_tokens == path[1].completion_tokens
    assert copied[1].parent_id == copied[0].id and copied[0].parent_id is None
    got = repo.get_conversation(fork.id, messages=False)
    assert (got.persona, got.system_prompt) == ("tutor", "Teach.")
    # the original is untouched; the fork goes its own way
    assert contents(repo.messages(cid)) == ["Q1", "A1", "Q2", "A2"]
    fake_model.enqueue("elsewhere")
    run(service.send(fork.id, "Q3"))
    assert asked(fake_model) == ["Q1", "A1", "Q3"]
    assert len(repo.all_messages(cid)) == 4


def test_session_edit_fork_and_branch_steps(service, repo, fake_model):
    session = ChatSession(service)
    run(session.send("hello"))
    first = session.thread()
    assert first is not None
    run(session.edit(first.messages[0].id, "hello again"))
    thread = session.thread()
    assert thread is not None and contents(thread.messages)[0] == "hello again"
    stepped = session.step_branch(thread.messages[0].id, -1)
    assert contents(stepped.messages)[0] == "hello"
    forked = session.fork()
    assert session.conversation_id == forked.conversation.id != first.conversation.id
    assert contents(forked.messages)[0] == "hello"


def test_a_search_hit_on_another_branch_is_opened_on_its_branch(service, repo, fake_model):
    fake_model.enqueue("Aardvarks dig burrows.")
    _, started, _ = run(service.send(None, "Tell me about aardvarks"))
    cid = started.conversation_id
    fake_model.enqueue("Zebras have stripes.")
    run(service.edit(cid, started.user_message_id, "Tell me about zebras"))
    hit = repo.search("burrows")[0]
    assert hit.message_id not in {m.id for m in repo.messages(cid)}
    session = ChatSession(service)
    thread = session.open(cid, at_message=hit.message_id)
    assert thread is not None and hit.message_id in {m.id for m in thread.messages}


def test_set_current_leaf_checks_the_conversation(repo):
    a = repo.create_conversation("a")
    b = repo.create_conversation("b")
    m = repo.add_message(b.id, Role.USER, "in b")
    with pytest.raises(NotFound):
        repo.set_current_leaf(a.id, m.id)
    with pytest.raises(NotFound):
        repo.thread(a.id, m.id)


def test_deleting_a_conversation_with_branches_removes_every_message(service, repo, fake_model):
    _, started, _ = run(service.send(None, "q"))
    cid = started.conversation_id
    run(service.regenerate(cid))
    run(service.edit(cid, started.user_message_id, "q2"))
    assert len(repo.all_messages(cid)) == 5
    service.delete(cid)
    assert repo.stats() == {"conversations": 0, "messages": 0}


def test_rename_keeps_the_order_of_the_list(repo):
    first = repo.create_conversation("first")
    second = repo.create_conversation("second")
    repo.rename(first.id, "renamed")
    assert [c.id for c in repo.list_conversations()] == [second.id, first.id]


def test_list_pages_follow_each_other_without_gaps(repo):
    ids = [repo.create_conversation(f"c{i}").id for i in range(25)]
    pages, after = [], None
    while True:
        page = repo.list_conversations(10, after=after, counts=False)
        if not page:
            break
        pages.append([c.id for c in page])
        after = page[-1]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i for p in pages for i in p] == list(reversed(ids))


def test_filter_finds_titles_then_message_text(repo):
    garden = repo.create_conversation("Garden plans")
    other = repo.create_conversation("Other")
    repo.add_message(other.id, Role.USER, "my garden has tomatoes")
    repo.create_conversation("Nothing here")
    assert [c.id for c in repo.filter_conversations("garden")] == [garden.id, other.id]
    assert [c.id for c in repo.filter_conversations("tomat")] == [other.id]  # prefix as you type
    assert repo.filter_conversations("100%_") == []  # LIKE wildcards are literal


# ------------------------------------------------------------- migration
def seed_0004(path) -> None:
    path.parent.mkdir(parents=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine, "0004")
    assert current_revision(engine) == "0004"
    now = datetime(2026, 3, 4, 5, 6, 7)
    rows = [
        (1, 1, "user", "How long do I boil an egg?", "complete", None),
        (2, 1, "assistant", "Seven minutes for a soft yolk.", "complete", "stop"),
        (3, 1, "user", "And a hard one?", "complete", None),
        (4, 1, "assistant", "Ten minu", "cancelled", "cancelled"),
        (5, 2, "user", "Name a quokka fact", "complete", None),
        (6, 2, "assistant", "They live on Rottnest", "interrupted", None),
    ]
    with engine.begin() as conn:
        for cid, title in ((1, "Eggs"), (2, "Quokkas")):
            conn.exec_driver_sql(
                "INSERT INTO conversations (id, title, created_at, updated_at, persona) "
                "VALUES (?, ?, ?, ?, 'tutor')",
                (cid, title, now, now),
            )
        for mid, cid, role, text, status, reason in rows:
            conn.exec_driver_sql(
                "INSERT INTO messages (id, conversation_id, role, content, status, created_at, "
                "updated_at, finish_reason, citations) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '[]')",
                (mid, cid, role, text, status, now, now, reason),
            )
    engine.dispose()


def test_0005_turns_existing_conversations_into_single_branch_trees(isolated_home):
    path = app_paths().database
    seed_0004(path)
    db = Database(path)
    assert current_revision(db.engine) == head_revision()
    repo = ConversationRepository(db)
    eggs = repo.thread(1)
    assert contents(eggs.messages) == [
        "How long do I boil an egg?",
        "Seven minutes for a soft yolk.",
        "And a hard one?",
        "Ten minu",
    ]
    assert [m.parent_id for m in eggs.messages] == [None, 1, 2, 3]
    assert eggs.conversation.current_leaf_id == 4
    assert all(eggs.position(m.id) == (1, 1) for m in eggs.messages)
    assert eggs.conversation.persona == "tutor"
    # one word for a stopped reply, whatever stopped it
    assert eggs.messages[-1].status == MessageStatus.STOPPED
    assert eggs.messages[-1].finish_reason == "stopped"
    quokka = repo.messages(2)
    assert [m.status for m in quokka] == [MessageStatus.COMPLETE, MessageStatus.STOPPED]
    uids = {c.uid for c in repo.list_conversations()}
    assert len(uids) == 2 and all(len(u) == 32 for u in uids)
    # the full-text index still covers the old messages, and new ones go on the branch
    assert [h.message_id for h in repo.search("Rottnest")] == [6]
    added = repo.add_message(1, Role.USER, "Thanks")
    assert added.parent_id == 4
    db.close()


def test_0005_downgrades_and_upgrades_again_without_losing_messages(isolated_home):
    path = app_paths().database
    seed_0004(path)
    db = Database(path)
    db.close()
    engine = make_engine(f"sqlite:///{path}")
    from alembic import command

    from assistant.store.migrate import alembic_config

    command.downgrade(alembic_config(engine), "0004")
    con = sqlite3.connect(path)
    assert con.execute("SELECT count(*) FROM messages").fetchone()[0] == 6
    assert con.execute("SELECT status FROM messages WHERE id = 4").fetchone()[0] == "cancelled"
    con.close()
    engine.dispose()
    db = Database(path)
    assert [m.id for m in ConversationRepository(db).messages(1)] == [1, 2, 3, 4]
    db.close()


def test_a_finished_message_updated_later_stays_searchable(repo):
    """Before 0005 the two update triggers ran newest first: the text went
    into the index and straight out again."""
    c = repo.create_conversation("x")
    m = repo.add_message(c.id, Role.ASSISTANT, "Platypuses lay eggs.")
    repo.update_message(m.id, status=MessageStatus.COMPLETE, completion_tokens=4)
    assert [h.message_id for h in repo.search("platypuses")] == [m.id]
    repo.update_message(m.id, content="Echidnas lay eggs too.")
    assert repo.search("platypuses") == []
    assert [h.message_id for h in repo.search("echidnas")] == [m.id]


def test_search_finds_chinese_by_its_first_characters(repo):
    c = repo.create_conversation("周末去杭州旅行")
    m = repo.add_message(c.id, Role.ASSISTANT, "西湖、灵隐寺和龙井村都很值得一去。")
    assert [h.message_id for h in repo.search("灵隐")] == [m.id]
    # what was typed is marked (0010 cut the text into words), not the whole run
    assert repo.search("灵隐")[0].marked() == "西湖、[灵隐]寺和龙井村都很值得一去。"
    assert [x.id for x in repo.filter_conversations("杭州")] == [c.id]
