"""A restored or reused model state gives exactly the reply a cold start
gives: greedy replies compared token for token over many prompts, with the
state covering the prompt whole, in part, after an edit, and with another
context size; and ``prepare_next`` leaves a state that covers the whole
conversation, the last reply included."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from assistant.domain import ChatTurn, GenerationOptions, Role
from assistant.llm.base import Finished, TextPiece
from assistant.llm.llama import EVAL_BATCH, LlamaCppModel
from assistant.llm.state_cache import StateCache

GREEDY = GenerationOptions(max_tokens=20, temperature=0.0, seed=3)
SYSTEM = ChatTurn(Role.SYSTEM, "You are a helpful, concise assistant.")
TOPICS = ["rivers", "bread", "trains", "owls"]  # about 330, 420, 510 and 600 tokens


def load(gguf: Path, states: Path, n_ctx: int = 2048) -> LlamaCppModel:
    return LlamaCppModel(
        gguf,
        n_ctx=n_ctx,
        n_threads=2,
        seed=1,
        state_cache=lambda m: StateCache(states, 2**30, "bundled", m.load_settings),
    )


def reply(model: LlamaCppModel, turns: list[ChatTurn]) -> tuple[str, Finished]:
    pieces, fin = [], None
    for event in model.stream(turns, GREEDY):
        if isinstance(event, TextPiece):
            pieces.append(event.text)
        elif isinstance(event, Finished):
            fin = event
    assert fin is not None
    return "".join(pieces), fin


def conversation(topic: str, i: int) -> list[ChatTurn]:
    """A first question long enough to be saved, with details that vary."""
    facts = " ".join(
        f"Fact {k} about {topic}: item {k * (i + 3)} weighs {k + i} kilograms and sits "
        f"on shelf {(k * 7 + i) % 13}."
        for k in range(14 + 4 * i)
    )
    return [SYSTEM, ChatTurn(Role.USER, f"Read these notes about {topic}. {facts}")]


@pytest.fixture(scope="module")
def cold(bundled_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> LlamaCppModel:
    """A model with no saved states: every reply evaluated from nothing."""
    return LlamaCppModel(bundled_gguf, n_ctx=2048, n_threads=2, seed=1)


def cold_reply(model: LlamaCppModel, turns: list[ChatTurn]) -> str:
    model.reset_cache()
    return reply(model, turns)[0]


@pytest.mark.timeout(1200)
def test_restored_replies_are_the_cold_replies(bundled_gguf, tmp_path, cold):
    states = tmp_path / "states"
    compared = 0
    restored: dict[str, int] = {}
    for i, topic in enumerate(TOPICS):
        first = conversation(topic, i)
        # turn 1 in one process, which gets the next turn ready and saves it
        writer = load(bundled_gguf, states)
        answer, _ = reply(writer, [*first, ChatTurn(Role.USER, "What weighs the most?")])
        turn1 = [*first, ChatTurn(Role.USER, "What weighs the most?")]
        assert answer == cold_reply(cold, turn1)  # evaluated from nothing in both
        history = [*turn1, ChatTurn(Role.ASSISTANT, answer)]
        writer.prepare_next(history)
        writer.close()

        cases = {
            # the state covers the whole conversation so far
            "whole": [*history, ChatTurn(Role.USER, "And the least?")],
            # another branch: only the notes are shared
            "part": [*first, ChatTurn(Role.USER, f"Which shelf holds most {topic}?")],
            # an edited first message: only the system prompt and the start match
            "edit": [SYSTEM, ChatTurn(Role.USER, first[1].content.replace("Fact 9", "Fact 99"))],
        }
        for name, turns in cases.items():
            reader = load(bundled_gguf, states)  # as a new process
            text, fin = reply(reader, turns)
            expected = cold_reply(cold, turns)
            assert text == expected, f"{topic}/{name}: restored {text!r} vs cold {expected!r}"
            restored[name] = restored.get(name, 0) + (reader.last_restore > 0)
            if name == "whole":
                assert reader.last_restore > 0
                # the reply was saved as stored: the new turn is all that is left
                assert fin.prompt_tokens - fin.cached_tokens < EVAL_BATCH + 16
            compared += 1
            reader.close()
    assert compared == 3 * len(TOPICS)
    # the short conversations are restored in part too (a longer one only when
    # the prompt goes on from the whole state: Gemma's sliding window)
    assert restored["whole"] == len(TOPICS) and restored["part"] >= 1


def test_reused_cache_in_one_process_matches_cold(bundled_gguf, tmp_path, cold):
    """A conversation going on in the same process (the TUI) reuses its cache
    the same way: each reply equals the cold one."""
    model = load(bundled_gguf, tmp_path / "states")
    turns = conversation("lamps", 2)
    for question in ("Which item is heaviest?", "Which shelf is empty?", "Say it shorter."):
        turns = [*turns, ChatTurn(Role.USER, question)]
        text, fin = reply(model, turns)
        assert text == cold_reply(cold, turns)
        turns = [*turns, ChatTurn(Role.ASSISTANT, text)]
        model.prepare_next(turns)
    assert fin.cached_tokens > 0


def test_another_context_size_restores_its_own_states_only(bundled_gguf, tmp_path):
    """Alternating context sizes (each with its own saved states) gives the
    same greedy reply every time, restored or not."""
    states = tmp_path / "states"
    turns = [*conversation("clocks", 1), ChatTurn(Role.USER, "What weighs the most?")]
    seen = []
    for n_ctx in (4096, 2048, 4096, 2048, 4096):
        model = load(bundled_gguf, states, n_ctx)
        text, fin = reply(model, turns)
        seen.append((text, fin.cached_tokens > 0))
        model.prepare_next([*turns, ChatTurn(Role.ASSISTANT, text)])
        model.close()
    assert len({text for text, _ in seen}) == 1, seen
    assert [restored for _, restored in seen] == [False, False, True, True, True]


class StopAfter(threading.Event):
    """Answers "not set" ``n`` times, then "set": a stop at a known batch."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.left = n

    def is_set(self) -> bool:
        self.left -= 1
        return self.left < 0


def test_a_stop_during_the_prompt_keeps_whole_batches_only(bundled_gguf, tmp_path, cold):
    model = load(bundled_gguf, tmp_path / "states")
    turns = [*conversation("ferns", 4), ChatTurn(Role.USER, "Which shelf?")]
    events = list(model.stream(turns, GREEDY, StopAfter(3)))
    assert isinstance(events[-1], Finished) and events[-1].finish_reason == "cancelled"
    assert model.llm.n_tokens == 3 * EVAL_BATCH  # three whole batches, nothing generated
    text, fin = reply(model, turns)
    assert fin.cached_tokens == 3 * EVAL_BATCH
    assert text == cold_reply(cold, turns)
