"""A context that cannot fit is refused before loading, with the fit sentence
(what would fit), exit 2: never an OOM kill, never a sentence that blames the
model file (issue 17, item 3). The limits are real: the command runs under
``ulimit -v`` (RLIMIT_AS, also a safety net: the machine is shared), and the
cgroup reader is given a real cgroup file tree."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.llm import fit

SAFETY_NET = 8 * 2**30  # address space for the command; an attempt at 22 TB fails, not the box


def limited(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def ask_limited(home: Path, *args: str, limit: int = SAFETY_NET) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "assistant", "ask", "--max-tokens", "4", *args],
        env={**os.environ, "ASSISTANT_HOME": str(home)},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        preexec_fn=limited(limit),
    )


@pytest.mark.parametrize("n_ctx", ["99999999999", "4000000000"])
def test_a_context_that_cannot_fit_is_refused_before_loading(home_with_model, n_ctx):
    result = ask_limited(home_with_model, "--n-ctx", n_ctx, "Hello")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("assistant: Not loaded: gemma-3-270m-q4_k_m.gguf needs about")
    assert f"at a context of {n_ctx} tokens" in lines[0]
    assert "would fit (lower n_ctx = 32768)" in lines[0]
    assert "damaged" not in result.stderr and "truncated" not in result.stderr
    assert result.stdout == ""


def test_a_fitting_context_still_answers_under_the_same_limit(home_with_model):
    result = ask_limited(home_with_model, "--n-ctx", "2048", "--threads", "1", "Hello")
    assert result.returncode == 0, result.stderr
    assert "Not loaded" not in result.stderr


def test_free_memory_counts_the_address_space_left_under_ulimit_v():
    code = (
        "import resource, sys\n"
        "from assistant.llm import fit\n"
        "resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))\n"
        "print(fit.free_memory().ram)\n"
    )
    import psutil

    limit = 6 * 2**30
    result = subprocess.run(
        [sys.executable, "-c", code, str(limit)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    ram = int(result.stdout)
    assert 0 < ram < limit
    assert ram <= psutil.virtual_memory().available


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="ascii")


def test_cgroup_v2_room_is_the_limit_less_what_the_group_uses(tmp_path):
    root = tmp_path / "sys-fs-cgroup"
    membership = tmp_path / "cgroup"
    write(membership, "0::/user.slice/app.scope\n")
    group = root / "user.slice" / "app.scope"
    write(group / "memory.max", "2147483648\n")
    write(group / "memory.current", "1073741824\n")
    write(group / "memory.stat", "anon 900000000\ninactive_file 100000000\nactive_file 5\n")
    assert fit.cgroup_room(root, membership) == 2147483648 - 1073741824 + 100000000
    write(group / "memory.max", "max\n")
    assert fit.cgroup_room(root, membership) is None  # no limit at that level, none above


def test_cgroup_v1_room_and_a_container_sees_its_group_at_the_root(tmp_path):
    root = tmp_path / "sys-fs-cgroup"
    membership = tmp_path / "cgroup"
    write(membership, "4:memory:/docker/abc\n1:cpu:/\n0::/\n")
    mount = root / "memory"  # inside the container: its own group is the mount's root
    write(mount / "memory.limit_in_bytes", str(4 * 2**30))
    write(mount / "memory.usage_in_bytes", str(3 * 2**30))
    write(mount / "memory.stat", "cache 5\ntotal_inactive_file 1048576\n")
    assert fit.cgroup_room(root, membership) == 2**30 + 1048576
    write(mount / "memory.limit_in_bytes", "9223372036854771712")  # v1's "unlimited"
    assert fit.cgroup_room(root, membership) is None
