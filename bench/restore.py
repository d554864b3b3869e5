"""Saved and reused model states: exact, and fast to continue from.

1. Prompt batch size: the same 1,100-token prompt evaluated with llama.cpp
   batches of 32 to 512 tokens, in turns (the app evaluates prompts in
   batches of ``EVAL_BATCH`` that start at multiples of it; see
   ``assistant/llm/llama.py``).
2. Identical greedy replies: for each of several conversations, a first
   turn is answered and the next turn made ready (``prepare_next``) in one
   model; new models, as new processes would, then answer with the saved
   state covering the prompt whole, in part (another branch), after an edit
   of the first message, and with another context size (which keeps its own
   states); each reply is compared with the reply of a model that starts
   from nothing (aim: 100% identical).
3. ``assistant ask -c ID`` on a three-turn conversation of at least 1,300
   tokens, as new processes: time to first token with the saved state
   against without it (state cache off), in turns (aim <= 0.1).

Run: ``python -m bench.restore [--runs 3] [--conversations 8]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import cpu_flags


def bundled() -> Path:
    from assistant.llm.catalog import bundled_model_path
    from assistant.paths import app_paths

    return bundled_model_path(app_paths())


def bench_batches(gguf: Path, runs: int) -> None:
    import llama_cpp

    from assistant.llm.llama import EVAL_BATCH, quiet_llama_logs

    quiet_llama_logs()
    text = " ".join(f"Note {i}: the blue box number {i} holds {i * 7} marbles." for i in range(60))
    sizes = (32, 64, 128, 256, 512)
    models = {
        b: llama_cpp.Llama(
            model_path=str(gguf),
            n_ctx=4096,
            n_batch=b,
            n_ubatch=b,
            n_threads=2,
            swa_full=True,
            verbose=False,
        )
        for b in sizes
    }
    tokens = models[512].tokenize(text.encode(), add_bos=True)
    times: dict[int, list[float]] = {b: [] for b in sizes}
    for _ in range(runs):
        for b, llm in models.items():
            llm.reset()
            llm._ctx.kv_cache_clear()
            start = time.perf_counter()
            llm.eval(tokens)
            times[b].append(time.perf_counter() - start)
    base = statistics.median(times[512])
    for b in sizes:
        t = statistics.median(times[b])
        mark = "  (the app's)" if b == EVAL_BATCH else ""
        print(
            f"restore: prompt of {len(tokens)} tokens in batches of {b:3}: {len(tokens) / t:5.0f} "
            f"tokens/s, time vs batches of 512 {t / base:.2f}{mark}"
        )
    for llm in models.values():
        llm.close()


def bench_identical(gguf: Path, conversations: int) -> None:
    from assistant.domain import ChatTurn, GenerationOptions, Role
    from assistant.llm.base import TextPiece
    from assistant.llm.llama import LlamaCppModel
    from assistant.llm.state_cache import StateCache

    greedy = GenerationOptions(max_tokens=32, temperature=0.0, seed=3)
    system = ChatTurn(Role.SYSTEM, "You are a helpful, concise assistant.")
    topics = [
        "rivers",
        "bread",
        "trains",
        "owls",
        "glass",
        "tides",
        "maps",
        "bees",
        "lamps",
        "ferns",
        "clocks",
        "boats",
    ][:conversations]

    def reply(model: LlamaCppModel, turns: list[ChatTurn]) -> str:
        return "".join(e.text for e in model.stream(turns, greedy) if isinstance(e, TextPiece))

    with tempfile.TemporaryDirectory() as tmp:
        states = Path(tmp)

        def load(n_ctx: int = 2048) -> LlamaCppModel:
            return LlamaCppModel(
                gguf,
                n_ctx=n_ctx,
                n_threads=2,
                seed=1,
                state_cache=lambda m: StateCache(states, 2**31, "bundled", m.load_settings),
            )

        colds = {n: LlamaCppModel(gguf, n_ctx=n, n_threads=2, seed=1) for n in (2048, 4096)}

        def cold(turns: list[ChatTurn], n_ctx: int = 2048) -> str:
            colds[n_ctx].reset_cache()
            return reply(colds[n_ctx], turns)

        same: dict[str, list[bool]] = {}
        restored = 0
        for i, topic in enumerate(topics):
            facts = " ".join(
                f"Fact {k} about {topic}: item {k * (i + 3)} weighs {k + i} kg and "
                f"sits on shelf {(k * 7 + i) % 13}."
                for k in range(14 + 4 * i)
            )
            first = [system, ChatTurn(Role.USER, f"Read these notes about {topic}. {facts}")]
            turn1 = [*first, ChatTurn(Role.USER, "What weighs the most?")]
            writer = load()
            answer = reply(writer, turn1)
            writer.prepare_next([*turn1, ChatTurn(Role.ASSISTANT, answer)])
            writer.close()
            cases = {
                "whole": (
                    [
                        *turn1,
                        ChatTurn(Role.ASSISTANT, answer),
                        ChatTurn(Role.USER, "And the least?"),
                    ],
                    2048,
                ),
                "part": ([*first, ChatTurn(Role.USER, f"Which shelf holds most {topic}?")], 2048),
                "edit": (
                    [system, ChatTurn(Role.USER, first[1].content.replace("Fact 9", "Fact 99"))],
                    2048,
                ),
                "other context size": (turn1, 4096),
            }
            for name, (turns, n_ctx) in cases.items():
                reader = load(n_ctx)
                text = reply(reader, turns)
                restored += reader.last_restore > 0
                same.setdefault(name, []).append(text == cold(turns, n_ctx))
                reader.close()
        total = sum(len(v) for v in same.values())
        equal = sum(sum(v) for v in same.values())
        parts = ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in same.items())
        print(
            f"restore: identical greedy replies {equal}/{total} ({100 * equal / total:.0f}%, "
            f"aim 100%): {parts}; {restored} of them read a saved state"
        )


def bench_continue(gguf: Path, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        models = home / "cache" / "models"
        models.mkdir(parents=True)
        os.link(gguf, models / gguf.name)
        shutil.copy2(gguf.with_name(gguf.name + ".verified"), models)
        env = {
            **os.environ,
            "ASSISTANT_HOME": str(home),
            "ASSISTANT_N_THREADS": "2",
            "ASSISTANT_N_CTX": "4096",
            "ASSISTANT_MAX_TOKENS": "160",
            "ASSISTANT_TEMPERATURE": "0",
        }
        no_state = {**env, "ASSISTANT_STATE_CACHE_MB": "0"}

        def ask(environ: dict[str, str], *args: str) -> dict:
            out = subprocess.run(
                [sys.executable, "-m", "assistant", "ask", "--json", *args],
                env=environ,
                check=True,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
            ).stdout
            return dict(json.loads(out))

        notes = "Here are my notes on rivers. " + " ".join(
            f"Point {n}: rivers carry water, silt and stories from the hills to the sea."
            for n in range(60)
        )
        turns = [notes, "Which point is about silt? Explain it.", "Now write a short poem."]
        convs = {}
        for label, environ in (("with", env), ("without", no_state)):
            cid = None
            for text in turns:
                got = ask(environ, *(["-c", str(cid)] if cid else []), text)
                cid = got["conversation_id"]
            convs[label] = cid
        with_ttft, without_ttft, prompt, cached = [], [], 0, 0
        for n in range(runs):
            order = [("with", env), ("without", no_state)]
            for label, environ in order if n % 2 == 0 else order[::-1]:
                got = ask(environ, "-c", str(convs[label]), f"Question {n}: which point is best?")
                (with_ttft if label == "with" else without_ttft).append(
                    got["time_to_first_token_ms"]
                )
                if label == "with":
                    prompt, cached = got["prompt_tokens"], got["cached_tokens"]
        w, wo = statistics.median(with_ttft), statistics.median(without_ttft)
        print(
            f"restore: ask -c on a {prompt}-token conversation after 3 turns ({cached} tokens "
            f"read back): time to first token {w:.0f} ms with the saved state, {wo:.0f} ms "
            f"without; ratio {w / wo:.3f} (aim <= 0.1)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--conversations", type=int, default=8)
    parser.add_argument("--skip", default="", help="comma list of: batches,identical,continue")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    print(f"restore: CPU {cpu_flags()}; {os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}")
    gguf = bundled()
    if "batches" not in skip:
        bench_batches(gguf, args.runs)
    if "identical" not in skip:
        bench_identical(gguf, args.conversations)
    if "continue" not in skip:
        bench_continue(gguf, args.runs)


if __name__ == "__main__":
    main()
