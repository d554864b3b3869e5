"""Integration tests on the bundled GGUF: real answers, KV prefix reuse, and a
reply killed with SIGKILL mid-way found as ``interrupted`` with its text."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading

from assistant.chat.service import ChatService, ReplyDone, ReplyStarted
from assistant.domain import ChatTurn, GenerationOptions, MessageStatus, Role
from assistant.llm.base import Finished, TextPiece
from assistant.llm.llama import EVAL_BATCH
from assistant.paths import app_paths
from assistant.store.database import Database
from assistant.store.repository import ConversationRepository

OPTS = GenerationOptions(max_tokens=48, temperature=0.0, top_k=1, seed=11)


def collect(events):
    pieces, done = [], None
    for e in events:
        if isinstance(e, TextPiece):
            pieces.append(e.text)
        elif isinstance(e, ReplyDone):
            done = e
    return pieces, done


def test_real_answer_streams(real_model, repo):
    svc = ChatService(repo, real_model, options=OPTS, system_prompt="You are helpful.")
    pieces, done = collect(svc.send(None, "What is the capital of France?"))
    text = "".join(pieces)
    assert len(pieces) >= 2  # it streamed
    assert "Paris" in text
    assert "User:" not in text and "Assistant:" not in text
    assert done.message.status == MessageStatus.COMPLETE
    assert done.message.completion_tokens > 0
    assert done.finished.tokens_per_second > 0
    assert repo.get_message(done.message.id).content == text.rstrip()


def test_second_turn_reuses_prefix_cache(real_model, repo):
    svc = ChatService(repo, real_model, options=OPTS, system_prompt="You are helpful.")
    _, first = collect(svc.send(None, "Name a large animal that lives in the sea."))
    cid = first.message.conversation_id
    second_q = "And one that lives in a forest?"
    _, second = collect(svc.send(cid, second_q))
    fin: Finished = second.finished
    new_part = real_model.count_tokens(
        [ChatTurn(Role.ASSISTANT, first.message.content), ChatTurn(Role.USER, second_q)]
    )
    evaluated = fin.prompt_tokens - fin.cached_tokens
    # Reused up to the last whole batch of the first prompt: prompts are read
    # in batches aligned at multiples of EVAL_BATCH, so that a reused cache
    # gives exactly the reply a cold start gives (tests/models/test_state_restore.py).
    aligned = first.finished.prompt_tokens // EVAL_BATCH * EVAL_BATCH
    assert fin.cached_tokens >= aligned
    assert evaluated <= new_part + EVAL_BATCH, (fin, new_part)
    # with the cache cleared the whole prompt is evaluated again
    real_model.reset_cache()
    _, third = collect(svc.regenerate(cid))
    assert third.finished.cached_tokens == 0


def test_cancel_stops_real_generation(real_model, repo):
    svc = ChatService(
        repo,
        real_model,
        system_prompt="You are helpful.",
        options=GenerationOptions(max_tokens=400, temperature=1.0, seed=5),
    )
    cancel = threading.Event()
    pieces = []
    done = None
    for e in svc.send(None, "Tell me a long story about a lighthouse keeper.", cancel):
        if isinstance(e, TextPiece):
            pieces.append(e.text)
            cancel.set()
        elif isinstance(e, ReplyDone):
            done = e
    assert done.message.status in (MessageStatus.STOPPED, MessageStatus.COMPLETE)
    if done.message.status == MessageStatus.STOPPED:
        assert done.finished.completion_tokens <= 3
    assert done.message.content.startswith("".join(pieces).strip()[:10])


CHILD = textwrap.dedent(
    """
    import sys, time
    from assistant.runtime import Runtime
    from assistant.llm.base import TextPiece
    rt = Runtime(model_path=sys.argv[1], n_threads=2, temperature=0.0, seed=3, max_tokens=64)
    shown = 0
    for event in rt.chat.send(None, "What is the capital of France?"):
        if isinstance(event, TextPiece):
            sys.stdout.write(event.text)
            shown += 1
            if shown == 2:
                sys.stdout.write("\\n<<SHOWN>>\\n")
            sys.stdout.flush()
            time.sleep(0.3)
    """
)


def test_sigkill_mid_reply_is_found_interrupted(bundled_gguf, isolated_home):
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(bundled_gguf)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=os.environ.copy(),
    )
    shown = ""
    assert proc.stdout is not None
    while "<<SHOWN>>" not in shown:
        ch = proc.stdout.read(1)
        assert ch, "child ended before streaming two pieces"
        shown += ch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    shown_text = shown.split("\n<<SHOWN>>")[0]
    db_path = app_paths().database

    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = raw.execute("SELECT role, status, content FROM messages ORDER BY id").fetchall()
    raw.close()
    assert rows[0] == ("user", "complete", "What is the capital of France?")
    assert rows[1][1] == "streaming"

    repo = ConversationRepository(Database(db_path))
    assert repo.recover_interrupted() == 1
    reply = repo.messages(1)[1]
    assert reply.status == MessageStatus.STOPPED
    # everything the user saw is on disk
    assert reply.content.startswith(shown_text) and shown_text


def test_started_event_reports_context_plan(real_model, repo):
    svc = ChatService(repo, real_model, options=OPTS)
    started = next(e for e in svc.send(None, "Hi") if isinstance(e, ReplyStarted))
    assert 0 < started.plan.prompt_tokens < real_model.context_size
    assert started.plan.context_size == real_model.context_size
