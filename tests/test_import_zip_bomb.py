"""`history import` of a zip whose conversations.json inflates hugely is
refused from the archive's directory, before anything is inflated: one
sentence, exit 2, and the command's own memory peak (VmHWM) stays small
(issue 17, item 9). A real export in a zip is still imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

CHATGPT_EXPORT = Path(__file__).parent / "fixtures" / "chatgpt_conversations.json"

# Runs the real command in a fresh interpreter, then reports that process's
# own resident high-water mark: the peak of the import and nothing else.
PEAK = """
import sys
from assistant.cli import main
code = main(sys.argv[1:])
sys.stderr.flush()
with open("/proc/self/status") as fh:
    hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
print(f"PEAK {code} {hwm // 1024}", flush=True)
"""


def write_bomb(path: Path, inflated_mb: int) -> Path:
    """A zip whose conversations.json is '[' + ``inflated_mb`` MB of spaces + ']'."""
    block = b" " * (1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        with bomb.open("conversations.json", "w", force_zip64=True) as fh:
            fh.write(b"[")
            for _ in range(inflated_mb):
                fh.write(block)
            fh.write(b"]")
    return path


def import_with_peak(home: Path, archive: Path) -> tuple[int, int, str, str]:
    """Exit code, peak resident memory in MB, stderr, stdout of the import."""
    result = subprocess.run(
        [sys.executable, "-c", PEAK, "history", "import", str(archive)],
        env={**os.environ, "ASSISTANT_HOME": str(home)},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    *shown, last_line = result.stdout.strip().splitlines()
    last = last_line.split()
    assert last[0] == "PEAK", result.stdout + result.stderr
    return int(last[1]), int(last[2]), result.stderr, "\n".join(shown)


@pytest.mark.parametrize("inflated_mb", [1024, 200])
def test_a_zip_bomb_is_refused_before_it_is_inflated(isolated_home, tmp_path, inflated_mb):
    bomb = write_bomb(tmp_path / "export.zip", inflated_mb)
    assert bomb.stat().st_size < 2 * 2**20  # a small file...
    code, peak_mb, err, _ = import_with_peak(isolated_home, bomb)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "conversations.json" in lines[0] and f"{inflated_mb} MB" in lines[0]
    assert "nothing was imported" in lines[0], f"peak {peak_mb} MB"
    assert peak_mb < 250, f"peak {peak_mb} MB"  # ...that never becomes a large one


def test_a_real_export_in_a_zip_is_still_imported(isolated_home, tmp_path):
    export = tmp_path / "chatgpt.zip"
    conversations = json.loads(CHATGPT_EXPORT.read_text(encoding="utf-8"))
    with zipfile.ZipFile(export, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", json.dumps(conversations))
        archive.writestr("chat.html", "<html></html>")
    code, _, err, out = import_with_peak(isolated_home, export)
    assert code == 0, err
    assert "Imported" in out + err, out + err
