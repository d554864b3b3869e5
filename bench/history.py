"""History at scale (issue 9): 10,000 conversations x 20 messages against 100,
measured side by side in one run, and the import of a 1,000-conversation
ChatGPT export.

Both databases are synthetic but shaped like real use: messages of 20 to 120
words drawn from a 2,000-word vocabulary (so full-text search has common and
rare words), every tenth conversation with an answered-again reply, and in
each database the same long conversation: a 200-message branch plus a second
branch that leaves it at its second message (for opening and switching). Each
figure is printed for 10k and 100 conversations and as their ratio; the aim is
under 100 ms at 10k.

- sidebar first paint: a headless app launched on the database until its
  sidebar shows the first page (and, for reference, until its first frame,
  and from the first frame to the first page);
- search: FTS5 queries of one or two words (some as prefixes, as typed in the
  palette), p50 and p95;
- open: the long conversation read on its 200-message branch (ChatSession.
  open), and drawn in the app (read + the chat view's window mounted, until
  the frame that shows it is painted; then until the replies on screen are
  drawn as Markdown, for those that have any: the bench's replies are prose,
  drawn as text). "Painted" is Textual's own callback after a refresh, once
  nothing is left to lay out or repaint, not the test pilot's pause (which
  sleeps in 20 ms steps until the process looks idle);
- switch: moving the long conversation to the other branch at its second
  message (ChatSession.step_branch), read and drawn;
- import: a 1,000-conversation conversations.json imported by a fresh
  process (``ChatService.import_file``): seconds and the process's peak
  memory, next to the peak of a process that only loads the same modules.

Run: ``python -m bench.history [--conversations 10000]`` (temporary homes).
``--against CHECKOUT`` draws with this checkout and another one (main, say)
in turns instead, with the CPU time of opening and switching beside the
wall-clock times: on a shared machine the load moves the latter. The plain
run launches the app in the process that measured the reads (its database
layer already imported: a warm launch); ``--against`` launches each run in
a fresh process, so its sidebar figure includes importing and opening the
database layer, as a user's launch does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench import cpu_flags

SMALL = 100
MESSAGES = 20
LONG_BRANCH = 200
SIDEBAR_RUNS = 5
SEARCHES = 60
OPEN_RUNS = 15
IMPORT_CONVERSATIONS = 1000


def vocabulary(rng: random.Random, size: int = 2000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 9))))
    return sorted(words)


def sentence(rng: random.Random, words: list[str], low: int = 20, high: int = 120) -> str:
    # a Zipf-like choice: a few words are common, most are rare
    count = rng.randint(low, high)
    picks = [words[min(len(words) - 1, int(rng.paretovariate(1.1)) - 1)] for _ in range(count)]
    return " ".join(picks).capitalize() + "."


def build(home: Path, conversations: int, seed: int = 7) -> dict[str, int]:
    """A database of ``conversations`` x MESSAGES plus the long conversation."""
    os.environ["ASSISTANT_HOME"] = str(home)
    from assistant.domain import Conversation, Message, MessageStatus, Role
    from assistant.runtime import Runtime

    rng = random.Random(seed)
    words = vocabulary(rng)
    start = datetime(2024, 1, 1)
    batch: list[Conversation] = []

    def message(mid: int, parent: int | None, when: datetime, role: Role) -> Message:
        return Message(
            mid, 0, role, sentence(rng, words), MessageStatus.COMPLETE, when, parent_id=parent
        )

    rt = Runtime()
    repo = rt.repo
    for n in range(conversations):
        when = start + timedelta(minutes=n)
        conversation = Conversation(0, f"Conversation {n}: {words[n % len(words)]}", when, when)
        conversation.uid = f"bench-{n}"
        parent: int | None = None
        for i in range(1, MESSAGES + 1):
            role = Role.USER if i % 2 else Role.ASSISTANT
            conversation.messages.append(message(i, parent, when, role))
            parent = i
        if n % 10 == 0:  # an answered-again reply beside the last one
            conversation.messages.append(message(MESSAGES + 1, MESSAGES - 1, when, Role.ASSISTANT))
        conversation.current_leaf_id = MESSAGES
        batch.append(conversation)
        if len(batch) == 1000:
            repo.import_conversations(batch)
            batch = []
    # the long one: a 200-message branch and another leaving it at message 2
    when = start + timedelta(minutes=conversations + 1)
    long = Conversation(0, "The long one", when, when, uid="bench-long")
    parent = None
    for i in range(1, LONG_BRANCH + 1):
        long.messages.append(message(i, parent, when, Role.USER if i % 2 else Role.ASSISTANT))
        parent = i
    other_parent: int | None = 1
    for i in range(LONG_BRANCH + 1, LONG_BRANCH + 21):
        role = Role.ASSISTANT if (i - LONG_BRANCH) % 2 else Role.USER
        long.messages.append(message(i, other_parent, when, role))
        other_parent = i
    long.current_leaf_id = LONG_BRANCH
    batch.append(long)
    repo.import_conversations(batch)
    long_id = next(c.id for c in repo.list_conversations(5, counts=False) if c.uid == "bench-long")
    thread = repo.thread(long_id)
    rt.db.close()
    leaf = thread.conversation.current_leaf_id
    assert leaf is not None and len(thread.messages) == LONG_BRANCH
    return {"long": long_id, "branch_point": thread.messages[1].id, "leaf": leaf}


def queries(seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    words = vocabulary(random.Random(7))
    out = []
    for _ in range(SEARCHES):
        kind = rng.random()
        if kind < 0.4:
            out.append(words[min(len(words) - 1, int(rng.paretovariate(1.1)) - 1)])
        elif kind < 0.8:
            out.append(f"{rng.choice(words)} {rng.choice(words)}")
        else:
            out.append(rng.choice(words)[:4])  # typing: a prefix
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def measure_reads(home: Path, ids: dict[str, int]) -> dict[str, Any]:
    os.environ["ASSISTANT_HOME"] = str(home)
    from assistant.runtime import Runtime
    from assistant.ui.sidebar import PAGE

    rt = Runtime()
    repo = rt.repo
    session = rt.session()
    result: dict[str, Any] = {}
    page = []
    for _ in range(OPEN_RUNS):
        t = time.perf_counter()
        repo.list_conversations(PAGE + 1, counts=False)
        page.append(time.perf_counter() - t)
    result["sidebar_read"] = statistics.median(page)
    times = []
    for q in queries():
        t = time.perf_counter()
        repo.search(q, 20)
        times.append(time.perf_counter() - t)
    result["search_p50"] = percentile(times, 0.5)
    result["search_p95"] = percentile(times, 0.95)
    opens, switches = [], []
    for _ in range(OPEN_RUNS):
        repo.set_current_leaf(ids["long"], ids["leaf"])  # back on the 200-message branch
        t = time.perf_counter()
        thread = session.open(ids["long"])
        opens.append(time.perf_counter() - t)
        assert thread is not None and len(thread.messages) == LONG_BRANCH
        t = time.perf_counter()
        switched = session.step_branch(ids["branch_point"], 1)
        switches.append(time.perf_counter() - t)
        assert len(switched.messages) == 21, len(switched.messages)
    result["open_read"] = statistics.median(opens)
    result["switch_read"] = statistics.median(switches)
    rt.db.close()
    return result


def measure_app(home: Path, ids: dict[str, int]) -> dict[str, float]:
    """Launch the app headless: first frame, sidebar painted, then open the
    long conversation and switch its branch on screen. Wall-clock times, and
    the process's CPU time for opening and switching (what the app did,
    whatever else the machine was doing). Works on this app and on the one
    before the chat became a screen over a controller (``--against``)."""
    os.environ["ASSISTANT_HOME"] = str(home)
    from assistant.runtime import Runtime
    from assistant.ui.app import AssistantApp
    from tests.fakes import FakeModel

    Runtime.load_model = lambda self: FakeModel()  # type: ignore[method-assign]
    # back on the 200-message branch, with sqlite3 itself: opening the
    # database through the app here would import and warm its database layer
    # before the launch is timed (in a fresh process, as ``--against`` runs
    # each launch, the sidebar's first paint includes that, as a user's does)
    database = home / "data" / "assistant.db"
    assert database.exists(), database
    with sqlite3.connect(database) as setup:
        setup.execute(
            "UPDATE conversations SET current_leaf_id = ? WHERE id = ?", (ids["leaf"], ids["long"])
        )
    setup.close()
    out: dict[str, float] = {}

    async def painted(app: Any) -> None:
        """Until the screen has drawn what was asked for: the next frame is
        painted and the app is idle (Textual calls back once nothing is
        left to lay out or repaint)."""
        done = asyncio.Event()
        app.screen.call_after_refresh(done.set)
        await done.wait()

    async def run() -> None:
        started = time.time()
        app = AssistantApp(Runtime(), sync_notes=False)
        async with app.run_test(size=(120, 40)) as pilot:
            chat: Any = getattr(app, "chat", None)
            controller = getattr(chat, "controller", None)
            screen: Any = chat if controller is not None else app
            while screen.sidebar_ready_at is None:
                await pilot.pause(0.005)
            out["first_screen"] = (app.first_screen_at or started) - started
            out["sidebar_paint"] = screen.sidebar_ready_at - started
            out["sidebar_after_frame"] = screen.sidebar_ready_at - (app.first_screen_at or started)
            await app.workers.wait_for_complete()
            await pilot.pause()
            t, cpu = time.perf_counter(), time.process_time()
            if controller is not None:
                await controller.open(ids["long"])
            else:
                await screen.open_conversation(ids["long"]).wait()
            await painted(app)
            out["open_screen"] = time.perf_counter() - t
            await app.workers.wait_for_complete()  # replies on screen drawn as Markdown
            await painted(app)
            out["open_formatted"] = time.perf_counter() - t
            out["open_cpu"] = time.process_time() - cpu
            view_of = screen.chat_view
            assert 0 < len(view_of.views) <= view_of.WINDOW
            out["open_mounted"] = len(view_of.views)
            await pilot.pause()
            t, cpu = time.perf_counter(), time.process_time()
            if controller is not None:
                thread = controller.thread
                assert thread is not None
                place = thread.position(ids["branch_point"])
                await controller.step_branch(ids["branch_point"], 1, place)
            else:  # as the bench did before: the branch point is above the window
                switched = await asyncio.to_thread(
                    screen.session.step_branch, ids["branch_point"], 1
                )
                await view_of.show(switched)
            await painted(app)
            out["switch_screen"] = time.perf_counter() - t
            await app.workers.wait_for_complete()  # the message in question brought
            await painted(app)
            out["switch_formatted"] = time.perf_counter() - t
            out["switch_cpu"] = time.process_time() - cpu
            await pilot.pause()
            # and back: the second switch, once the first drew what any
            # switch draws (the first pays for Textual's first render of it)
            t, cpu = time.perf_counter(), time.process_time()
            if controller is not None:
                thread = controller.thread
                assert thread is not None
                back = thread.messages[1].id
                await controller.step_branch(back, -1, thread.position(back))
            else:
                back = switched.messages[1].id
                switched = await asyncio.to_thread(screen.session.step_branch, back, -1)
                await view_of.show(switched)
            await painted(app)
            out["switch_back_screen"] = time.perf_counter() - t
            await app.workers.wait_for_complete()
            await painted(app)
            out["switch_back_cpu"] = time.process_time() - cpu
            app.exit()

    asyncio.run(run())
    return out


CHILD = r"""
import json, sys
sys.path.insert(1, sys.argv[1])  # this bench's folder, after the checkout measured
from history import build, measure_app
from pathlib import Path
what, home = sys.argv[2], Path(sys.argv[3])
if what == "build":
    result = build(home, int(sys.argv[4]))
else:
    result = measure_app(home, json.loads(sys.argv[4]))
print("BENCH " + json.dumps(result))
"""


def in_checkout(checkout: Path, *args: str) -> Any:
    """Run ``build`` or ``measure_app`` of this file on another checkout's
    code (its ``assistant`` and ``tests`` first on the path)."""
    return child_result(
        [CHILD, str(Path(__file__).parent), *args],
        {"PYTHONPATH": str(checkout)},
        f"{args[0]} in {checkout}",
        3600,
        cwd=checkout,
    )


def child_result(
    argv: list[str], env: dict[str, str], what: str, timeout: int, cwd: Path | None = None
) -> Any:
    """Run ``python -c argv...`` without the caller's ASSISTANT_ settings
    (plus ``env``) and return what it printed on its ``BENCH`` line."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    proc = subprocess.run(
        [sys.executable, "-c", *argv],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    line = [x for x in proc.stdout.splitlines() if x.startswith("BENCH ")]
    if proc.returncode or not line:
        raise SystemExit(f"{what} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(line[-1][6:])


def compare(against: Path, conversations: int) -> int:
    """The app's drawing, this checkout and ``against`` side by side, in
    turns (so a change of load weighs on both), at ``conversations``."""
    here = Path(__file__).resolve().parents[1]
    work = Path(tempfile.mkdtemp(prefix="assistant-bench-history-"))
    trees = {"this": here, "before": against.resolve()}
    try:
        ids = {}
        for name, tree in trees.items():
            ids[name] = in_checkout(tree, "build", str(work / name), str(conversations))
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for _ in range(SIDEBAR_RUNS):
            for name, tree in trees.items():
                runs[name].append(
                    in_checkout(tree, "measure", str(work / name), json.dumps(ids[name]))
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"history: cpu {cpu_flags()}")
    print(f"history: {conversations} conversations; this checkout against {against}")
    for key, label in [
        ("sidebar_paint", "sidebar first paint (a fresh process: launch to first page)"),
        ("first_screen", "  first frame (for reference)"),
        ("sidebar_after_frame", "  first frame to first page shown"),
        ("open_screen", "open a 200-message branch: on screen"),
        ("open_cpu", "  its CPU time"),
        ("switch_screen", "switch branch: on screen"),
        ("switch_cpu", "  its CPU time"),
        ("switch_back_screen", "switch back (the second switch): on screen"),
        ("switch_back_cpu", "  its CPU time"),
    ]:
        now = statistics.median(r[key] for r in runs["this"])
        then = statistics.median(r[key] for r in runs["before"])
        print(
            f"history: {label:<52} before: {then * 1000:8.1f} ms   now: {now * 1000:8.1f} ms"
            f"   now/before {now / then if then else float('nan'):5.2f}"
        )
    for name in ("before", "this"):
        mounted = statistics.median(r.get("open_mounted", float("nan")) for r in runs[name])
        print(
            f"history: {'now' if name == 'this' else 'before'}: message views mounted on opening "
            f"the {LONG_BRANCH}-message branch: {mounted:.0f}"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"history: machine load average (1 min) {load:.2f} on {os.cpu_count()} CPUs")
    return 0


IMPORT_CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
only_load = sys.argv[2] == "load"
from assistant.runtime import Runtime
from assistant.chat.transfer import read_archive
rt = Runtime()
chat = rt.chat
repo = rt.repo
if only_load:
    result = {"seconds": 0.0}
else:
    started = time.perf_counter()
    done = chat.import_file(Path(sys.argv[1]))
    result = {"seconds": time.perf_counter() - started, "conversations": done.conversations,
              "messages": done.messages}
# VmHWM: this process image's peak RSS (ru_maxrss may carry the parent's
# peak over from before exec)
with open("/proc/self/status") as status:
    hwm = [line for line in status if line.startswith("VmHWM:")]
result["peak_kib"] = (int(hwm[0].split()[1]) if hwm
                      else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
print("BENCH " + json.dumps(result))
"""


def chatgpt_export(path: Path, conversations: int, seed: int = 5) -> int:
    """Writes a ChatGPT-shaped conversations.json; returns its message count."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    items = []
    total = 0
    t0 = 1_700_000_000.0
    for n in range(conversations):
        mapping: dict[str, Any] = {
            "root": {"id": "root", "message": None, "parent": None, "children": []}
        }
        parent = "root"
        for i in range(MESSAGES):
            nid = f"{n}-{i}"
            role = "user" if i % 2 == 0 else "assistant"
            mapping[nid] = {
                "id": nid,
                "message": {
                    "id": nid,
                    "author": {"role": role, "name": None, "metadata": {}},
                    "create_time": t0 + n * 60 + i,
                    "content": {"content_type": "text", "parts": [sentence(rng, words)]},
                    "status": "finished_successfully",
                    "metadata": {"model_slug": "gpt-4o"} if role == "assistant" else {},
                    "recipient": "all",
                },
                "parent": parent,
                "children": [],
            }
            mapping[parent]["children"].append(nid)
            parent = nid
            total += 1
        if n % 5 == 0:  # a regenerated last reply
            nid = f"{n}-again"
            last_user = f"{n}-{MESSAGES - 2}"
            mapping[nid] = dict(mapping[f"{n}-{MESSAGES - 1}"], id=nid, parent=last_user)
            mapping[last_user]["children"].append(nid)
            total += 1
        items.append(
            {
                "title": f"Imported {n}",
                "create_time": t0 + n * 60,
                "update_time": t0 + n * 60 + MESSAGES,
                "mapping": mapping,
                "current_node": parent,
                "conversation_id": f"00000000-0000-4000-8000-{n:012d}",
                "id": f"00000000-0000-4000-8000-{n:012d}",
            }
        )
    path.write_text(json.dumps(items))
    return total


def run_import(work: Path) -> dict[str, Any]:
    export = work / "conversations.json"
    messages = chatgpt_export(export, IMPORT_CONVERSATIONS)
    size_mb = export.stat().st_size / 1e6

    def child(mode: str) -> dict[str, Any]:
        home = Path(tempfile.mkdtemp(prefix="assistant-bench-import-", dir=work))
        result: dict[str, Any] = child_result(
            [IMPORT_CHILD, str(export), mode], {"ASSISTANT_HOME": str(home)}, "import", 1800
        )
        return result

    loaded = child("load")
    done = child("import")
    return {"export_mb": size_mb, "expected": messages, "load": loaded, "import": done}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument(
        "--against",
        type=Path,
        metavar="CHECKOUT",
        help="draw side by side with another checkout (e.g. main) instead",
    )
    args = parser.parse_args()
    if args.against is not None:
        return compare(args.against, args.conversations)
    big_n, small_n = args.conversations, SMALL
    work = Path(tempfile.mkdtemp(prefix="assistant-bench-history-"))
    try:
        homes = {big_n: work / "big", small_n: work / "small"}
        ids: dict[int, dict[str, int]] = {}
        for n, home in homes.items():
            t = time.perf_counter()
            ids[n] = build(home, n)
            print(
                f"history: built {n} conversations x {MESSAGES} messages in "
                f"{time.perf_counter() - t:.1f} s",
                flush=True,
            )
        reads = {n: measure_reads(homes[n], ids[n]) for n in (big_n, small_n)}
        apps: dict[int, list[dict[str, float]]] = {big_n: [], small_n: []}
        for _ in range(SIDEBAR_RUNS):  # in turns, so drift in the load hits both alike
            for n in (big_n, small_n):
                apps[n].append(measure_app(homes[n], ids[n]))
        imported = run_import(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def app_median(n: int, key: str) -> float:
        return statistics.median(r[key] for r in apps[n])

    rows = [
        ("sidebar first paint (app launch to first page shown)",
         app_median(big_n, "sidebar_paint"), app_median(small_n, "sidebar_paint")),
        ("  first frame (for reference)",
         app_median(big_n, "first_screen"), app_median(small_n, "first_screen")),
        ("  first frame to first page shown",
         app_median(big_n, "sidebar_after_frame"), app_median(small_n, "sidebar_after_frame")),
        ("  sidebar page read", reads[big_n]["sidebar_read"], reads[small_n]["sidebar_read"]),
        ("search p50", reads[big_n]["search_p50"], reads[small_n]["search_p50"]),
        ("search p95", reads[big_n]["search_p95"], reads[small_n]["search_p95"]),
        ("open a 200-message branch: read",
         reads[big_n]["open_read"], reads[small_n]["open_read"]),
        ("open a 200-message branch: on screen",
         app_median(big_n, "open_screen"), app_median(small_n, "open_screen")),
        ("  and its replies on screen formatted",
         app_median(big_n, "open_formatted"), app_median(small_n, "open_formatted")),
        ("switch branch: read", reads[big_n]["switch_read"], reads[small_n]["switch_read"]),
        ("switch branch: on screen",
         app_median(big_n, "switch_screen"), app_median(small_n, "switch_screen")),
        ("  and its replies on screen formatted",
         app_median(big_n, "switch_formatted"), app_median(small_n, "switch_formatted")),
        ("switch back (the second switch): on screen",
         app_median(big_n, "switch_back_screen"), app_median(small_n, "switch_back_screen")),
    ]  # fmt: skip
    print(f"history: cpu {cpu_flags()}")
    for label, big, small in rows:
        verdict = "" if label.startswith("  first frame") else (
            "  ok (<100 ms)" if big < 0.1 else "  over 100 ms"
        )  # fmt: skip
        print(
            f"history: {label:<52} {big_n}: {big * 1000:8.1f} ms   {small_n}: "
            f"{small * 1000:8.1f} ms   ratio {big / small if small else float('nan'):5.2f}{verdict}"
        )
    done, loaded = imported["import"], imported["load"]
    print(
        f"history: import of a {IMPORT_CONVERSATIONS}-conversation ChatGPT export "
        f"({imported['export_mb']:.1f} MB, {done['messages']} messages): {done['seconds']:.2f} s "
        f"({done['messages'] / done['seconds']:.0f} messages/s), peak memory "
        f"{done['peak_kib'] / 1024:.0f} MiB (a process that only loads the modules: "
        f"{loaded['peak_kib'] / 1024:.0f} MiB; the import adds "
        f"{(done['peak_kib'] - loaded['peak_kib']) / 1024:.0f} MiB)"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"history: machine load average (1 min) {load:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
