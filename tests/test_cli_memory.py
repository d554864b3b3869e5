"""``assistant memory ...`` and memory in ``ask``, ``history show`` and the
exports, through the real entry point; proposals answered on a real
(pseudo-)terminal, and never stored off one."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.cli import main
from tests.fakes import FakeModel, ProposingFakeModel

ROOT = Path(__file__).resolve().parent.parent


def run(args, capsys, monkeypatch=None, stdin: str | None = ""):
    if monkeypatch is not None and stdin is not None:
        import io

        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(args)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.fixture
def model(monkeypatch):
    fake = FakeModel()
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: fake)
    return fake


def memories(capsys) -> list[dict]:
    code, out, _ = run(["memory", "list", "--json"], capsys)
    assert code == 0
    return json.loads(out)


def test_add_list_show_edit_rm(capsys, monkeypatch):
    code, _, err = run(["memory", "add", "I", "am", "vegetarian."], capsys, monkeypatch)
    assert code == 0 and "Remembered as memory 1." in err
    code, _, err = run(["memory", "add", "I am vegetarian"], capsys, monkeypatch)
    assert code == 0 and "Memory 1 already says that" in err
    run(["memory", "add", "My daughter is called Maya."], capsys, monkeypatch)
    code, out, _ = run(["memory", "list"], capsys)
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].split()[0] == "1" and lines[0].endswith("I am vegetarian.")
    listed = memories(capsys)
    assert [m["text"] for m in listed] == ["I am vegetarian.", "My daughter is called Maya."]
    assert listed[0]["source"] == "typed" and listed[0]["last_used_at"] is None
    code, out, _ = run(["memory", "show", "2"], capsys)
    assert "Memory 2: My daughter is called Maya." in out and "typed by you" in out
    code, out, _ = run(["memory", "show", "2", "--json"], capsys)
    assert json.loads(out)["uid"] == listed[1]["uid"]
    code, _, err = run(["memory", "edit", "2", "My daughter is called Maia."], capsys, monkeypatch)
    assert code == 0 and "old text is gone" in err
    assert memories(capsys)[1]["text"] == "My daughter is called Maia."
    code, out, err = run(["memory", "list", "--limit", "1"], capsys)
    assert out.strip().endswith("Maia.") and "1 of 2 memories" in err
    # deleting asks; off a terminal it needs --yes and deletes nothing without it
    code, _, err = run(["memory", "rm", "1"], capsys, monkeypatch)
    assert code == 2 and "--yes" in err and len(memories(capsys)) == 2
    code, _, err = run(["memory", "rm", "--yes", "1"], capsys, monkeypatch)
    assert code == 0 and "Deleted 1 memory." in err
    assert [m["id"] for m in memories(capsys)] == [2]


@pytest.mark.parametrize(
    "args, words",
    [
        (["memory", "add", ""], "needs some text"),
        (["memory", "add", "x" * 501], "at most 500 characters"),
        (["memory", "show", "9"], "There is no memory 9"),
        (["memory", "rm", "--yes", "9"], "There is no memory 9"),
        (["memory", "edit", "9", "x"], "There is no memory 9"),
        (["memory", "show", "abc"], "'abc' is not a memory number"),
        (["memory", "import", "/nonexistent/file.json"], "There is no file"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(args, words, capsys, monkeypatch):
    run(["memory", "add", "Kept before."], capsys, monkeypatch)
    code, out, err = run(args, capsys, monkeypatch)
    assert code == 2 and words in err and "Traceback" not in err
    if "abc" not in args:  # click shows its usage lines with a bad argument, as everywhere
        assert len(err.strip().splitlines()) == 1
    assert [m["text"] for m in memories(capsys)] == ["Kept before."]  # nothing lost


def test_escapes_never_reach_the_terminal(capsys, monkeypatch):
    code, _, err = run(["memory", "add", "Red \x1b[31malert\x1b[0m \x1b]52;c;eA==\x07"], capsys)
    assert code == 0 and "control characters" in err
    code, out, _ = run(["memory", "list"], capsys)
    assert "\x1b" not in out and "^[[31malert" in out
    code, out, _ = run(["memory", "list", "--json"], capsys)
    assert "\x1b" not in out and json.loads(out)[0]["text"].startswith("Red \x1b[31m")


def test_export_and_import_round_trip(capsys, monkeypatch, tmp_path, isolated_home):
    run(["memory", "add", "I am vegetarian."], capsys, monkeypatch)
    run(["memory", "add", "I live in Porto."], capsys, monkeypatch)
    target = tmp_path / "memories.json"
    code, _, err = run(["memory", "export", "-o", str(target)], capsys)
    assert code == 0 and "2 memories" in err
    exported = json.loads(target.read_text())
    assert exported["format"] == "assistant.memories" and len(exported["memories"]) == 2
    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path / "elsewhere"))
    code, out, _ = run(["memory", "import", str(target)], capsys)
    assert code == 0 and "Imported 2 memories" in out
    again = memories(capsys)
    assert [(m["uid"], m["text"]) for m in again] == [
        (m["uid"], m["text"]) for m in exported["memories"]
    ]
    code, out, _ = run(["memory", "import", str(target)], capsys)
    assert "Imported 0 memories" in out and "2 already here" in out
    lines = tmp_path / "mine.txt"
    lines.write_text("I cycle to work.\n\nI am vegetarian.\nI cycle to work.\n")
    code, out, _ = run(["memory", "import", str(lines)], capsys)
    assert "Imported 1 memory" in out and "2 already here" in out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"memories": [{"text": "fine"}, {"text": ""}]}))
    code, _, err = run(["memory", "import", str(bad)], capsys)
    assert code == 2 and "Memory 2 in" in err and "needs some text" in err
    assert "fine" not in [m["text"] for m in memories(capsys)]  # one transaction: none of it


def test_ask_gives_memories_and_says_which(model, capsys, monkeypatch):
    run(["memory", "add", "I am vegetarian."], capsys, monkeypatch)
    model.enqueue("Try a lentil curry.")
    code, out, err = run(["ask", "What should I cook?"], capsys, monkeypatch)
    assert code == 0 and out == "Try a lentil curry.\n"  # stdout stays the answer
    assert "Memories given:\n  [1] I am vegetarian." in err
    assert "I am vegetarian." in model.history[-1][0].content
    model.enqueue("Another idea.")
    code, out, _ = run(["ask", "--json", "-c", "1", "And lunch?"], capsys, monkeypatch)
    data = json.loads(out)
    assert [m["text"] for m in data["memories"]] == ["I am vegetarian."]
    assert data["memory_tokens"] > 0 and data["memory_proposals"] == []
    assert memories(capsys)[0]["last_used_at"] is not None
    # history show names them, and still after the memory is deleted
    code, out, _ = run(["history", "show", "1"], capsys)
    assert "Memories given:\n- [1] I am vegetarian." in out
    code, out, _ = run(["history", "show", "1", "--json"], capsys)
    reply = json.loads(out)["messages"][1]
    assert reply["memories"][0]["text"] == "I am vegetarian."
    run(["memory", "rm", "--yes", "1"], capsys, monkeypatch)
    code, out, _ = run(["history", "show", "1"], capsys)
    assert "(a memory deleted since)" in out and "vegetarian" not in out.split("## Assistant")[1]


def test_ask_memory_private_and_off_are_stored_with_the_conversation(model, capsys, monkeypatch):
    run(["memory", "add", "I am vegetarian."], capsys, monkeypatch)
    code, out, err = run(["ask", "--memory", "private", "hello"], capsys, monkeypatch)
    assert code == 0 and "Memories given" not in err
    assert "vegetarian" not in model.history[-1][0].content
    run(["ask", "-c", "1", "again"], capsys, monkeypatch)
    assert "vegetarian" not in model.history[-1][0].content
    code, out, _ = run(["history", "list", "--json"], capsys)
    assert json.loads(out)[0]["memory"] == "private"
    run(["ask", "-c", "1", "--memory", "on", "now?"], capsys, monkeypatch)
    assert "vegetarian" in model.history[-1][0].content
    code, _, err = run(["ask", "--memory", "maybe", "x"], capsys, monkeypatch)
    assert code == 2 and "maybe" in err


def test_memory_off_everywhere_and_back_on(model, capsys, monkeypatch):
    run(["memory", "add", "I am vegetarian."], capsys, monkeypatch)
    code, _, err = run(["memory", "off"], capsys)
    assert code == 0 and "Memory is off" in err
    run(["ask", "hello"], capsys, monkeypatch)
    assert "vegetarian" not in model.history[-1][0].content
    code, out, err = run(["memory", "list"], capsys)
    assert "I am vegetarian." in out and "memory is off" in err  # still stored, and said
    run(["memory", "on"], capsys)
    run(["ask", "hello"], capsys, monkeypatch)
    assert "vegetarian" in model.history[-1][0].content


def test_history_export_all_carries_memories_and_links(capsys, monkeypatch, tmp_path):
    model = ProposingFakeModel()
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: model)
    run(["memory", "add", "I am vegetarian."], capsys, monkeypatch)
    model.enqueue("Noted.")
    run(["ask", "I live in Porto."], capsys, monkeypatch)
    # a proposed memory, kept as a shell does after the user's yes
    from assistant.runtime import Runtime

    rt = Runtime()
    from assistant.domain import MemoryProposal, ProposalKind

    message = rt.repo.messages(1)[0]
    rt.chat.accept_proposal(MemoryProposal("I live in Porto.", ProposalKind.NEW, 1, message.id))
    rt.db.close()
    backup = tmp_path / "all.json"
    code, _, _ = run(["history", "export", "--all", "-o", str(backup)], capsys)
    data = json.loads(backup.read_text())
    assert [m["text"] for m in data["memories"]] == ["I am vegetarian.", "I live in Porto."]
    conversation_uid = data["conversations"][0]["uid"]
    assert data["memories"][1]["conversation_uid"] == conversation_uid
    assert data["conversations"][0]["messages"][1]["memories"][0]["text"] == "I am vegetarian."
    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path / "new-home"))
    code, out, _ = run(["history", "import", str(backup)], capsys)
    assert code == 0 and "and 2 memories" in out
    after = memories(capsys)
    assert [m["uid"] for m in after] == [m["uid"] for m in data["memories"]]
    porto = after[1]
    assert porto["source"] == "proposed" and porto["conversation_id"] == 1
    code, out, _ = run(["history", "show", "1", "--json"], capsys)
    shown = json.loads(out)
    assert porto["message_id"] == shown["messages"][0]["id"]
    assert shown["messages"][1]["memories"][0]["text"] == "I am vegetarian."
    code, out, _ = run(["history", "import", str(backup)], capsys)
    assert "Imported 0 conversations" in out and "2 memories already here" in out


def test_off_a_terminal_nothing_is_proposed_or_stored(capsys, monkeypatch):
    model = ProposingFakeModel()
    monkeypatch.setattr("assistant.runtime.Runtime.load_model", lambda self: model)
    model.propose("NEW: I am vegetarian.")
    code, out, _ = run(["ask", "--json", "I'm vegetarian, dinner?"], capsys, monkeypatch)
    assert code == 0 and json.loads(out)["memory_proposals"] == []
    assert len(model.history) == 1 and memories(capsys) == []


def on_terminal(args: list[str], answers: list[tuple[str, str]]) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal; each time ``prompt`` appears on it,
    type ``reply``. Returns the exit code and everything the terminal showed."""
    import pty

    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.memory_tty_driver", *args],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        cwd=ROOT,
        env=os.environ.copy(),
    )
    os.close(secondary)
    seen = b""
    pending = list(answers)
    while True:
        ready, _, _ = select.select([primary], [], [], 120)
        if not ready:  # a safety net only: the test waits on what the terminal shows
            process.kill()
            raise AssertionError(f"the CLI went silent; it showed: {seen!r}")
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the other end closed: the command is done
            break
        if not chunk:
            break
        seen += chunk
        if pending and pending[0][0].encode() in seen.split(b"[model calls")[0][-400:]:
            os.write(primary, pending.pop(0)[1].encode() + b"\n")
    os.close(primary)
    return process.wait(), seen.decode(errors="replace")


def test_on_a_terminal_a_yes_keeps_the_proposal(capsys):
    code, shown = on_terminal(
        ["Try a lentil curry.", "NEW: I am vegetarian.", "--", "ask", "I'm vegetarian. Dinner?"],
        [("Remember “I am vegetarian.”? [y/N]", "y")],
    )
    assert code == 0, shown
    assert "Try a lentil curry." in shown and "Memory 1 kept." in shown
    assert "[model calls: 2]" in shown
    kept = memories(capsys)
    assert [(m["text"], m["source"], m["conversation_id"]) for m in kept] == [
        ("I am vegetarian.", "proposed", 1)
    ]


def test_on_a_terminal_a_no_keeps_nothing(capsys):
    code, shown = on_terminal(
        ["Try a lentil curry.", "NEW: I am vegetarian.", "--", "ask", "I'm vegetarian. Dinner?"],
        [("Remember “I am vegetarian.”? [y/N]", "n")],
    )
    assert code == 0 and "[model calls: 2]" in shown
    assert memories(capsys) == []


def test_on_a_terminal_a_change_offers_to_replace(capsys, monkeypatch):
    run(["memory", "add", "I eat meat."], capsys, monkeypatch)
    code, shown = on_terminal(
        [
            "Noted.",
            "CHANGES 1: I am vegetarian.",
            "--",
            "ask",
            "I've become vegetarian. Lunch?",
        ],
        [("This changes memory 1 (“I eat meat.”)", "r")],
    )
    assert code == 0, shown
    assert "[r] replace it, [a] add as a new memory, [N] no" in shown
    assert "Memory 1 replaced." in shown
    assert [m["text"] for m in memories(capsys)] == ["I am vegetarian."]
