"""Every stored reply names its parent (issue 17, item 11): "answer again" on
a question the notes do not cover stores the not-covered reply under that
question, not under the conversation's newest message."""

from __future__ import annotations

from assistant.chat.service import ReplyDone
from assistant.domain import Role
from tests.notes.conftest import write

EN_NOTE = "# Boiler\n\nThe boiler was serviced in October by the heating engineer.\n"


def test_answer_again_on_an_uncovered_question_stores_the_reply_under_it(
    notes, folder, service, fake_model, repo
):
    write(folder, "en.md", EN_NOTE)
    notes.add_collection(folder)
    notes.sync()
    grounding = notes.grounding()
    off_topic = "What is the airspeed of an unladen swallow?"
    done = list(service.send(None, off_topic, grounding=grounding))[-1]
    assert isinstance(done, ReplyDone)
    cid = done.message.conversation_id
    question = done.message.parent_id
    fake_model.enqueue("In October.")
    list(service.send(cid, "When was the boiler serviced?", grounding=grounding))

    again = list(service.regenerate(cid, grounding=grounding, message_id=question))[-1]
    assert isinstance(again, ReplyDone)
    assert "don't seem to cover this" in again.message.content
    assert again.message.parent_id == question  # not the newest reply of the conversation
    for m in repo.get_conversation(cid).messages:
        if m.role == Role.ASSISTANT:
            assert m.parent_id is not None and repo.get_message(m.parent_id).role == Role.USER
