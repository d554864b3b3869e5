"""The built-in tools, for real: files only inside allowed folders, pages
from a loopback server, commands in a process group with caps."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from assistant.tools.base import ToolContext, ToolFailed
from assistant.tools.builtin import (
    COMMAND_OUTPUT_BYTES,
    FILE_BYTES,
    FOLDER_ENTRIES,
    builtin_tools,
)
from tests.standins import BadServer, FileServer


def tools(roots=(), timeout=5.0):
    return {t.name: t for t in builtin_tools(None, list(roots), timeout)}


def call(tool, **arguments):
    out = tool.run(arguments, ToolContext())
    return out if isinstance(out, str) else out.text


def test_which_tools_ask_first():
    found = tools()
    assert sorted(found) == [
        "fetch_url", "list_folder", "now", "read_file", "run_command", "search_notes"
    ]  # fmt: skip
    assert [n for n, t in found.items() if t.asks_first] == ["run_command"]
    assert all(t.source == "built-in" for t in found.values())


def test_read_file_only_inside_allowed_folders(tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "a.txt").write_text("one\ntwo\nthree\n", encoding="utf-8")
    secret = tmp_path / "secret.txt"
    secret.write_text("password", encoding="utf-8")
    (allowed / "link.txt").symlink_to(secret)
    read = tools([allowed])["read_file"]
    text = call(read, path="a.txt", start_line=2)
    assert text.splitlines()[1:] == ["    2  two", "    3  three"]
    assert call(read, path=str(allowed / "a.txt")).endswith("3  three")
    for bad in (str(secret), "../secret.txt", "link.txt"):
        with pytest.raises(ToolFailed, match="outside the folders open to tools"):
            call(read, path=bad)
    with pytest.raises(ToolFailed, match="There is no"):
        call(read, path="missing.txt")
    with pytest.raises(ToolFailed, match="No folder is open to tools"):
        call(tools()["read_file"], path="a.txt")


def test_read_file_caps_size_and_refuses_binary(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("".join(f"line {n}\n" for n in range(100_000)), encoding="utf-8")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01" * 100)
    read = tools([tmp_path])["read_file"]
    text = call(read, path="big.txt", lines=5000)
    assert f"of the first {FILE_BYTES // 1024} KB" in text
    assert len(text.splitlines()) == 5001
    with pytest.raises(ToolFailed, match="not a text file"):
        call(read, path="blob.bin")


def test_list_folder_caps_entries(tmp_path):
    for n in range(FOLDER_ENTRIES + 5):
        (tmp_path / f"f{n:04}.txt").write_text("x", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    listing = tools([tmp_path])["list_folder"]
    text = call(listing, path=str(tmp_path))
    assert "f0000.txt  1 bytes" in text and "… and 6 more" in text
    assert f"{tmp_path.resolve()}/" in call(listing)


def test_fetch_url_returns_the_text_of_a_page():
    page = (
        b"<html><head><title>Backups</title><style>p{}</style></head><body>"
        b"<h1>Schedule</h1><p>Nightly at 02:00.</p><script>alert(1)</script></body></html>"
    )
    types = {"/page": "text/html; charset=utf-8"}
    with FileServer({"/page": page, "/bin": b"\x00" * 10}, {}, types=types) as server:
        fetch = tools()["fetch_url"]
        text = call(fetch, url=server.url("/page"))
        assert "Backups" in text and "Schedule\nNightly at 02:00." in text
        assert "alert" not in text and "p{}" not in text
        with pytest.raises(ToolFailed, match="not a text page"):
            call(fetch, url=server.url("/bin"))
        with pytest.raises(ToolFailed, match="answered 404"):
            call(fetch, url=server.url("/missing"))
    with pytest.raises(ToolFailed, match="Only http and https"):
        call(fetch, url="file:///etc/passwd")


def test_fetch_url_is_time_capped():
    with BadServer("silent") as server:
        fetch = tools(timeout=1.0)["fetch_url"]
        with pytest.raises(ToolFailed, match="did not answer within 1 s"):
            call(fetch, url=server.base_url + "/x")


def test_run_command_output_and_exit_code(tmp_path):
    run = tools()["run_command"]
    text = call(run, command="echo hello; echo oops >&2; exit 3")
    assert text.splitlines() == [
        "$ echo hello; echo oops >&2; exit 3",
        "(exit code 3)",
        "hello",
        "oops",
    ]
    text = call(run, command=f"head -c {COMMAND_OUTPUT_BYTES * 2} /dev/zero | tr '\\0' a")
    assert f"{COMMAND_OUTPUT_BYTES} more bytes of output not kept" in text


def test_run_command_is_killed_with_its_children_when_it_overruns(tmp_path):
    marker = tmp_path / "child.pid"
    run = tools(timeout=1.0)["run_command"]
    text = call(run, command=f"sleep 60 & echo $! > {marker}; wait")
    assert "(stopped after 1 s)" in text
    child = int(marker.read_text())
    import psutil

    try:
        psutil.Process(child).wait(timeout=5)  # killed with its group: it ends, nothing to wait out
    except psutil.NoSuchProcess:
        pass
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_run_command_stops_on_cancel():
    run = tools(timeout=60)["run_command"]
    cancel = threading.Event()
    context = ToolContext(cancel)
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    text = run.run({"command": "sleep 30"}, context)
    assert "(stopped by the user)" in str(text)


def test_now_names_the_date_and_zone():
    from datetime import datetime

    text = call(tools()["now"])
    assert text.startswith(datetime.now().astimezone().strftime("%Y-%m-%d"))
    assert "UTC" in text


def test_search_notes_gives_the_same_citations_as_notes(tmp_path):
    from assistant.notes.grounding import citation

    class Notes:
        def __init__(self, hits):
            self.hits = hits

        def search(self, query, k=5, collection=None):
            return self.hits

        def collections(self):
            return []

    from assistant.notes.retriever import Hit

    hit = Hit(
        chunk_id=3, collection="notes", path="homelab.md", abs_path=str(tmp_path / "homelab.md"),
        start_line=4, end_line=9, page=None, heading="Backups", snippet="Nightly",
        text="Backups run nightly at 02:00.",
    )  # fmt: skip
    search = {t.name: t for t in builtin_tools(lambda: Notes([hit]))}["search_notes"]
    out = search.run({"query": "backups"}, ToolContext())
    assert out.citations == (citation(1, hit),)
    assert out.text == "[1] notes/homelab.md:4-9 — Backups\nBackups run nightly at 02:00."
    empty = {t.name: t for t in builtin_tools(lambda: Notes([]))}["search_notes"]
    assert "No passage" in empty.run({"query": "x"}, ToolContext()).text


def test_paths_given_as_folders_that_do_not_exist_are_ignored(tmp_path):
    read = tools([tmp_path / "gone", Path(tmp_path)])["read_file"]
    (tmp_path / "b.txt").write_text("b", encoding="utf-8")
    assert call(read, path="b.txt").endswith("1  b")
