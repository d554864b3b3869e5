"""Reliability cases of the notes index (issue 13), run by ``bench.reliability``
and on their own: ``python -m bench.reliability_notes [RUNS]``.

- concurrent sync + search: ``notes sync`` of 600 notes in one process and
  ``notes search`` in another while it embeds; after both exit, the saved
  vectors must match the passages (orphaned and missing vectors: aim 0) and
  the search must have answered while the sync still ran;
- bad file names: a name that is not UTF-8, one with a new line, one with an
  escape sequence; the sync must succeed, the bad one be listed, every hit
  fit on one line;
- zip bomb: a 1 MB .docx that inflates to 1 GB; peak memory (VmHWM) of the
  loader alone and of a whole ``notes sync`` process (which also loads the
  embedding model), aim < 200 MB for the file's own cost.

Each area prints cases tried and cases that held, with the machine's load.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bench._scifact import machine_line

PEAK = (
    "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
    "print('peak_mb', int(peak.split()[1]) // 1024)\n"
)


def _env(home: Path) -> dict[str, str]:
    env = os.environ.copy()
    env["ASSISTANT_HOME"] = str(home)
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def _assistant(home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "assistant", *args],
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )


def _warm_cache(home: Path, shared: Path) -> None:
    """Share one ONNX export between the runs (exporting is not what is measured)."""
    target = home / "cache" / "embeddings"
    if shared.is_dir() and not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(shared, target)


def _chunk_count(home: Path) -> int:
    try:
        con = sqlite3.connect(home / "data" / "assistant.db", timeout=30)
        try:
            return int(con.execute("SELECT count(*) FROM notes_chunks").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _vector_check(home: Path) -> tuple[int, int]:
    """(missing, orphaned) vectors of the saved index against the passages."""
    import faiss
    import numpy as np

    index_dir = home / "data" / "index"
    manifest = json.loads((index_dir / "manifest.json").read_text())
    data = (index_dir / manifest["file"]).read_bytes()
    index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    ids = set(faiss.vector_to_array(index.id_map).tolist())
    con = sqlite3.connect(home / "data" / "assistant.db")
    rows = {r[0] for r in con.execute("SELECT id FROM notes_chunks")}
    con.close()
    return len(rows - ids), len(ids - rows)


def concurrent_sync_search(runs: int, shared: Path) -> Path:
    held = 0
    figures = []
    last_home = Path()
    for run in range(runs):
        home = Path(tempfile.mkdtemp(prefix="notes-concurrent-"))
        last_home = home
        _warm_cache(home, shared)
        folder = home / "notes"
        folder.mkdir()
        for i in range(600):
            (folder / f"n{i:04}.md").write_text(
                f"# Note {i}\n\nPlanted fact {i}: the heron count on the lake was {i * 7}.\n"
            )
        subprocess.run(
            [sys.executable, "-m", "assistant", "notes", "add", str(folder)],
            env=_env(home), capture_output=True, check=True,
        )  # fmt: skip
        sync = _assistant(home, "notes", "sync")
        while _chunk_count(home) < 50 and sync.poll() is None:
            time.sleep(0.1)
        started = time.monotonic()
        search = _assistant(home, "notes", "search", "planted fact heron count", "-k", "3")
        out, err = search.communicate(timeout=300)
        took = time.monotonic() - started
        answered_during_sync = sync.poll() is None
        sync.communicate(timeout=1200)
        missing, orphaned = _vector_check(home)
        ok = (
            search.returncode == 0
            and sync.returncode == 0
            and missing == orphaned == 0
            and answered_during_sync
            and b"Repairing" not in err
        )
        held += ok
        figures.append(
            f"run {run + 1}: missing {missing}, orphaned {orphaned}, search answered in "
            f"{took:.1f}s {'while the sync ran' if answered_during_sync else 'AFTER the sync'}"
        )
        if run < runs - 1:
            shutil.rmtree(home, ignore_errors=True)
    print(f"concurrent sync+search: {runs} tried, {held} held")
    for line in figures:
        print(f"  {line}")
    return last_home


def bad_file_names(shared: Path) -> None:
    home = Path(tempfile.mkdtemp(prefix="notes-names-"))
    _warm_cache(home, shared)
    folder = home / "notes"
    folder.mkdir()
    (folder / "good.md").write_text("# Good\n\nThe quince jelly sets overnight.\n")
    fd = os.open(os.fsencode(folder) + b"/bad-\xff\xfe.md", os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, b"# Bad\n\nquince in a badly named file\n")
    os.close(fd)
    (folder / "two\nlines.md").write_text("# Split\n\nquince marmalade\n")
    (folder / "esc\x1b[31mred.md").write_text("# Escape\n\nquince paste\n")
    env = _env(home)

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "assistant", *args], env=env, capture_output=True
        )

    cases = {
        "add": run("notes", "add", str(folder), "--name", "mine").returncode == 0,
        "sync exits 0": run("notes", "sync", "--quiet").returncode == 0,
    }
    status = run("notes", "status").stdout.decode()
    cases["bad name listed"] = "bad-\\xff\\xfe.md: file name is not valid UTF-8" in status
    search = run("notes", "search", "quince", "-k", "5").stdout.decode()
    hits = [x for x in search.splitlines() if x[:3].strip().rstrip(".").isdigit()]
    cases["one line per hit"] = len(hits) == 3 and "\x1b" not in search
    held = sum(cases.values())
    print(f"bad file names: {len(cases)} tried, {held} held")
    for name, ok in cases.items():
        if not ok:
            print(f"  failed: {name}")
    shutil.rmtree(home, ignore_errors=True)


def make_bomb(path: Path, inflated_mb: int) -> None:
    paragraph = b"<w:p><w:r><w:t>boom</w:t></w:r></w:p>" * 1000
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("word/document.xml", "w", force_zip64=True) as member:
            member.write(b"<w:document><w:body>")
            for _ in range(inflated_mb * 1024 * 1024 // len(paragraph)):
                member.write(paragraph)
            member.write(b"</w:body></w:document>")


def zip_bomb(shared: Path) -> None:
    home = Path(tempfile.mkdtemp(prefix="notes-bomb-"))
    _warm_cache(home, shared)
    folder = home / "notes"
    folder.mkdir()
    bomb = folder / "bomb.docx"
    make_bomb(bomb, 1024)
    (folder / "good.md").write_text("# Good\n\nThe quince jelly sets overnight.\n")
    env = _env(home)
    loader = subprocess.run(
        [sys.executable, "-c",
         "import sys\nfrom pathlib import Path\n"
         "from assistant.notes.loaders import Skipped, load_document, read_bytes\n"
         "p = Path(sys.argv[1])\n"
         "try:\n    load_document(p, 'docx', read_bytes(p, 20 << 20)); print('parsed')\n"
         "except Skipped as why:\n    print('skipped', why)\n" + PEAK, str(bomb)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "assistant", "notes", "add", str(folder)], env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    sync = subprocess.run(
        [sys.executable, "-c",
         "from assistant.cli import main\ncode = main(['notes', 'sync', '--quiet'])\n"
         "print('exit', code)\n" + PEAK],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip

    def peak(out: str) -> int:
        return int(next((x.split()[1] for x in out.splitlines() if x.startswith("peak_mb")), -1))

    loader_peak, sync_peak = peak(loader.stdout), peak(sync.stdout)
    skipped = "skipped" in loader.stdout
    held = int(skipped and 0 < loader_peak < 200) + int("exit 0" in sync.stdout)
    print(f"zip bomb ({bomb.stat().st_size / 1024 / 1024:.1f} MB .docx inflating to 1 GB): "
          f"2 tried, {held} held")  # fmt: skip
    verdict = "refused" if skipped else "PARSED"
    print(f"  loader alone: {verdict}, peak {loader_peak} MB (aim < 200)")
    print(f"  whole `notes sync` (embedding model included): peak {sync_peak} MB")
    shutil.rmtree(home, ignore_errors=True)


def notes_cases(runs: int = 2) -> None:
    print(machine_line())
    from assistant.notes.embedder import SentenceEmbedder

    shared_root = Path(tempfile.mkdtemp(prefix="notes-export-"))
    embedder = SentenceEmbedder(cache_dir=shared_root)
    embedder.load()
    shared = shared_root / "embeddings"
    home = concurrent_sync_search(runs, shared)
    shutil.rmtree(home, ignore_errors=True)
    bad_file_names(shared)
    zip_bomb(shared)
    print(machine_line())
    shutil.rmtree(shared_root, ignore_errors=True)


if __name__ == "__main__":
    notes_cases(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
