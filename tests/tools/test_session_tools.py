"""The per-conversation tools switch: stored with the conversation, used by
every later reply in it (``ask -c`` too), until switched off."""

from __future__ import annotations

import pytest

from assistant.domain import ToolCall
from assistant.errors import UsageError
from assistant.runtime import Runtime
from tests.fakes import FakeModel


@pytest.fixture
def rt(monkeypatch, isolated_home):
    model = FakeModel()
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: model)
    runtime = Runtime()
    runtime.fake = model  # type: ignore[attr-defined]
    return runtime


def test_switch_chosen_before_the_first_message_is_stored_and_followed(rt):
    model = rt.fake
    session = rt.session()
    session.set_tools(("now",))
    model.enqueue_calls(ToolCall("n", "now", {}))
    model.enqueue("Noon.")
    list(session.send("time?"))
    cid = session.conversation_id
    assert rt.repo.get_conversation(cid, messages=False).tools == ("now",)
    # a new session on the same conversation (ask -c) keeps using them
    later = rt.session()
    later.open(cid)
    assert later.state.tools == ("now",)
    model.enqueue("Still noon.")
    list(later.send("and now?"))
    assert [t.name for t in model.tools_seen[-1]] == ["now"]
    later.set_tools(None)
    model.enqueue("Off.")
    list(later.send("bye"))
    assert model.tools_seen[-1] is None
    assert rt.repo.get_conversation(cid, messages=False).tools is None


def test_unknown_tool_in_the_switch_fails_before_anything_is_stored(rt):
    session = rt.session()
    with pytest.raises(UsageError, match="There is no tool named nope"):
        session.set_tools(("nope",))
    assert rt.repo.list_conversations() == []


def test_a_tool_registered_by_another_package_is_offered(rt):
    from assistant.domain import ToolSpec
    from assistant.tools.base import Tool

    rt.tools.register(
        Tool(ToolSpec("bookmark", "Keep a link."), lambda a, c: "kept", source="bookmarks")
    )
    session = rt.session()
    session.tools_once = ("bookmark",)
    rt.fake.enqueue_calls(ToolCall("m", "bookmark", {"fact": "x"}))
    rt.fake.enqueue("Noted.")
    events = list(session.send("bookmark x"))
    assert events[-1].message.content == "Noted."
    assert [t.name for t in rt.fake.tools_seen[0]] == ["bookmark"]
    with pytest.raises(ValueError, match="already registered"):
        rt.tools.register(Tool(ToolSpec("now", "dup"), lambda a, c: ""))
