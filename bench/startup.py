"""Start-up benchmark (issue 2, #4): launch to first screen, and ``assistant --help``.

Each launch is a fresh Python process, timed from the parent's clock just before
it starts to the wall-clock time the app records when its first frame has been
drawn (Textual's ``Ready`` event, in a headless run). The child goes through
``assistant.cli.main([])`` exactly as the ``assistant`` command does; only
``App.run`` is swapped for a headless run that exits once the screen is up.
An import watcher in the child records when torch or llama_cpp is first
imported, to show that neither is on the path to the first screen.

Run: ``python -m bench.startup [--baseline REF]`` (uses a temporary
ASSISTANT_HOME; the first, uncounted launch creates the database and
assembles the bundled model). With ``--baseline REF`` the same measurements
run on a checkout of git revision REF too, in turns with the current tree
(A B A B ...), each side with its own home, and the ratios are printed.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 7
FIRST_SCREEN_TARGET_S = 1.0
HELP_TARGET_S = 0.3
HEAVY = ("torch", "llama_cpp")

CHILD = r"""
import json, os, sys, time

heavy_first_import = {}

class HeavyImportWatcher:
    def find_spec(self, name, path=None, target=None):
        root = name.partition(".")[0]
        if root in HEAVY and root not in heavy_first_import:
            heavy_first_import[root] = time.time()
        return None

sys.meta_path.insert(0, HeavyImportWatcher())

from textual.app import App

result = {}
original_run = App.run

def headless_run(self, *args, **kwargs):
    async def until_first_screen(pilot):
        while getattr(pilot.app, "first_screen_at", None) is None:
            await pilot.pause()
        result["first_screen_at"] = pilot.app.first_screen_at
        pilot.app.exit()

    return original_run(self, headless=True, size=(120, 35), auto_pilot=until_first_screen)

App.run = headless_run
from assistant.cli import main

result["exit_code"] = main([])
result["heavy_first_import"] = heavy_first_import
print("BENCH " + json.dumps(result))
"""


def launch_to_first_screen(env: dict[str, str], cwd: str | None = None) -> dict:
    code = f"HEAVY = {HEAVY!r}\n" + CHILD
    started = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd=cwd
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("BENCH ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"the app did not start:\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(lines[-1][len("BENCH ") :])
    result["seconds"] = result["first_screen_at"] - started
    return result


def help_wall_time(env: dict[str, str], cwd: str | None = None) -> float:
    """``assistant --help`` as the console script runs it (``python -m
    assistant`` for a baseline checkout, which has no script of its own)."""
    script = Path(sys.executable).with_name("assistant")
    if cwd is None and script.exists():
        command = [str(script)]
    else:
        command = [sys.executable, "-m", "assistant"]
    started = time.perf_counter()
    subprocess.run(
        [*command, "--help"], env=env, capture_output=True, check=True, timeout=60, cwd=cwd
    )
    return time.perf_counter() - started


def figures(values: list[float]) -> str:
    return " ".join(f"{v:.3f}" for v in values)


def side_env(home: str, source: str | None) -> dict[str, str]:
    # A user's install has compiled bytecode; this sandbox sets
    # PYTHONDONTWRITEBYTECODE, which would recompile the package every run.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ASSISTANT_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["ASSISTANT_HOME"] = home
    if source is not None:
        env["PYTHONPATH"] = source
    return env


def compare(baseline: str) -> int:
    """The current tree (A) against a checkout of ``baseline`` (B), in turns."""
    from bench import cpu_flags

    repo = Path(__file__).resolve().parents[1]
    work = tempfile.mkdtemp(prefix="assistant-bench-startup-")
    checkout = os.path.join(work, "baseline")
    subprocess.run(
        ["git", "-C", str(repo), "worktree", "add", "--detach", checkout, baseline],
        check=True,
        capture_output=True,
    )
    sides = {"after": (side_env(os.path.join(work, "a"), None), None)}
    sides["before"] = (side_env(os.path.join(work, "b"), checkout), checkout)
    first: dict[str, list[float]] = {k: [] for k in sides}
    helps: dict[str, list[float]] = {k: [] for k in sides}
    try:
        for env, cwd in sides.values():
            launch_to_first_screen(env, cwd)  # creates the database; not counted
            help_wall_time(env, cwd)
        for _ in range(RUNS):
            for name, (env, cwd) in sides.items():
                first[name].append(launch_to_first_screen(env, cwd)["seconds"])
                helps[name].append(help_wall_time(env, cwd))
    finally:
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "remove", "--force", checkout],
            capture_output=True,
        )
        shutil.rmtree(work, ignore_errors=True)
    print(f"startup: cpu flags: {cpu_flags()}")
    for label, values in (("launch to first screen", first), ("assistant --help", helps)):
        a, b = statistics.median(values["after"]), statistics.median(values["before"])
        print(
            f"startup: {label:<22} before ({baseline}) median {b:.3f} s  after median {a:.3f} s  "
            f"ratio after/before {a / b:.2f}  runs={RUNS} in turns"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"startup: machine load average (1 min) {load:.2f} on {os.cpu_count()} CPUs")
    return 0


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Start-up benchmark")
    parser.add_argument("--baseline", metavar="REF", help="also measure git revision REF")
    args = parser.parse_args()
    if args.baseline:
        return compare(args.baseline)
    return measure()


def measure() -> int:
    home = tempfile.mkdtemp(prefix="assistant-bench-startup-")
    env = side_env(home, None)
    try:
        launch_to_first_screen(env)  # creates the database; not counted
        launches = [launch_to_first_screen(env) for _ in range(RUNS)]
        helps = [help_wall_time(env) for _ in range(RUNS)]
    finally:
        shutil.rmtree(home, ignore_errors=True)

    first = [r["seconds"] for r in launches]
    first_median = statistics.median(first)
    help_median = statistics.median(helps)
    heavy_before = sorted(
        {
            m
            for r in launches
            for m, at in r["heavy_first_import"].items()
            if at <= r["first_screen_at"]
        }
    )
    after_ms = [
        (r["heavy_first_import"][m] - r["first_screen_at"]) * 1000
        for r in launches
        for m in HEAVY
        if m in r["heavy_first_import"]
    ]

    def verdict(value: float, target: float) -> str:
        return "ok" if value < target else "OVER TARGET"

    print(
        f"startup: launch to first screen  runs={RUNS}  median={first_median:.3f} s  "
        f"target<{FIRST_SCREEN_TARGET_S:.1f} s  ratio={first_median / FIRST_SCREEN_TARGET_S:.2f}  "
        f"{verdict(first_median, FIRST_SCREEN_TARGET_S)}  [{figures(first)}]"
    )
    print(
        f"startup: assistant --help        runs={RUNS}  median={help_median:.3f} s  "
        f"target<{HELP_TARGET_S:.1f} s  ratio={help_median / HELP_TARGET_S:.2f}  "
        f"{verdict(help_median, HELP_TARGET_S)}  [{figures(helps)}]"
    )
    earliest = f"{min(after_ms):.0f} ms after the first screen" if after_ms else "never"
    print(
        "startup: heavy modules loaded before the first screen: "
        f"{', '.join(heavy_before) or 'none'}  (llama_cpp/torch first imported: {earliest})"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"startup: machine load average (1 min) {load:.2f} on {os.cpu_count()} CPUs")
    ok = first_median < FIRST_SCREEN_TARGET_S and help_median < HELP_TARGET_S and not heavy_before
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
