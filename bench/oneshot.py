"""One-shot cost: a whole ``assistant ask`` process against a ten-line
llama-cpp-python script that loads the same GGUF and answers the same prompt.

Both run as fresh processes, in turns (A B A B ...), so a noisy machine
slows both alike; the figure is the ratio of their medians. The script side
is what any user could write by hand: load, one completion, print. The
``assistant`` side also reads its settings, opens (and on the first run
creates) the database, stores the question and the reply, and streams.

Run: ``python -m bench.oneshot [--runs 7]`` (a temporary ASSISTANT_HOME; the
first, uncounted run of each side warms the page cache and the database).
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

PROMPT = "What is the capital of France?"

# The hand-written baseline: the same model file, threads, context, the same
# prompt text the app sends (system prompt and transcript) with its stop
# strings, the same sampling (greedy), at most 64 tokens.
SCRIPT = """
import json, sys
from llama_cpp import Llama
prompt = json.load(open(sys.argv[2]))
llm = Llama(model_path=sys.argv[1], n_ctx=4096, n_threads=2, n_threads_batch=2, verbose=False)
out = llm.create_completion(prompt["text"], max_tokens=64, temperature=0.0, top_k=40,
    top_p=0.95, min_p=0.05, repeat_penalty=1.1, stop=prompt["stop"])
print(out["choices"][0]["text"].strip())
"""


def output(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="assistant-bench-oneshot-")
    # A user's install has compiled bytecode; this sandbox sets
    # PYTHONDONTWRITEBYTECODE, which would recompile the package every run.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ASSISTANT_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(ASSISTANT_HOME=home, ASSISTANT_N_THREADS="2", ASSISTANT_TEMPERATURE="0")
    env.update(ASSISTANT_MAX_TOKENS="64")
    # Side A runs with the script's window; side C with the app's default
    # window (the largest that fits, up to the model's trained length).
    env_default = dict(env)
    env.update(ASSISTANT_N_CTX="4096")
    try:
        from assistant.llm.catalog import bundled_model_path
        from assistant.paths import AppPaths

        gguf = bundled_model_path(
            AppPaths(
                data=Path(home) / "data", config=Path(home) / "config", cache=Path(home) / "cache"
            )
        )
        from assistant.config import DEFAULT_SYSTEM_PROMPT
        from assistant.domain import ChatTurn, Role
        from assistant.llm.prompting import TranscriptFormatter

        rendered = TranscriptFormatter().render(
            [ChatTurn(Role.SYSTEM, DEFAULT_SYSTEM_PROMPT), ChatTurn(Role.USER, PROMPT)]
        )
        prompt_file = Path(home) / "prompt.json"
        prompt_file.write_text(json.dumps({"text": rendered.text, "stop": list(rendered.stop)}))
        script = Path(home) / "baseline.py"
        script.write_text(SCRIPT)
        ask = [sys.executable, "-m", "assistant", "ask", PROMPT]
        raw = [sys.executable, str(script), str(gguf), str(prompt_file)]
        # warms the page cache; not counted
        answers = [output(ask, env), output(raw, env), output(ask, env_default)]
        a_times: list[float] = []
        b_times: list[float] = []
        c_times: list[float] = []
        for _ in range(args.runs):
            a_times.append(timed(ask, env))
            b_times.append(timed(raw, env))
            c_times.append(timed(ask, env_default))
    finally:
        shutil.rmtree(home, ignore_errors=True)

    a, b, c = (statistics.median(t) for t in (a_times, b_times, c_times))
    print(f"oneshot: cpu flags: {cpu_flags()}")
    same = "the same answer" if len(set(answers)) == 1 else f"different answers {answers!r}"
    print(f"oneshot: all sides gave {same}: {answers[0]!r}")

    def line(label: str, median: float, times: list[float]) -> None:
        runs = " ".join(f"{t:.3f}" for t in times)
        print(f"oneshot: {label:<44} median {median:.3f} s  [{runs}]")

    line("assistant ask, n_ctx 4096 (whole process)", a, a_times)
    line("ten-line llama-cpp script, n_ctx 4096", b, b_times)
    line("assistant ask, default n_ctx (whole process)", c, c_times)
    load = os.getloadavg()[0]
    print(f"oneshot: ratio {a / b:.2f} at the same n_ctx (aim <= 1.2)  runs={args.runs} in turns")
    print(f"oneshot: ratio {c / b:.2f} with the app's default n_ctx  load {load:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
