"""Issue 18's faults below the screen: answering a slash command again runs
it again, titles do not come from slash commands, Chinese history is
segmented like the notes, one word for a stopped piece, counts that agree
with their nouns. Written against the application layer and the store as
they were before the fixes, so the same tests failed on main."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from assistant.chat.session import ChatSession, ConversationState
from assistant.domain import DraftStatus, Role
from assistant.writing.slash import parse_slash
from assistant.writing.templates import load_library

LIBRARY = load_library(Path("/nonexistent-user-prompts"))


def reply_texts(service, conversation_id: int) -> list[str]:
    return [m.content for m in service.repo.messages(conversation_id)]


# --------------------------------------------- answer again on a command
def test_answering_a_slash_command_again_runs_the_command_again(service, fake_model):
    service._library = lambda: LIBRARY
    conversation = service.new_conversation("hello")
    fake_model.enqueue("Good morning, dear friend.")
    list(service.send(conversation.id, "say hello"))
    fake_model.enqueue("Bonjour, cher ami.")
    command = parse_slash("/translate fr", LIBRARY)
    list(
        service.run_action(
            conversation.id,
            "/translate fr",
            command.name,
            "Good morning, dear friend.",
            command.variables,
        )
    )
    fake_model.enqueue("Bonjour encore, cher ami.")
    list(service.regenerate(conversation.id))
    asked = "\n".join(t.content for t in fake_model.history[-1])
    assert "Good morning, dear friend." in asked and "French" in asked
    assert not asked.rstrip().endswith("/translate fr")
    thread = service.thread(conversation.id)
    assert [m.content for m in thread.messages][-2:] == [
        "/translate fr",
        "Bonjour encore, cher ami.",
    ]
    assert thread.position(thread.messages[-1].id) == (2, 2)


def test_answering_a_command_with_its_own_text_again(service, fake_model):
    service._library = lambda: LIBRARY
    line = "/tone formal hey can u send the file"
    command = parse_slash(line, LIBRARY)
    fake_model.enqueue("Could you send the file?")
    events = list(service.run_action(None, line, command.name, command.text, command.variables))
    conversation_id = events[0].conversation_id
    fake_model.enqueue("Would you kindly send the file?")
    again = list(service.regenerate(conversation_id))
    assert again[0].action == "tone"  # the command ran, not a chat reply to its line
    asked = "\n".join(t.content for t in fake_model.history[-1])
    assert "hey can u send the file" in asked and not asked.rstrip().endswith(line)


# -------------------------------------------------------------- titles
def test_a_conversation_started_by_a_command_is_titled_by_its_text(service, fake_model):
    service._library = lambda: LIBRARY
    text = "The council met on Tuesday to discuss the new library opening hours."
    line = f"/summarize {text}"
    command = parse_slash(line, LIBRARY)
    session = ChatSession(service, state=ConversationState())
    fake_model.enqueue("They discussed library hours.")
    list(session.run_action(line, command, command.text))
    title = service.conversation(session.state.conversation_id).title
    assert not title.startswith("/")
    assert title.startswith("Summarise: The council met")


# ------------------------------------------------------ Chinese history
def test_chinese_history_is_found_by_its_words(repo):
    conversation = repo.create_conversation("钥匙")
    repo.rename(conversation.id, "Keys")
    repo.add_message(conversation.id, Role.USER, "备用钥匙在哪里？")
    repo.add_message(conversation.id, Role.ASSISTANT, "在门口的花盆下面。")
    other = repo.create_conversation("Other")
    repo.add_message(other.id, Role.USER, "钥匙圈 is a word for key ring")
    hits = repo.search("钥匙")
    assert {h.conversation_id for h in hits} == {conversation.id, other.id}
    first = next(h for h in hits if h.conversation_id == conversation.id)
    assert first.marked() == "备用[钥匙]在哪里？"  # the text as written, the word marked
    assert [h.conversation_id for h in repo.search("花盆")] == [conversation.id]
    assert [h.conversation_id for h in repo.search("备用钥匙")] == [conversation.id]
    assert {c.id for c in repo.filter_conversations("钥匙")} == {conversation.id, other.id}


def test_history_search_finds_chinese_from_the_cli(repo, capsys):
    from tests.test_cli import run_cli

    conversation = repo.create_conversation("Keys")
    repo.add_message(conversation.id, Role.USER, "备用钥匙在哪里？")
    code, out, err = run_cli(["history", "search", "钥匙"], capsys)
    assert code == 0, err
    assert "备用" in out and "Keys" in out


# -------------------------------------------------------------- wording
def test_a_stopped_draft_says_stopped():
    assert DraftStatus.CANCELLED == "stopped" and DraftStatus.INTERRUPTED == "stopped"


def test_draft_lines_use_the_one_word(isolated_home):
    from assistant.domain import Draft
    from assistant.ui.compose_screen import draft_line

    now = datetime(2026, 1, 2, 3, 4)
    draft = Draft(1, "poem", "Poem: rain", DraftStatus.CANCELLED, now, now, target_words=80)
    line = draft_line(draft)
    assert "stopped" in line and "cancelled" not in line


def test_counts_agree_with_their_nouns():
    from assistant.chat.controller import notes_summary, sync_progress_text
    from assistant.notes.sync import SyncProgress

    class Status:
        files, chunks, skipped = 1, 1, []

    assert notes_summary(Status()) == "notes 1 file, 1 passage"
    progress = SyncProgress("embedding", "notes", 1, 1, 0, 1)
    assert sync_progress_text(progress) == "1/1 file, 0/1 passage embedded"


def test_the_sync_summary_counts_in_words():
    from assistant.cli.notes import summary
    from assistant.notes.sync import SyncReport

    report = SyncReport()
    report.collections, report.files_added, report.chunks_embedded = 1, 1, 1
    text = summary(report)
    assert "1 collection " in text and "1 passage embedded" in text
    assert "passages embedded" not in text and "collection(s)" not in text
