# ruff: noqa: F811  (the fixtures make and model are shared with test_chat_controller)
"""The chat controller with tools, without a screen: the per-conversation
tools switch, and the approval question a reply puts to the user (allow
once, for this conversation, deny, or stop the reply while it is asked).

A real ``Runtime`` and the real ``run_command`` tool (it creates a file, so
whether it ran is seen on disk); the scripted FakeModel asks for the calls
through the model protocol. No Textual, no clock: waits are on updates.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from assistant.chat.events import ToolCallDone, ToolsUnavailable
from assistant.chat.tooluse import Approval
from assistant.chat.updates import ApprovalAsked, ReplyClosed, ReplyUpdate
from assistant.domain import MessageStatus, Role, ToolCall
from tests.fakes import FakeModel
from tests.test_chat_controller import Screen, make, model, stored  # noqa: F401  (fixtures)


def touch(path: Path, call_id: str = "c1") -> ToolCall:
    return ToolCall(call_id, "run_command", {"command": f"touch {shlex.quote(str(path))}"})


class Answering(Screen):
    """A screen that answers each approval question with the next of ``answers``
    (None: leaves it open)."""

    def __init__(self, *answers: Approval | None) -> None:
        super().__init__()
        self.answers = list(answers)

    def __call__(self, update) -> None:
        super().__call__(update)
        if isinstance(update, ApprovalAsked) and self.answers:
            answer = self.answers.pop(0)
            if answer is not None:
                update.answer.set_result(answer)


async def started(make, screen: Screen):
    controller, _ = await make()
    controller.listener = screen
    return controller


async def reply(controller, screen: Screen, text: str) -> ReplyClosed:
    before = len(screen.of(ReplyClosed))
    assert await controller.submit(text)
    await screen.until(lambda: len(screen.of(ReplyClosed)) > before)
    await controller.idle()
    return screen.of(ReplyClosed)[-1]


def outcomes(screen: Screen) -> list[str]:
    return [u.event.outcome for u in screen.of(ReplyUpdate) if isinstance(u.event, ToolCallDone)]


async def test_the_tools_switch_is_shown_stored_and_followed(make, model: FakeModel):
    screen = Screen()
    controller = await started(make, screen)
    await controller.toggle("tools")
    assert "tools on" in screen.status.switches
    assert "Replies in this conversation may call tools" in screen.notices()[-1]
    model.enqueue("Hi.")
    await reply(controller, screen, "hello")
    cid = controller.conversation_id
    names = {t.name for t in model.tools_seen[-1]}
    assert {"run_command", "now", "search_notes"} <= names  # every tool, as ask --tools
    assert controller.backend.repo.get_conversation(cid, messages=False).tools == ("*",)
    # opened again (a new conversation in between): the switch comes back with it
    await controller.new_conversation()
    assert "tools on" not in screen.status.switches
    await controller.open(cid)
    assert "tools on" in screen.status.switches
    assert await controller.submit("/tools off")
    assert controller.backend.repo.get_conversation(cid, messages=False).tools is None
    model.enqueue("Bye.")
    await reply(controller, screen, "bye")
    assert model.tools_seen[-1] is None


async def test_a_model_that_cannot_call_tools_is_said_once_when_switched_on(make, model: FakeModel):
    model.supports_tools = False
    screen = Screen()
    controller = await started(make, screen)
    await controller.set_switch("tools", True)
    said = [n for n in screen.notices() if "cannot call tools" in n]
    assert said == [
        "fake-model cannot call tools (its chat template does not offer them; the bundled "
        "base model has none), so replies are written without them."
    ]
    model.enqueue("Plain.")
    await reply(controller, screen, "what time is it?")
    # the reply goes on without tools; the sentence is not repeated at each reply
    assert stored(controller)[-1].content == "Plain."
    assert any(isinstance(u.event, ToolsUnavailable) for u in screen.of(ReplyUpdate))
    assert len([n for n in screen.notices() if "cannot call tools" in n]) == 1


async def test_allow_once_runs_the_call_and_asks_again_next_time(
    make, model: FakeModel, tmp_path: Path
):
    screen = Answering(Approval.ONCE, Approval.ONCE)
    controller = await started(make, screen)
    await controller.set_switch("tools", True)
    model.enqueue_calls(touch(tmp_path / "one"))
    model.enqueue("Made one.")
    await reply(controller, screen, "make one")
    asked = screen.of(ApprovalAsked)
    assert len(asked) == 1 and asked[0].request.shown == f"touch {tmp_path / 'one'}"
    assert (tmp_path / "one").exists()
    model.enqueue_calls(touch(tmp_path / "two", "c2"))
    model.enqueue("Made two.")
    await reply(controller, screen, "make two")
    assert len(screen.of(ApprovalAsked)) == 2  # once means once
    assert (tmp_path / "two").exists()
    assert outcomes(screen) == ["ok", "ok"]
    assert stored(controller)[-1].content == "Made two."


async def test_allow_for_this_conversation_is_not_asked_again_in_it(
    make, model: FakeModel, tmp_path: Path
):
    screen = Answering(Approval.CONVERSATION)
    controller = await started(make, screen)
    await controller.set_switch("tools", True)
    model.enqueue_calls(touch(tmp_path / "one"))
    model.enqueue("Made one.")
    await reply(controller, screen, "make one")
    first = controller.conversation_id
    model.enqueue_calls(touch(tmp_path / "two", "c2"), touch(tmp_path / "three", "c3"))
    model.enqueue("Made two more.")
    await reply(controller, screen, "two more")
    assert len(screen.of(ApprovalAsked)) == 1
    assert all((tmp_path / n).exists() for n in ("one", "two", "three"))
    # another conversation asks again
    await controller.new_conversation()
    await controller.set_switch("tools", True)
    model.enqueue_calls(touch(tmp_path / "four", "c4"))
    model.enqueue("Four?")
    screen.answers = [Approval.DENY]
    await reply(controller, screen, "make four")
    assert controller.conversation_id != first
    assert len(screen.of(ApprovalAsked)) == 2
    assert not (tmp_path / "four").exists()


async def test_deny_leaves_nothing_run_and_the_reply_goes_on(
    make, model: FakeModel, tmp_path: Path
):
    screen = Answering(Approval.DENY)
    controller = await started(make, screen)
    await controller.set_switch("tools", True)
    model.enqueue_calls(touch(tmp_path / "no"))
    model.enqueue("I could not run it.")
    closed = await reply(controller, screen, "make it")
    assert closed.error is None
    assert not (tmp_path / "no").exists()
    assert outcomes(screen) == ["denied"]
    rows = stored(controller)
    tool = next(m for m in rows if m.role == Role.TOOL)
    assert tool.content == "Not run: the user denied this call."
    assert rows[-1].content == "I could not run it."
    assert rows[-1].status == MessageStatus.COMPLETE
    # the model was given the denial as the call's result
    assert "denied" in model.history[-1][-1].content


async def test_stopping_the_reply_while_it_asks_denies_and_keeps_everything(
    make, model: FakeModel, tmp_path: Path
):
    screen = Answering(None)  # the question stays open
    controller = await started(make, screen)
    await controller.set_switch("tools", True)
    model.enqueue_calls(touch(tmp_path / "no"), text="Let me make it.")
    model.enqueue("never asked for")
    assert await controller.submit("make it")
    await screen.until(lambda: screen.of(ApprovalAsked))
    question = screen.of(ApprovalAsked)[0]
    assert not question.answer.done()
    assert await controller.stop()
    assert question.answer.result() == Approval.DENY  # settled: the screen closes it
    await screen.until(lambda: screen.of(ReplyClosed))
    await controller.idle()
    assert not controller.streaming
    assert not (tmp_path / "no").exists()
    assert outcomes(screen) == ["stopped"]
    rows = stored(controller)
    assert [m.role for m in rows] == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.ASSISTANT]
    assert rows[1].content == "Let me make it." and rows[1].tool_calls
    assert rows[2].status == MessageStatus.STOPPED
    assert rows[3].status == MessageStatus.STOPPED
    assert len(model.history) == 1  # the model was not asked again


async def test_the_tools_list_names_every_tool_and_where_it_comes_from(make):
    controller, _ = await make()
    listing = await controller.tool_listing()
    by_name = {t.name: t for t in listing.tools}
    assert by_name["run_command"].source == "built-in" and by_name["run_command"].asks_first
    assert not by_name["now"].asks_first
    assert listing.problems == ()


async def test_a_failed_mcp_server_is_one_sentence_in_the_tools_list(make, isolated_home):
    config = isolated_home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(
        '[mcp.broken]\ncommand = "/no/such/server"\n', encoding="utf-8"
    )
    controller, _ = await make()
    try:
        listing = await controller.tool_listing()
    finally:
        controller.backend.close_tools()  # type: ignore[attr-defined]
    assert "run_command" in {t.name for t in listing.tools}
    assert len(listing.problems) == 1 and "broken" in listing.problems[0]
