"""The application layer: one loop stores replies and writing actions alike,
both shells go through it, options reach the model, errors become sentences."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from assistant.chat.events import ReplyDone, ReplyStarted
from assistant.chat.session import ChatSession
from assistant.domain import MessageStatus, Role
from assistant.errors import UsageError
from assistant.llm.base import TextPiece
from assistant.writing.slash import parse_slash
from assistant.writing.templates import load_library
from tests.fakes import FakeModel

REPO = Path(__file__).resolve().parents[1]


def stored_text(db_path: Path, message_id: int) -> str:
    """Read the reply the way another process would: a fresh connection."""
    con = sqlite3.connect(db_path)
    try:
        row = con.execute("SELECT content FROM messages WHERE id = ?", (message_id,)).fetchone()
    finally:
        con.close()
    return row[0]


def test_a_slash_action_is_on_disk_before_each_piece_is_shown(service, repo, fake_model):
    library = load_library(Path("/nonexistent"))
    service._library = lambda: library
    fake_model.enqueue(["Bonjour", " à", " tous,", " chers", " amis."])
    session = ChatSession(service)
    command = parse_slash("/translate fr Hello to all, dear friends.", library)
    shown = ""
    started = None
    for event in session.run_action("/translate fr Hello…", command, command.text):
        if isinstance(event, ReplyStarted):
            started = event
            assert event.action == "translate" and event.plan is None
        elif isinstance(event, TextPiece):
            shown += event.text
            assert started is not None
            assert stored_text(repo.db.path, started.reply_message_id).startswith(shown)
        elif isinstance(event, ReplyDone):
            done = event
    assert shown.strip() == "Bonjour à tous, chers amis."
    # the same figures a chat reply records
    assert done.message.status == MessageStatus.COMPLETE
    assert done.message.completion_tokens == 5
    assert done.message.tokens_per_second is not None and done.message.generation_ms is not None
    assert done.message.time_to_first_token_ms is not None
    conversation = repo.get_conversation(done.message.conversation_id)
    assert [m.role for m in conversation.messages] == [Role.USER, Role.ASSISTANT]
    assert conversation.messages[0].content == "/translate fr Hello…"


CHILD = """
import sys, time
from assistant.chat.service import ChatService
from assistant.runtime import Runtime
from assistant.writing.slash import parse_slash
from assistant.llm.base import TextPiece
from assistant.chat.events import ReplyStarted
sys.path.insert(0, {repo!r})
from tests.fakes import FakeModel

model = FakeModel(delay=0.02)
model.enqueue([f"word{{i}} " for i in range(400)])
rt = Runtime()
rt.load_model = lambda: model
session = rt.session()
kind = sys.argv[1]
library = rt.library()
if kind == "slash":
    command = parse_slash("/summarise " + "some long text " * 20, library)
    events = session.run_action("/summarise …", command, command.text)
else:  # the writing screen's call
    events = rt.chat.run_action(None, "/proofread (letter.txt)", "proofread", "Teh text. " * 60,
                                title="Writing: letter.txt")
for event in events:
    if isinstance(event, ReplyStarted):
        print("REPLY", event.reply_message_id, flush=True)
    elif isinstance(event, TextPiece):
        print("PIECE", event.text.replace("\\n", " "), flush=True)
"""


@pytest.mark.parametrize("kind", ["slash", "writing-screen"])
def test_killing_the_writer_between_pieces_loses_nothing_shown(isolated_home, kind):
    """SIGKILL a real process in the middle of an action: every piece it had
    shown is in the stored reply (it was written before it was shown)."""
    script = CHILD.format(repo=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-c", script, kind],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
    )
    assert proc.stdout is not None
    shown, reply_id = "", None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("REPLY"):
                reply_id = int(line.split()[1])
            elif line.startswith("PIECE"):
                shown += line[len("PIECE ") :].rstrip("\n")
                if shown.count("word") >= 25:
                    break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert reply_id is not None and shown.count("word") >= 25
    from assistant.paths import app_paths

    on_disk = stored_text(app_paths().database, reply_id)
    assert on_disk.startswith(shown)


def test_actions_get_the_users_options(isolated_home, monkeypatch):
    """temperature, top_p, seed and max_tokens from the config file reach the
    model for slash actions and writing-screen runs (the CLI's path too)."""
    from assistant.runtime import Runtime

    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("temperature = 0.33\ntop_p = 0.77\nseed = 123\nmax_tokens = 21\n")
    model = FakeModel()
    monkeypatch.setattr(Runtime, "load_model", lambda self: model)
    rt = Runtime()
    session = rt.session()
    command = parse_slash("/proofread Teh text is hear.", rt.library())
    list(session.run_action("/proofread Teh text is hear.", command, command.text))
    list(rt.chat.run_action(None, "/summarise (x)", "summarise", "A long text. " * 30))
    list(rt.action_runner().run(rt.library().template("title"), "Some text to title."))
    assert len(model.options) == 3
    for options in model.options:
        assert options.temperature == 0.33  # set by the user: wins over the template's own
        assert options.top_p == 0.77 and options.seed == 123
        assert options.max_tokens <= 21


def test_template_settings_apply_when_the_user_set_none(isolated_home, monkeypatch):
    from assistant.runtime import Runtime

    model = FakeModel()
    monkeypatch.setattr(Runtime, "load_model", lambda self: model)
    rt = Runtime()
    list(rt.chat.run_action(None, "/proofread x", "proofread", "Teh text."))
    assert model.options[0].temperature == rt.library().template("proofread").temperature


def test_an_empty_message_is_a_usage_error(service):
    with pytest.raises(UsageError):
        ChatSession(service).send("   ")


def test_session_state_chosen_before_the_conversation_exists(service, repo, fake_model):
    """Persona and notes switch picked for a conversation not yet stored are
    applied when its first message creates it."""
    library = load_library(Path("/nonexistent"))
    service._library = lambda: library
    session = ChatSession(service)
    session.set_persona("editor")
    session.set_notes(False)
    list(session.send("hello"))
    conversation = repo.get_conversation(session.conversation_id, messages=False)
    assert conversation.persona == "editor"
    assert conversation.system_prompt == library.persona("editor").system
    assert fake_model.history[-1][0].content == library.persona("editor").system
    # reopened, the session reads the same state back
    other = ChatSession(service)
    other.open(session.conversation_id)
    assert other.state.persona == "editor" and other.state.use_notes is False


# ------------------------------------------------------------------ errors
def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_cli_shows_an_assistant_error_as_its_sentence_exit_2(isolated_home):
    proc = run_cli("history", "show", "99")
    assert proc.returncode == 2
    assert proc.stderr == "assistant: There is no conversation 99.\n"


def test_cli_shows_a_bug_as_one_sentence_naming_the_crash_log(isolated_home):
    code = textwrap.dedent(
        """
        import sys
        from assistant.store.repository import ConversationRepository
        def broken(self, limit=None):
            return 1 / 0
        ConversationRepository.list_conversations = broken
        from assistant.cli import main
        sys.exit(main(["history", "list"]))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "Something went wrong inside assistant (ZeroDivisionError)" in lines[0]
    log = Path(lines[0].split("the details are in ")[1].split(". Please")[0])
    assert log.parent == isolated_home / "data" / "logs"
    assert "Traceback" in log.read_text() and "ZeroDivisionError" in log.read_text()
    assert oct(log.stat().st_mode & 0o777) == "0o600"


def test_json_output_escapes_c1_controls(isolated_home, monkeypatch, capsys):
    from assistant.cli import main
    from assistant.runtime import Runtime

    model = FakeModel()
    model.enqueue(["safe ", "\x9b31m red"])
    monkeypatch.setattr(Runtime, "load_model", lambda self: model)
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    assert main(["ask", "--json", "hi"]) == 0
    out = capsys.readouterr().out
    assert "\x9b" not in out and "\\u009b31m" in out
    assert json.loads(out)["text"] == "safe \x9b31m red"


def test_options_before_the_command_are_honoured(isolated_home, tmp_path):
    missing = tmp_path / "nope.gguf"
    proc = run_cli("--model", str(missing), "ask", "hi")
    assert proc.returncode == 2 and f"Model file not found: {missing}." in proc.stderr
    proc = run_cli("--threads", "0", "doctor")
    assert proc.returncode == 2 and "n_threads" in proc.stderr
    proc = run_cli("--model", str(missing), "doctor", "--json")
    assert (
        proc.returncode == 1 and "Model file not found" in json.loads(proc.stdout)["model"]["error"]
    )
