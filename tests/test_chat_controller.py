"""The chat controller without a screen: what the chat does when the user
types, stops, edits, answers again, moves between branches and switches,
checked on the updates it emits and the rows it stores.

A real ``Runtime`` (database in the isolated home) with the scripted
FakeModel; no Textual. Waiting is on the controller's own tasks and on the
updates it emits, never on the clock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.chat.controller import BUSY, STARTING, ChatController
from assistant.chat.events import ReplyDone, ReplyStarted, TextPiece
from assistant.chat.updates import (
    BoxText,
    ChatNote,
    EditMode,
    HistoryRead,
    MarkersChanged,
    Notice,
    Queued,
    Ready,
    Recall,
    ReplyClosed,
    ReplyOpened,
    ReplyUpdate,
    SidebarChanged,
    StatusChanged,
    ThreadShown,
    Unqueued,
    Update,
)
from assistant.domain import MessageStatus, Role
from assistant.errors import ModelError
from assistant.runtime import Runtime
from tests.fakes import FakeModel
from tests.ui.helpers import seed_conversation


class Screen:
    """Stands in for a screen: keeps every update, and lets a test wait for one."""

    def __init__(self) -> None:
        self.updates: list[Update] = []
        self._arrived = asyncio.Event()

    def __call__(self, update: Update) -> None:
        self.updates.append(update)
        self._arrived.set()

    def of(self, kind: type) -> list:
        return [u for u in self.updates if isinstance(u, kind)]

    def notices(self) -> list[str]:
        return [n.text for n in self.of(Notice)]

    def texts(self) -> str:
        """The reply text as it arrived, piece by piece."""
        return "".join(u.event.text for u in self.of(ReplyUpdate) if isinstance(u.event, TextPiece))

    async def until(self, found: Callable[[], object]) -> None:
        while not found():
            self._arrived.clear()
            await asyncio.wait_for(self._arrived.wait(), 30)

    @property
    def status(self):
        return self.of(StatusChanged)[-1].status


class Held:
    """A FakeModel reply that waits, after its first piece, until released."""

    def __init__(self, model: FakeModel) -> None:
        self.release = threading.Event()
        self.first = threading.Event()
        original = model.stream

        def stream(turns, options, cancel=None):
            for n, item in enumerate(original(turns, options, cancel)):
                if n == 1:
                    self.first.set()
                    self.release.wait(30)
                yield item

        model.stream = stream  # type: ignore[method-assign]


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch) -> FakeModel:
    fake = FakeModel()
    monkeypatch.setattr(Runtime, "load_model", lambda self: fake)
    return fake


@pytest.fixture
def make(model: FakeModel):
    made: list[ChatController] = []

    async def make(conversation_id: int | None = None) -> tuple[ChatController, Screen]:
        screen = Screen()
        controller = ChatController(
            Runtime(), screen, conversation_id=conversation_id, sync_notes=False
        )
        made.append(controller)
        await controller.start()
        await controller.idle()
        return controller, screen

    yield make
    for controller in made:
        controller.close()


def stored(controller: ChatController):
    assert controller.conversation_id is not None
    return controller.backend.repo.messages(controller.conversation_id)


# ------------------------------------------------------------- start-up
async def test_start_reads_the_history_then_shows_the_conversation(make):
    first = seed_conversation("Trees", [("oak?", "A tree.")])
    second = seed_conversation("Rivers", [("nile?", "A river.")])
    controller, screen = await make(first)
    kinds = [type(u) for u in screen.updates if not isinstance(u, StatusChanged)]
    assert kinds.index(HistoryRead) < kinds.index(ThreadShown) < kinds.index(Ready)
    history = screen.of(HistoryRead)[0]
    assert [c.id for c in history.conversations] == [second, first] and not history.more
    shown = screen.of(ThreadShown)[0].thread
    assert [m.content for m in shown.messages] == ["oak?", "A tree."]
    assert screen.status.model == "fake-model"
    assert screen.status.speed == "last reply 20.5 tok/s"
    assert screen.of(Recall)[-1].messages == ("oak?",)
    assert controller.ready and controller.conversation_id == first


async def test_a_missing_conversation_is_a_sentence_and_a_new_one_is_shown(make):
    controller, screen = await make(99)
    assert "There is no conversation 99." in screen.notices()
    assert screen.status.notice == "There is no conversation 99."
    assert screen.of(ThreadShown)[0].thread is None
    assert controller.conversation_id is None


async def test_a_model_that_cannot_load_is_a_sentence_and_the_question_is_kept(
    make, monkeypatch: pytest.MonkeyPatch
):
    def missing(self):
        raise ModelError("The model file /nowhere/model.gguf does not exist.")

    monkeypatch.setattr(Runtime, "load_model", missing)
    controller, screen = await make()
    assert screen.status.model.endswith("· not loaded")
    assert "does not exist" in screen.status.notice
    assert await controller.submit("hi")
    await controller.idle()
    closed = screen.of(ReplyClosed)[-1]
    assert closed.error is not None and "does not exist" in closed.error
    # the question is kept, its reply row says why there is no reply (issue 17)
    question, answer = stored(controller)
    assert question.content == "hi" and answer.parent_id == question.id
    assert answer.status == MessageStatus.ERROR and "does not exist" in (answer.error or "")
    assert not controller.streaming


async def test_messages_typed_before_the_history_is_read_are_sent_after_it(
    model, monkeypatch: pytest.MonkeyPatch
):
    """Issue 17: what is typed while the app starts is kept, then sent."""
    from assistant.store.repository import ConversationRepository

    gate, entered = threading.Event(), threading.Event()
    original = ConversationRepository.list_conversations

    def held(self, *args, **kwargs):
        entered.set()
        gate.wait(30)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ConversationRepository, "list_conversations", held)
    screen = Screen()
    controller = ChatController(Runtime(), screen, sync_notes=False)
    model.enqueue("Hello.")
    model.enqueue("Again.")
    try:
        await controller.start()
        assert await asyncio.to_thread(entered.wait, 30)
        assert not controller.ready
        assert await controller.submit("hi")
        assert await controller.submit("and you?")
        assert [u.text for u in screen.of(Queued)] == ["hi", "and you?"]
        assert screen.of(ReplyOpened) == []
        gate.set()
        await controller.idle()
    finally:
        gate.set()
        controller.close()
    kinds = [type(u) for u in screen.updates]
    assert kinds.index(ThreadShown) < kinds.index(Ready) < kinds.index(ReplyOpened)
    assert [(m.role, m.content) for m in stored(controller)] == [
        (Role.USER, "hi"),
        (Role.ASSISTANT, "Hello."),
        (Role.USER, "and you?"),
        (Role.ASSISTANT, "Again."),
    ]
    assert len(screen.of(Unqueued)) == 2


# --------------------------------------------------------------- replies
async def test_send_streams_a_reply_and_stores_it(make, model: FakeModel):
    model.enqueue(["Paris", " is", " the", " **capital**."])
    controller, screen = await make()
    assert await controller.submit("capital of France?")
    await controller.idle()
    opened = screen.of(ReplyOpened)[0]
    assert opened.request == "capital of France?" and opened.waiting == "waiting for the model…"
    events = [u.event for u in screen.of(ReplyUpdate)]
    assert isinstance(events[0], ReplyStarted) and isinstance(events[-1], ReplyDone)
    assert screen.texts() == "Paris is the **capital**."
    rows = stored(controller)
    assert [(m.role, m.content, m.status) for m in rows] == [
        (Role.USER, "capital of France?", MessageStatus.COMPLETE),
        (Role.ASSISTANT, "Paris is the **capital**.", MessageStatus.COMPLETE),
    ]
    status = screen.status
    assert status.speed.endswith("tok/s") and status.context_size == model.context_size
    assert status.context_used == rows[-1].prompt_tokens + rows[-1].completion_tokens
    assert screen.of(ReplyClosed)[-1].error is None
    assert screen.of(SidebarChanged) and screen.of(Recall)[-1].messages == ("capital of France?",)
    assert controller.thread is not None and len(controller.thread.messages) == 2


async def test_an_error_mid_reply_keeps_the_text_and_says_why(make, model: FakeModel):
    model.enqueue(["partial", " text", " never"])
    model.fail_with = RuntimeError("GPU on fire")
    controller, screen = await make()
    await controller.submit("x")
    await controller.idle()
    reply = stored(controller)[-1]
    assert reply.status == MessageStatus.ERROR and reply.content == "partial"
    closed = screen.of(ReplyClosed)[-1]
    assert "GPU on fire" in (closed.error or "")
    assert closed.stored is not None and closed.stored.status == MessageStatus.ERROR
    assert not controller.streaming


async def test_stop_keeps_the_partial_reply(make, model: FakeModel):
    model.enqueue([f"word{i} " for i in range(50)])
    held = Held(model)
    controller, screen = await make()
    await controller.submit("go")
    assert await asyncio.to_thread(held.first.wait, 30)
    assert controller.streaming
    assert await controller.stop()
    assert screen.status.notice == "stopping…"
    held.release.set()
    await controller.idle()
    reply = stored(controller)[-1]
    assert reply.status == MessageStatus.STOPPED and reply.content.startswith("word0 ")
    assert len(reply.content.split()) < 50
    assert screen.status.notice == "" and not controller.streaming
    assert not await controller.stop()  # nothing left to stop


async def test_typing_during_a_reply_queues_in_order_and_up_takes_back(make, model):
    model.enqueue([f"w{i} " for i in range(5)])
    model.enqueue("Second reply.")
    model.enqueue("Third reply.")
    held = Held(model)
    controller, screen = await make()
    await controller.submit("first")
    assert await asyncio.to_thread(held.first.wait, 30)
    assert await controller.submit("second one")
    assert await controller.submit("third")
    assert await controller.submit("taken back")
    assert controller.queued == ["second one", "third", "taken back"]
    assert await controller.take_back() == "taken back"
    assert controller.queued == ["second one", "third"]
    held.release.set()
    await controller.idle()
    assert [h[-1].content for h in model.history] == ["first", "second one", "third"]
    assert [m.content for m in stored(controller)][2:] == [
        "second one",
        "Second reply.",
        "third",
        "Third reply.",
    ]
    keys = [u.key for u in screen.of(Queued)]
    assert sorted(u.key for u in screen.of(Unqueued)) == sorted(keys)
    assert controller.queued == [] and await controller.take_back() is None


async def test_a_queued_slash_command_with_a_mistake_goes_back_to_the_box(make, model):
    model.enqueue(["one ", "two"])
    held = Held(model)
    controller, screen = await make()
    await controller.submit("hello")
    assert await asyncio.to_thread(held.first.wait, 30)
    await controller.submit("/frobnicate now")
    await controller.submit("later")
    held.release.set()
    await controller.idle()
    assert screen.of(BoxText)[-1].text == "/frobnicate now"
    assert controller.queued == ["later"]  # waits until the line is fixed
    model.enqueue("Fine.")
    assert await controller.submit("hello again")
    await controller.idle()
    assert [h[-1].content for h in model.history][1:] == ["hello again", "later"]


async def test_changing_conversation_while_a_reply_is_written_is_refused(make, model):
    other = seed_conversation("Other", [("q", "a")])
    model.enqueue(["a", "b", "c"])
    held = Held(model)
    controller, screen = await make()
    await controller.submit("hi")
    assert await asyncio.to_thread(held.first.wait, 30)
    assert not await controller.open(other)
    assert not await controller.new_conversation()
    assert not await controller.fork()
    assert not await controller.regenerate()
    assert not await controller.delete(controller.conversation_id)
    assert screen.notices().count(BUSY) == 5
    held.release.set()
    await controller.idle()
    assert await controller.open(other)


async def test_commands_wait_for_the_history(model):
    from assistant.store.repository import ConversationRepository

    gate, entered = threading.Event(), threading.Event()
    original = ConversationRepository.list_conversations

    def held(self, *args, **kwargs):
        entered.set()
        gate.wait(30)
        return original(self, *args, **kwargs)

    patch = pytest.MonkeyPatch()
    patch.setattr(ConversationRepository, "list_conversations", held)
    screen = Screen()
    controller = ChatController(Runtime(), screen, sync_notes=False)
    try:
        await controller.start()
        assert await asyncio.to_thread(entered.wait, 30)
        assert not await controller.new_conversation()
        assert screen.notices() == [STARTING]
    finally:
        gate.set()
        await controller.idle()
        patch.undo()
        controller.close()


# ---------------------------------------------------- branches and edits
async def test_answer_again_makes_a_branch_and_versions_follow(make, model):
    model.enqueue("First answer.")
    model.enqueue("Second answer.")
    controller, screen = await make()
    assert not await controller.regenerate()
    assert "There is no message to answer again yet." in screen.notices()
    await controller.submit("hi")
    await controller.idle()
    question = stored(controller)[0]
    assert await controller.regenerate()
    await controller.idle()
    opened = screen.of(ReplyOpened)[-1]
    assert opened.request is None and opened.remove_after == question.id
    thread = screen.of(MarkersChanged)[-1].thread
    assert [m.content for m in thread.messages] == ["hi", "Second answer."]
    assert thread.position(thread.messages[1].id) == (2, 2)
    assert len(controller.backend.repo.all_messages(controller.conversation_id)) == 3


async def test_edit_sends_a_new_version_and_escape_gives_it_up(make, model):
    conversation = seed_conversation("Capitals", [("Capital of France?", "Paris.")])
    model.enqueue("Berlin.")
    controller, screen = await make(conversation)
    question = controller.thread.messages[0]
    reply = controller.thread.messages[1]
    assert not await controller.start_edit(reply.id, Role.ASSISTANT, reply.content)
    assert await controller.start_edit(question.id, Role.USER, question.content)
    assert screen.of(EditMode)[-1] == EditMode(question.id, "Capital of France?")
    await controller.leave_edit()
    assert screen.of(EditMode)[-1] == EditMode(None, clear_box=True)
    assert controller.editing is None
    await controller.start_edit(question.id, Role.USER, question.content)
    assert await controller.submit("Capital of Germany?")
    await controller.idle()
    opened = screen.of(ReplyOpened)[-1]
    assert opened.request == "Capital of Germany?" and opened.remove_from == question.id
    assert [m.content for m in controller.thread.messages] == ["Capital of Germany?", "Berlin."]
    assert controller.thread.position(controller.thread.messages[0].id) == (2, 2)
    assert [t.content for t in model.history[-1] if t.role != Role.SYSTEM] == [
        "Capital of Germany?"
    ]


async def test_stepping_between_versions_shows_and_marks_the_other_one(make, model):
    model.enqueue("One.")
    model.enqueue("Two.")
    controller, screen = await make()
    await controller.submit("hi")
    await controller.idle()
    await controller.regenerate()
    await controller.idle()
    reply = controller.thread.messages[1]
    assert await controller.step_branch(reply.id, -1, (2, 2))
    shown = screen.of(ThreadShown)[-1]
    assert [m.content for m in shown.thread.messages] == ["hi", "One."]
    assert shown.focus == shown.thread.messages[1].id != reply.id
    assert not await controller.step_branch(shown.focus, -1, (1, 2))  # already the first
    assert not await controller.step_branch(controller.thread.messages[0].id, 1, (1, 1))
    assert "This message has no other version." in screen.notices()


async def test_fork_copies_the_branch_into_a_new_conversation(make):
    conversation = seed_conversation("Trip", [("Where to?", "Lisbon."), ("When?", "In May.")])
    controller, screen = await make(conversation)
    lisbon = controller.thread.messages[1]
    assert await controller.fork(lisbon.id)
    assert controller.conversation_id != conversation
    assert [m.content for m in controller.thread.messages] == ["Where to?", "Lisbon."]
    assert controller.thread.conversation.title == "Trip (fork)"
    assert "Forked into “Trip (fork)”." in screen.notices()


async def test_open_a_search_hit_on_its_branch(make, model):
    conversation = seed_conversation("Animals", [("Tell me about aardvarks", "They dig.")])
    model.enqueue("Zebras have stripes.")
    controller, screen = await make(conversation)
    question = controller.thread.messages[0]
    await controller.start_edit(question.id, Role.USER, question.content)
    await controller.submit("Tell me about zebras")
    await controller.idle()
    await controller.new_conversation()
    hits = await asyncio.to_thread(controller.search_messages, "aardvark", 5)
    assert [h.message_id for h in hits] == [question.id]
    assert await controller.open(conversation, hits[0].message_id)
    shown = screen.of(ThreadShown)[-1]
    assert [m.content for m in shown.thread.messages] == ["Tell me about aardvarks", "They dig."]
    assert shown.focus == question.id


# -------------------------------------------------------------- slash
async def test_slash_commands(make, model):
    from assistant.writing.templates import load_library

    editor_prompt = load_library().persona("editor").system
    controller, screen = await make()
    assert await controller.submit("/help")
    assert "/translate" in screen.of(ChatNote)[-1].text
    assert not await controller.submit("/summarize")  # nothing to work on: stays in the box
    assert not await controller.submit("/frobnicate now")
    assert any("frobnicate" in n for n in screen.notices())
    assert await controller.submit("/persona editor")
    assert screen.status.persona == "persona editor"
    assert await controller.submit("/persona")
    assert "Persona in use: editor" in screen.of(ChatNote)[-1].text
    model.enqueue("hello back")
    await controller.submit("hello")
    await controller.idle()
    first = controller.conversation_id
    assert model.history[-1][0].content == editor_prompt
    assert await controller.submit("/notes on")
    assert screen.status.switches == ("using notes",) and controller.state.use_notes
    repo = controller.backend.repo
    assert repo.get_conversation(first, messages=False).use_notes
    await controller.submit("/notes off")
    assert screen.status.switches == ()
    assert not repo.get_conversation(first, messages=False).use_notes
    model.enqueue("Bonjour.")
    assert await controller.submit("/translate fr")
    await controller.idle()
    sent = "\n".join(t.content for t in model.history[-1])
    assert "hello back" in sent and "French" in sent
    assert [m.content for m in stored(controller)][-2:] == ["/translate fr", "Bonjour."]
    assert await controller.submit("/new")
    assert controller.conversation_id is None and screen.of(ThreadShown)[-1].thread is None
    assert controller.slash_choices("/tr") == [
        (c, about) for c, about in controller.slash_choices("/tr") if c.startswith("/tr")
    ]
    assert controller.slash_choices("/tr")[0][0] == "/translate"


async def test_the_notes_switch_and_persona_are_remembered_per_conversation(make, model):
    controller, screen = await make()
    model.enqueue("ok")
    await controller.submit("remember this")
    await controller.idle()
    grounded = controller.conversation_id
    await controller.toggle("notes")
    await controller.set_persona("tutor")
    await controller.new_conversation()
    assert screen.status.switches == () and not controller.state.use_notes
    assert screen.status.persona == ""
    await controller.open(grounded)
    assert screen.status.switches == ("using notes",)
    assert screen.status.persona == "persona tutor"
    await controller.toggle("notes")
    stored_conversation = controller.backend.repo.get_conversation(grounded, messages=False)
    assert not stored_conversation.use_notes and stored_conversation.persona == "tutor"


async def test_remember_and_the_memory_switch(make, model):
    from assistant.domain import MemoryMode

    controller, screen = await make()
    assert await controller.submit("/remember I am vegetarian.")
    assert "Remembered as memory 1." in screen.notices()
    assert model.history == []  # a command, not a message to the model
    assert not await controller.submit("/remember " + "x" * 501)  # stays in the box to fix
    assert "memor" in screen.notices()[-1] and controller.backend.memory.count() == 1
    model.enqueue("Lentils.")
    await controller.submit("dinner?")
    await controller.idle()
    assert "I am vegetarian." in model.history[-1][0].content
    assert screen.status.context_memories > 0  # the meter counts what the memories take
    assert await controller.submit("/memory private")
    assert screen.status.switches == ("memory private",)
    model.enqueue("Pasta.")
    await controller.submit("lunch?")
    await controller.idle()
    assert "vegetarian" not in "\n".join(t.content for t in model.history[-1])
    assert screen.status.context_memories == 0
    stored_conversation = controller.backend.repo.get_conversation(
        controller.conversation_id, messages=False
    )
    assert stored_conversation.memory == MemoryMode.PRIVATE
    await controller.new_conversation()
    assert screen.status.switches == ()  # a new conversation starts with memory on


# ----------------------------------------------------- conversations
async def test_rename_delete_and_export(make, tmp_path: Path):
    keep = seed_conversation("Keep me", [("k", "kept")])
    doomed = seed_conversation("Delete me", [("d", "gone")])
    controller, screen = await make(doomed)
    await controller.rename(keep, "Kept")
    assert controller.backend.repo.get_conversation(keep).title == "Kept"
    target = tmp_path / "out.md"
    assert await controller.export(doomed, target)
    assert "# Delete me" in target.read_text()
    target.write_text("mine")
    assert not await controller.export(doomed, target)  # exists: ask first
    assert target.read_text() == "mine"
    assert await controller.export(doomed, target, replace=True)
    assert await controller.delete(doomed)
    assert controller.conversation_id is None
    assert [c.id for c in controller.backend.repo.list_conversations()] == [keep]
    assert "Deleted “Delete me”." in screen.notices()
    assert (await controller.conversations())[0][0].title == "Kept"


async def test_a_change_by_another_process_is_noticed(make):
    controller, screen = await make()
    assert not await controller.history_changed()
    seed_conversation("From the CLI", [("q", "a")])  # another connection commits
    assert await controller.history_changed()
    assert screen.of(SidebarChanged)
    assert not await controller.history_changed()
