"""Models: hub pulls, switching, the fit estimate, and continuing a conversation
from a saved state. Every figure is measured side by side in this run.

1. Pull of the bundled GGUF from the hub stand-in on loopback (listing, HEAD,
   download, sha256, GGUF check, rename into the hub cache) against a plain
   ``httpx`` stream of the same file from the same server into a file; in
   turns, medians; the ratio is plain time / pull time (aim >= 0.9).
2. Re-pull of the cached model (a listing and a HEAD, nothing downloaded).
3. Switching models in a running process (``Runtime.switch_model``, what the
   picker's worker calls) against a cold start: a new process that imports
   the app, builds the runtime with that model and loads it.
4. Fit estimate against the RSS measured after a load and a short reply, in
   a fresh process, at 4,096 tokens and at the default (largest) context.
5. ``assistant ask -c ID`` on a ~1,500-token conversation: time to first
   token with the saved state against without it (state cache off), in turns;
   and the state file's size per 1,000 tokens.

Run: ``python -m bench.models [--runs 3]``.
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

ROOT = Path(__file__).resolve().parents[1]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f}"


def bench_pull(source: Path, runs: int) -> None:
    import httpx

    from assistant.llm.hub import Hub, parse_ref
    from tests.hub_standin import HostedFile, HubStandIn

    os.environ.pop("HF_HUB_OFFLINE", None)
    with HubStandIn() as hub, tempfile.TemporaryDirectory() as tmp:
        hosted = HostedFile(source)
        hub.add("bench/gemma-GGUF", {"gemma-3-270m-Q4_K_M.gguf": hosted})
        os.environ["HF_ENDPOINT"] = hub.endpoint
        ref = parse_ref("bench/gemma-GGUF:Q4_K_M")
        url = f"{hub.cdn}/cdn/{hosted.sha256}?repo=bench/gemma-GGUF&file=gemma-3-270m-Q4_K_M.gguf"
        pulls, plains = [], []

        def one_pull(n: int) -> None:
            os.environ["HF_HOME"] = f"{tmp}/hf-{n}"
            start = time.perf_counter()
            Hub().pull(ref)
            pulls.append(time.perf_counter() - start)
            shutil.rmtree(f"{tmp}/hf-{n}")  # both sides give their pages back

        def one_plain(n: int) -> None:
            target = Path(tmp) / f"plain-{n}.gguf"
            start = time.perf_counter()
            with httpx.stream("GET", url, timeout=60) as resp, open(target, "wb") as out:
                for block in resp.iter_bytes():
                    out.write(block)
            plains.append(time.perf_counter() - start)
            target.unlink()

        os.environ["HF_HOME"] = f"{tmp}/hf-warm"
        Hub().pull(ref)  # warm-up, not counted: imports, the server's page cache
        shutil.rmtree(f"{tmp}/hf-warm")
        for n in range(runs):  # in turns, each side first every other time
            first, second = (one_pull, one_plain) if n % 2 == 0 else (one_plain, one_pull)
            first(n)
            second(n)
        os.environ["HF_HOME"] = f"{tmp}/hf-kept"
        Hub().pull(ref)
        pull, plain = statistics.median(pulls), statistics.median(plains)
        size = source.stat().st_size / 1e6
        print(
            f"pull from the hub stand-in: {pull:.2f} s ({size / pull:.0f} MB/s); "
            f"plain httpx stream {plain:.2f} s ({size / plain:.0f} MB/s); "
            f"ratio plain/pull {plain / pull:.2f} (aim >= 0.9)"
        )
        again = []
        for _ in range(runs):
            start = time.perf_counter()
            result = Hub().pull(ref)
            again.append(time.perf_counter() - start)
            assert result.fetched_bytes == 0
        print(
            f"re-pull of the cached model: {statistics.median(again) * 1000:.0f} ms (aim < 0.5 s)"
        )


def bench_switch(source: Path, runs: int) -> None:
    from dataclasses import replace

    from assistant.runtime import Runtime
    from tests.hub_standin import write_split

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        models = home / "cache" / "models"
        models.mkdir(parents=True)
        os.link(source, models / source.name)
        shutil.copy2(source.with_name(source.name + ".verified"), models)
        other = write_split(source, Path(tmp), 2)[0]  # a second model: other files
        os.environ["ASSISTANT_HOME"] = str(home)
        env = {**os.environ, "ASSISTANT_N_THREADS": "2"}
        rt = Runtime(n_threads=2)
        rt.model_handle.get()
        bundled_spec = rt.model_spec()
        other_spec = replace(bundled_spec, model_path=other)
        switches = []
        for _ in range(runs):
            for spec in (other_spec, bundled_spec):
                start = time.perf_counter()
                rt.switch_model(spec)
                switches.append(time.perf_counter() - start)
        code = (
            "import sys, time; t = time.perf_counter()\n"
            "import assistant.ui.app\n"
            "from assistant.runtime import Runtime\n"
            "Runtime(model_path=sys.argv[1]).model_handle.get()\n"
        )
        colds = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code, str(other)], env=env, check=True)
            colds.append(time.perf_counter() - start)
        switch, cold = statistics.median(switches), statistics.median(colds)
        print(
            f"switching models in a running app: {switch:.2f} s; cold start of the app with "
            f"that model: {cold:.2f} s; ratio switch/cold {switch / cold:.2f}"
        )


def bench_fit(source: Path) -> None:
    script = (
        "import json, sys, psutil\n"
        "from assistant.llm.llama import LlamaCppModel\n"
        "from assistant.domain import ChatTurn, GenerationOptions, Role\n"
        "import llama_cpp\n"
        "p = psutil.Process(); before = p.memory_info().rss\n"
        "n = int(sys.argv[2]) or None\n"
        "m = LlamaCppModel(sys.argv[1], n_ctx=n, n_threads=2)\n"
        "list(m.stream([ChatTurn(Role.USER, 'Hello there')], GenerationOptions(max_tokens=8)))\n"
        "print(json.dumps({'rss': p.memory_info().rss - before, 'ctx': m.context_size,"
        " 'estimate': m.fit.estimate.total}))\n"
    )
    for n_ctx in (4096, 0):
        out = subprocess.run(
            [sys.executable, "-c", script, str(source), str(n_ctx)],
            check=True, capture_output=True, text=True, cwd=ROOT,
        ).stdout  # fmt: skip
        f = json.loads(out.strip().splitlines()[-1])
        print(
            f"fit estimate vs measured RSS at {f['ctx']} tokens: estimate "
            f"{f['estimate'] / 1e6:.0f} MB, RSS {f['rss'] / 1e6:.0f} MB, ratio "
            f"{f['estimate'] / f['rss']:.2f} (aim within 0.85-1.15)"
        )


def bench_continue(source: Path, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        models = home / "cache" / "models"
        models.mkdir(parents=True)
        os.link(source, models / source.name)
        shutil.copy2(source.with_name(source.name + ".verified"), models)
        env = {
            **os.environ,
            "ASSISTANT_HOME": str(home),
            "ASSISTANT_N_THREADS": "2",
            "ASSISTANT_N_CTX": "4096",
            "ASSISTANT_MAX_TOKENS": "16",
            "ASSISTANT_TEMPERATURE": "0",
        }
        no_state = {**env, "ASSISTANT_STATE_CACHE_MB": "0"}

        def ask(environ: dict[str, str], *args: str) -> dict:
            out = subprocess.run(
                [sys.executable, "-m", "assistant", "ask", "--json", *args],
                env=environ, check=True, capture_output=True, text=True,
                stdin=subprocess.DEVNULL,
            ).stdout  # fmt: skip
            return dict(json.loads(out))

        text = "Here are my notes on rivers. " + " ".join(
            f"Point {n}: rivers carry water, silt and stories from the hills to the sea."
            for n in range(90)
        )
        with_conv = ask(env, text)["conversation_id"]
        without_conv = ask(no_state, text)["conversation_id"]
        with_ttft, without_ttft, prompt = [], [], 0
        for n in range(runs):
            a = ask(env, "-c", str(with_conv), f"Question {n}: which point matters most?")
            b = ask(no_state, "-c", str(without_conv), f"Question {n}: which point matters most?")
            with_ttft.append(a["time_to_first_token_ms"])
            without_ttft.append(b["time_to_first_token_ms"])
            prompt = a["prompt_tokens"]
        states = list((home / "cache" / "states").rglob("*.state"))
        per_1000 = 0.0
        if states:
            import numpy as np

            from assistant.llm.state_cache import MAGIC

            newest = max(states, key=lambda p: p.stat().st_mtime)
            raw = newest.read_bytes()
            length = int(np.frombuffer(raw[len(MAGIC) : len(MAGIC) + 4], dtype="<u4")[0])
            header = json.loads(raw[len(MAGIC) + 4 : len(MAGIC) + 4 + length])
            per_1000 = newest.stat().st_size / header["n_tokens"] * 1000 / 1e6
        w, wo = statistics.median(with_ttft), statistics.median(without_ttft)
        print(
            f"ask -c on a {prompt}-token conversation: time to first token {w:.0f} ms with the "
            f"saved state, {wo:.0f} ms without; ratio {w / wo:.2f} (aim <= 0.1)"
        )
        print(f"state file size: {per_1000:.1f} MB per 1,000 tokens")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from assistant.llm.catalog import bundled_model_path
    from assistant.paths import app_paths

    source = bundled_model_path(app_paths())
    print(f"CPU: {cpu_flags()}; {load()}")
    bench_pull(source, args.runs)
    bench_switch(source, args.runs)
    bench_fit(source)
    bench_continue(source, args.runs)
    print(f"done; {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
