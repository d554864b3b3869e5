"""The history commands of issue 9, through ``assistant.cli.main``: the tree,
editing with ``ask --edit``, fork, import, and the CLI faults of item 11 (one
word for sources, sources in show and Markdown, one word for a stopped
reply, search columns, delete asks, rename keeps the order)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.domain import Citation, MessageStatus
from assistant.runtime import Runtime
from tests.fakes import FakeModel
from tests.fixtures.llm_logs import make_llm_logs_db
from tests.test_cli import run_cli

CHATGPT_EXPORT = Path(__file__).parent / "fixtures" / "chatgpt_conversations.json"


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch) -> FakeModel:
    fake = FakeModel()
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: fake)
    return fake


def ask(capsys, monkeypatch, *args: str) -> dict:
    code, out, err = run_cli(["ask", "--json", *args], capsys, stdin="", monkeypatch=monkeypatch)
    assert code == 0, err
    return json.loads(out)


def test_edit_from_the_command_line_branches_and_the_tree_shows_it(model, capsys, monkeypatch):
    model.enqueue("Paris.")
    first = ask(capsys, monkeypatch, "Capital of France?")
    cid = first["conversation_id"]
    model.enqueue("Two million.")
    ask(capsys, monkeypatch, "-c", str(cid), "How many people?")
    question = first["parent_id"]

    model.enqueue("Berlin.")
    edited = ask(
        capsys, monkeypatch, "-c", str(cid), "--edit", str(question), "Capital of Germany?"
    )
    assert edited["text"] == "Berlin."
    assert [t.content for t in model.history[-1]][1:] == ["Capital of Germany?"]

    code, out, _ = run_cli(["history", "show", str(cid), "--tree"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert "6 messages" in lines[0] and "* marks the current branch" in lines[0]
    tree = lines[1:]
    assert tree[0].startswith("  ├─ #1 You: Capital of France?")
    assert tree[1].startswith("  │  #2 Assistant: Paris.")
    assert any(line.startswith("* └─ #5 You: Capital of Germany?") for line in tree)
    assert tree[-1].startswith("*    #6 Assistant: Berlin.")
    # show (no --tree) is the current branch, and says other versions exist
    code, out, _ = run_cli(["history", "show", str(cid)], capsys)
    assert "## You (2/2)" in out and out.count("Capital of France?") == 1  # the title
    assert "other versions" in out


def test_edit_mistakes_are_one_sentence(model, capsys, monkeypatch):
    model.enqueue("A reply.")
    first = ask(capsys, monkeypatch, "Hello")
    code, _, err = run_cli(["ask", "--edit", "1", "x"], capsys, stdin="", monkeypatch=monkeypatch)
    assert code == 2 and "needs the conversation too" in err
    code, _, err = run_cli(
        ["ask", "-c", str(first["conversation_id"]), "--edit", str(first["message_id"]), "x"],
        capsys,
        stdin="",
        monkeypatch=monkeypatch,
    )
    assert code == 2 and "only your own messages can be edited" in err
    assert len(err.strip().splitlines()) == 1


def test_fork_copies_up_to_a_message(model, capsys, monkeypatch):
    model.enqueue("A1")
    first = ask(capsys, monkeypatch, "Q1")
    cid = first["conversation_id"]
    model.enqueue("A2")
    ask(capsys, monkeypatch, "-c", str(cid), "Q2")
    code, out, _ = run_cli(["history", "fork", str(cid), str(first["message_id"])], capsys)
    assert code == 0
    new_id = int(re.search(r"into (\d+)", out).group(1))
    assert "(2 messages)" in out and f"ask -c {new_id}" in out
    code, out, _ = run_cli(["history", "show", str(new_id), "--json"], capsys)
    assert [m["content"] for m in json.loads(out)["messages"]] == ["Q1", "A1"]
    code, _, err = run_cli(["history", "fork", str(cid), "999"], capsys)
    assert code == 2 and "has no message 999" in err


def test_import_reports_counts_and_is_idempotent(capsys, tmp_path):
    code, out, _ = run_cli(["history", "import", str(CHATGPT_EXPORT)], capsys)
    assert code == 0
    assert out.strip() == (
        f"Imported 2 conversations (13 messages) from {CHATGPT_EXPORT} (ChatGPT export); "
        "1 empty, left out."
    )
    code, out, _ = run_cli(["history", "import", str(CHATGPT_EXPORT)], capsys)
    assert "Imported 0 conversations (0 messages)" in out and "2 already imported" in out
    logs = make_llm_logs_db(tmp_path / "logs.db")
    code, out, _ = run_cli(["history", "import", str(logs)], capsys)
    assert "Imported 2 conversations (8 messages)" in out and "(llm logs.db)" in out
    code, out, _ = run_cli(["history", "list", "--json"], capsys)
    assert len(json.loads(out)) == 4


def test_a_malformed_import_is_one_sentence_and_imports_nothing(capsys, tmp_path):
    broken = tmp_path / "conversations.json"
    broken.write_text(CHATGPT_EXPORT.read_text()[:-200])
    code, out, err = run_cli(["history", "import", str(broken)], capsys)
    assert code == 2
    assert err.startswith("assistant: ") and "is not valid JSON" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code, out, _ = run_cli(["history", "list"], capsys)
    assert out.strip() == "No conversations yet."


def test_export_round_trip_through_the_cli(model, capsys, monkeypatch, tmp_path):
    model.enqueue("one")
    first = ask(capsys, monkeypatch, "first")
    cid = first["conversation_id"]
    ask(capsys, monkeypatch, "-c", str(cid), "--edit", str(first["parent_id"]), "first, again")
    target = tmp_path / "all.json"
    assert main(["history", "export", "--all", "-o", str(target)]) == 0
    data = json.loads(target.read_text())
    assert data["format"] == "assistant.conversations"
    assert len(data["conversations"][0]["messages"]) == 4
    code, _, err = run_cli(["history", "export"], capsys)
    assert code == 2 and "or --all" in err


def seed_grounded_reply(tmp: Path) -> int:
    """A conversation whose reply cites a passage and was stopped."""
    from assistant.domain import Role

    repo = Runtime().repo
    conversation = repo.create_conversation("Cats")
    repo.add_message(conversation.id, Role.USER, "Where do cats sleep?")
    reply = repo.add_message(conversation.id, Role.ASSISTANT, "On the sofa [1]")
    source = Citation(1, "x", "sub/cat.md", str(tmp / "sub/cat.md"), 3, 9, heading="Sleep")
    repo.update_message(
        reply.id, citations=[source], status=MessageStatus.STOPPED, finish_reason="stopped"
    )
    repo.db.close()
    return conversation.id


def test_sources_have_one_name_and_show_and_markdown_list_them(capsys, tmp_path):
    cid = seed_grounded_reply(tmp_path)
    code, out, _ = run_cli(["history", "export", str(cid), "--format", "json"], capsys)
    reply = json.loads(out)["messages"][1]
    assert "citations" not in reply and reply["sources"][0]["path"] == "sub/cat.md"
    code, out, _ = run_cli(["history", "show", str(cid), "--json"], capsys)
    assert json.loads(out)["messages"][1]["sources"][0]["collection"] == "x"
    for command in (["history", "show", str(cid)], ["history", "export", str(cid)]):
        code, out, _ = run_cli(command, capsys)
        assert "Sources:\n- [1] x/sub/cat.md:3-9 — Sleep" in out
        assert "## Assistant (stopped)" in out  # the one word for a stopped reply
        assert "cancelled" not in out and "interrupted" not in out


def test_ask_json_says_stopped_for_a_stopped_reply(monkeypatch, capsys):
    import os
    import signal
    import threading
    import time

    model = FakeModel(delay=0.05)
    model.enqueue([f"w{i} " for i in range(200)])
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: model)

    def interrupt() -> None:
        model.started.wait(5)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    code, out, err = run_cli(["ask", "--json", "go"], capsys, stdin="", monkeypatch=monkeypatch)
    assert code == 130
    data = json.loads(out)
    assert data["status"] == "stopped" and data["finish_reason"] == "stopped"
    assert "Stopped; the partial reply is kept" in err


def test_search_lines_keep_their_columns(capsys):
    from assistant.domain import Role

    repo = Runtime().repo
    long_title = "A very long conversation title that would push the snippet around"
    for title, text in (
        (long_title, "The kettle\n\nboils at\tnoon, and the kettle whistles."),
        ("Tea", "A kettle of green tea."),
    ):
        conversation = repo.create_conversation(title)
        repo.add_message(conversation.id, Role.USER, text)
    repo.db.close()
    code, out, _ = run_cli(["history", "search", "kettle"], capsys)
    lines = out.splitlines()
    assert len(lines) == 2  # a message's new lines stay inside its one line
    # id, message, role and a title cut or padded to one width: the snippet
    # starts in the same column on every line
    assert [line[53:55] for line in lines] == ["  ", "  "] and " " not in {
        lines[0][55],
        lines[1][55],
    }
    assert lines[0][25:53] == "A very long conversation ti…"
    assert lines[1][55:] == "A [kettle] of green tea."
    assert all(len(line) <= 100 for line in lines)


def test_delete_asks_and_needs_yes_without_a_terminal(capsys, monkeypatch):
    import io

    repo = Runtime().repo
    cid = repo.create_conversation("Keep me safe").id
    repo.db.close()
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, _, err = run_cli(["history", "delete", str(cid)], capsys)
    assert code == 2 and "add --yes" in err
    assert Runtime().repo.get_conversation(cid).title == "Keep me safe"

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    code, _, err = run_cli(["history", "delete", str(cid)], capsys)
    assert code == 0 and "Delete “Keep me safe”" in err and "Kept." in err
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    code, _, err = run_cli(["history", "delete", str(cid)], capsys)
    assert code == 0 and f"Deleted conversation {cid}." in err


def test_rename_keeps_the_place_in_the_list(capsys):
    repo = Runtime().repo
    older = repo.create_conversation("Older").id
    newer = repo.create_conversation("Newer").id
    repo.db.close()
    assert main(["history", "rename", str(older), "Renamed"]) == 0
    capsys.readouterr()
    code, out, _ = run_cli(["history", "list", "--json"], capsys)
    assert [c["id"] for c in json.loads(out)] == [newer, older]
