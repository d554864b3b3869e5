from __future__ import annotations

import threading

import pytest

from assistant.chat.service import ChatService, ReplyDone, ReplyStarted
from assistant.chat.titles import title_from_text
from assistant.domain import MessageStatus, Role
from assistant.errors import ContextOverflow, ModelError
from assistant.llm.base import TextPiece
from tests.fakes import FakeModel


def run(events):
    pieces, done, started = [], None, None
    for e in events:
        if isinstance(e, TextPiece):
            pieces.append(e.text)
        elif isinstance(e, ReplyDone):
            done = e
        elif isinstance(e, ReplyStarted):
            started = e
    return "".join(pieces), started, done


def test_send_stores_user_and_reply(service, repo, fake_model):
    fake_model.enqueue(["Paris", " is", " the", " capital."])
    text, started, done = run(service.send(None, "What is the capital of France?"))
    assert text == "Paris is the capital."
    conv = repo.get_conversation(started.conversation_id)
    assert conv.title == "What is the capital of France?"
    assert [m.role for m in conv.messages] == [Role.USER, Role.ASSISTANT]
    reply = conv.messages[1]
    assert reply.content == "Paris is the capital."
    assert reply.status == MessageStatus.COMPLETE
    assert reply.completion_tokens == 4
    assert reply.model == "fake-model"
    # the system prompt reaches the model first
    assert fake_model.history[0][0].role == Role.SYSTEM
    assert fake_model.history[0][0].content == "Be brief."


def test_user_message_committed_before_first_token(service, repo, fake_model):
    events = service.send(None, "hello there")
    started = next(events)
    assert isinstance(started, ReplyStarted)
    msgs = repo.messages(started.conversation_id)
    assert msgs[0].content == "hello there" and msgs[0].role == Role.USER
    assert msgs[1].status == MessageStatus.STREAMING
    assert fake_model.history == []  # the model has not been asked yet
    run(events)


def test_reply_flushed_while_streaming(service, repo, fake_model):
    fake_model.enqueue(["one", " two", " three"])
    events = service.send(None, "count")
    started = next(events)
    next(events)  # "one"
    next(events)  # " two": flush_interval is 0, so "one" is on disk
    stored = repo.get_message(started.reply_message_id)
    assert stored.content.startswith("one")
    assert stored.status == MessageStatus.STREAMING
    run(events)
    assert repo.get_message(started.reply_message_id).content == "one two three"


def test_cancel_keeps_partial_reply(service, repo, fake_model):
    fake_model.enqueue(["a", "b", "c", "d", "e"])
    cancel = threading.Event()
    events = service.send(None, "letters", cancel)
    got = []
    for e in events:
        if isinstance(e, TextPiece):
            got.append(e.text)
            if len(got) == 2:
                cancel.set()
        if isinstance(e, ReplyDone):
            done = e
    assert got == ["a", "b"]
    assert done.message.status == MessageStatus.STOPPED
    assert done.message.content == "ab"


def test_consumer_abandoning_stream_marks_cancelled(service, repo, fake_model):
    fake_model.enqueue(["x", "y", "z"])
    events = service.send(None, "go")
    started = next(events)
    next(events)
    events.close()  # e.g. KeyboardInterrupt in the consumer
    msg = repo.get_message(started.reply_message_id)
    assert msg.status == MessageStatus.STOPPED
    assert msg.content == "x"


def test_model_error_marks_reply_and_keeps_user_message(service, repo, fake_model):
    fake_model.enqueue(["part", "more"])
    fake_model.fail_with = RuntimeError("boom")
    events = service.send(None, "fail please")
    started = next(events)
    with pytest.raises(ModelError):
        run(events)
    msgs = repo.messages(started.conversation_id)
    assert msgs[0].content == "fail please"
    assert msgs[1].status == MessageStatus.ERROR
    assert msgs[1].content == "part"
    assert "boom" in msgs[1].error


def test_multi_turn_history_and_regenerate(service, repo, fake_model):
    fake_model.enqueue("first answer")
    _, started, _ = run(service.send(None, "first question"))
    cid = started.conversation_id
    fake_model.enqueue("second answer")
    run(service.send(cid, "second question"))
    turns = fake_model.history[-1]
    assert [t.content for t in turns] == [
        "Be brief.",
        "first question",
        "first answer",
        "second question",
    ]
    fake_model.enqueue("second answer, again")
    _, _, done = run(service.regenerate(cid))
    msgs = repo.messages(cid)
    assert [m.content for m in msgs] == [
        "first question",
        "first answer",
        "second question",
        "second answer, again",
    ]
    assert done.message.content == "second answer, again"


def test_oldest_turns_dropped_when_context_is_full(repo):
    model = FakeModel(context_size=200)
    svc = ChatService(repo, model, system_prompt="System rules.", flush_interval=0.0)
    cid = svc.new_conversation("start").id
    for i in range(12):
        model.enqueue(" ".join(["word"] * 10))
        run(svc.send(cid, f"question {i} " + "filler " * 8))
    model.enqueue("final")
    _, started, done = run(svc.send(cid, "the latest question"))
    turns = model.history[-1]
    assert turns[0].content == "System rules."
    assert turns[-1].content == "the latest question"
    assert turns[1].role == Role.USER  # whole exchanges dropped
    assert started.plan.dropped_turns > 0
    assert started.plan.dropped_tokens > 0
    assert model.count_tokens(turns) <= model.context_size
    assert done.message.status == MessageStatus.COMPLETE


def test_message_too_long_for_window_is_refused_but_kept(repo):
    model = FakeModel(context_size=300)
    svc = ChatService(repo, model, flush_interval=0.0)
    huge = "word " * 1000
    with pytest.raises(ContextOverflow) as err:
        run(svc.send(None, huge))
    assert "context window" in str(err.value)
    assert model.history == []
    convs = repo.list_conversations()
    assert repo.messages(convs[0].id)[0].content == huge  # nothing the user wrote is lost


def test_reply_cut_by_token_limit_is_marked(repo):
    from assistant.domain import GenerationOptions

    model = FakeModel()
    svc = ChatService(repo, model, options=GenerationOptions(max_tokens=2), flush_interval=0.0)
    model.enqueue(["a", "b", "c", "d"])
    _, _, done = run(svc.send(None, "go"))
    assert done.message.finish_reason == "length"
    assert done.message.content == "ab"


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Hello there", "Hello there"),
        ("# Heading\nbody", "Heading"),
        ("\n\n   spaced   out  ", "spaced out"),
        ("word " * 30, "word word word word word word word word word…"),
        ("", "New conversation"),
    ],
)
def test_titles(text, title):
    assert title_from_text(text) == title


def test_reply_indexed_for_search_once_finished(service, repo, fake_model):
    fake_model.enqueue(["Sourdough", " needs", " a", " starter."])
    events = service.send(None, "bread question")
    started = next(events)
    next(events)
    assert repo.search("sourdough") == []  # not indexed while streaming
    run(events)
    hits = repo.search("sourdough starter")
    assert [h.message_id for h in hits] == [started.reply_message_id]
    repo.delete_conversation(started.conversation_id)
    assert repo.search("sourdough") == []


def test_a_base_model_is_primed_in_the_conversations_language(service, fake_model):
    from assistant.llm.prompting import PRIMING

    fake_model.base_model = True
    fake_model.enqueue("Paris.")
    _, started, _ = run(service.send(None, "What is the capital of France?"))
    turns = fake_model.history[0]
    assert [t.role for t in turns[:5]] == [Role.SYSTEM, *[Role.USER, Role.ASSISTANT] * 2]
    assert turns[1].content == PRIMING["en"][0][0] and turns[-1].content.startswith("What is")
    # the state is prepared for the next turn as it will be sent: primed the same way
    assert fake_model.prepared[-1][:5] == turns[:5]
    assert fake_model.prepared[-1][-1].content == "Paris."

    fake_model.enqueue("Lyon.")
    run(service.send(started.conversation_id, "And the second largest city?"))
    assert fake_model.history[1][:5] == turns[:5]  # unchanged from turn to turn

    fake_model.enqueue("巴黎。")
    run(service.send(None, "法国的首都是哪里？"))
    assert fake_model.history[2][1].content == PRIMING["zh"][0][0]


def test_a_model_with_a_chat_template_is_not_primed(service, fake_model):
    fake_model.enqueue("Paris.")
    run(service.send(None, "What is the capital of France?"))
    assert [t.role for t in fake_model.history[0]] == [Role.SYSTEM, Role.USER]
