"""Saved model states: a conversation continued by a new process reads back
the KV cache of the last reply instead of evaluating the history again. A
stale or corrupt state file is ignored (and removed), never trusted; the
folder stays under its cap, least recently used first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.domain import ChatTurn, GenerationOptions, Role
from assistant.llm.base import Finished, TextPiece
from assistant.llm.llama import EVAL_BATCH
from assistant.llm.state_cache import MAGIC, MIN_GAIN_TOKENS, StateCache

SETTINGS = {"n_ctx": 2048, "swa_full": True}


def cache(root: Path, cap: int = 10**9, model: str = "a" * 64, **settings: object) -> StateCache:
    return StateCache(root, cap, model, {**SETTINGS, **settings})


def test_best_prefix_checksum_and_staleness(tmp_path):
    c = cache(tmp_path)
    tokens = list(range(1000))
    saved_path = c.save(tokens, b"state-bytes" * 100)
    assert saved_path is not None and saved_path.read_bytes().startswith(MAGIC)
    found = c.best(tokens[:700] + [5, 5, 5])
    assert found is not None and found[1] == 700
    assert c.payload(found[0]) == b"state-bytes" * 100
    assert c.best(tokens[: MIN_GAIN_TOKENS - 1]) is None  # too little to gain
    assert c.best(tokens, already=1000 - MIN_GAIN_TOKENS + 1) is None  # memory has it
    # another model or other context settings never see it
    assert cache(tmp_path, model="b" * 64).best(tokens) is None
    assert cache(tmp_path, n_ctx=4096).best(tokens) is None
    # a flipped byte in the state: ignored and removed
    data = bytearray(saved_path.read_bytes())
    data[-5] ^= 0xFF
    saved_path.write_bytes(bytes(data))
    found = c.best(tokens)
    assert found is not None and c.payload(found[0]) is None
    assert not saved_path.exists()
    # garbage with the right name: ignored and removed
    junk = c.folder / "junk.state"
    junk.write_bytes(MAGIC + b"\xff\xff\xff\x7f")
    assert c.best(tokens) is None and not junk.exists()


def test_a_longer_state_replaces_the_one_it_extends_and_the_cap_holds(tmp_path):
    c = cache(tmp_path, cap=60_000)
    first = c.save(list(range(500)), b"x" * 10_000)
    second = c.save(list(range(800)), b"y" * 10_000)  # the same path, one turn later
    assert first is not None and second is not None
    assert not first.exists() and second.exists()
    branch = c.save(list(range(400)) + [9] * 400, b"z" * 10_000)  # another path: kept
    assert branch is not None and branch.exists() and second.exists()
    old = time.time() - 100
    os.utime(second, (old, old))  # least recently used
    for n in range(3):
        c.save([7, n] + list(range(300)), b"w" * 20_000)
    total = sum(p.stat().st_size for p in tmp_path.rglob("*.state"))
    assert total <= 60_000 and not second.exists()
    assert c.save(list(range(300)), b"q" * 70_000) is None  # larger than the cap: not saved


def _reply(model, turns) -> tuple[str, Finished]:
    pieces, fin = [], None
    for e in model.stream(turns, GenerationOptions(max_tokens=8, temperature=0.0, seed=1)):
        if isinstance(e, TextPiece):
            pieces.append(e.text)
        elif isinstance(e, Finished):
            fin = e
    assert fin is not None
    return "".join(pieces), fin


def test_a_new_process_reads_the_state_back(bundled_gguf, tmp_path):
    from assistant.llm.llama import LlamaCppModel

    def load() -> LlamaCppModel:
        return LlamaCppModel(
            bundled_gguf,
            n_ctx=2048,
            n_threads=1,
            seed=1,
            state_cache=lambda m: StateCache(tmp_path, 2**30, "bundled", m.load_settings),
        )

    history = [ChatTurn(Role.USER, "Tell me about rivers. " + "Rivers flow to the sea. " * 80)]
    first = load()
    answer, fin = _reply(first, history)
    assert fin.prompt_tokens > 300
    assert not list(tmp_path.rglob("*.state"))  # the reply alone is not what comes next
    first.prepare_next(history + [ChatTurn(Role.ASSISTANT, answer)])  # as the chat service does
    first.close()
    states = list(tmp_path.rglob("*.state"))
    assert len(states) == 1  # the conversation as the next turn will send it

    turns = history + [ChatTurn(Role.ASSISTANT, answer), ChatTurn(Role.USER, "And lakes?")]
    second = load()  # as a new process would
    text, fin = _reply(second, turns)
    # read back up to the new message: less than one batch is evaluated again
    assert second.last_restore > 300
    assert fin.prompt_tokens - fin.cached_tokens < EVAL_BATCH + 16
    assert text.strip()
    second.close()

    for state in tmp_path.rglob("*.state"):  # corrupt every saved state
        data = bytearray(state.read_bytes())
        data[-100] ^= 0xFF
        state.write_bytes(bytes(data))
    third = load()
    text, fin = _reply(third, turns)
    assert third.last_restore == 0 and fin.cached_tokens == 0  # ignored, evaluated afresh
    assert text.strip()
    third.close()


@pytest.mark.timeout(900)
def test_ask_continue_starts_from_the_saved_state(home_with_model):
    env = {**os.environ, "ASSISTANT_N_THREADS": "1", "ASSISTANT_N_CTX": "2048"}

    def ask(*args: str) -> dict:
        proc = subprocess.run(
            [sys.executable, "-m", "assistant", "ask", "--json", "--max-tokens", "8", *args],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600, env=env,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    first = ask("Summarise this: " + "The quick brown fox jumps over the lazy dog. " * 40)
    assert first["cached_tokens"] == 0
    again = ask("-c", str(first["conversation_id"]), "Shorter, please.")
    # the whole conversation, the first reply included, was read back
    assert (
        again["cached_tokens"] >= first["prompt_tokens"] + first["completion_tokens"] - EVAL_BATCH
    )
    assert again["prompt_tokens"] - again["cached_tokens"] < EVAL_BATCH + 16
    states = list((home_with_model / "cache" / "states").rglob("*.state"))
    assert states and all(p.stat().st_mode & 0o777 == 0o600 for p in states)


def test_a_state_with_another_conversations_tokens_is_refused(tmp_path):
    """The header and tokens of conversation B with the state bytes and
    checksum of A (issue 17, item 10): the checksum covers the tokens and the
    key as well as the bytes, so the mix is refused and removed."""
    import struct

    c = cache(tmp_path)
    a_tokens, b_tokens = list(range(600)), list(range(1000, 1600))
    a_path = c.save(a_tokens, b"state-of-a" * 50)
    b_path = c.save(b_tokens, b"state-of-b" * 50)
    assert a_path is not None and b_path is not None
    a_raw, b_raw = a_path.read_bytes(), b_path.read_bytes()
    (a_len,) = struct.unpack("<I", a_raw[len(MAGIC) : len(MAGIC) + 4])
    (b_len,) = struct.unpack("<I", b_raw[len(MAGIC) : len(MAGIC) + 4])
    a_header = json.loads(a_raw[len(MAGIC) + 4 : len(MAGIC) + 4 + a_len])
    b_header = json.loads(b_raw[len(MAGIC) + 4 : len(MAGIC) + 4 + b_len])
    mixed_header = json.dumps({**b_header, "sha256": a_header["sha256"]}).encode()
    b_tokens_raw = b_raw[len(MAGIC) + 4 + b_len : len(MAGIC) + 4 + b_len + 4 * 600]
    a_payload = a_raw[len(MAGIC) + 4 + a_len + 4 * 600 :]
    b_path.write_bytes(
        MAGIC + struct.pack("<I", len(mixed_header)) + mixed_header + b_tokens_raw + a_payload
    )
    found = c.best(b_tokens)
    assert found is not None and found[0].path == b_path
    assert c.payload(found[0]) is None and not b_path.exists()
    # the same state read by another model or other settings is not its state either
    other = cache(tmp_path, model="c" * 64)
    assert other.best(a_tokens) is None
    found = c.best(a_tokens)
    assert found is not None and c.payload(found[0]) == b"state-of-a" * 50
