"""The built-in tools: search_notes, read_file, list_folder, fetch_url,
run_command and now.

Reading tools see only the folders the user allowed: the notes collections'
folders and the configured ``tool_paths``; a path is resolved (symbolic
links followed) before it is checked, so a link cannot lead out. Everything
is capped: bytes read from a file or a page, entries listed, seconds a page
or a command may take, characters of output. ``run_command`` is the one
built-in tool that acts: it always asks first, shows the command, runs it in
its own process group and kills the group when it overruns or is stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.domain import ToolSpec
from assistant.errors import AssistantError
from assistant.tools.base import Tool, ToolContext, ToolFailed, ToolOutput

if TYPE_CHECKING:
    from assistant.notes.service import NotesService

FILE_BYTES = 256 * 1024  # read at most this much of a file
FILE_LINES = 400  # lines of a file shown by default
FOLDER_ENTRIES = 200
PAGE_BYTES = 1024 * 1024  # read at most this much of a page
COMMAND_OUTPUT_BYTES = 64 * 1024
SNIPPET_CHARS = 800


def _string(arguments: Mapping[str, Any], key: str, required: bool = True) -> str | None:
    value = arguments.get(key)
    if value is None or value == "":
        if required:
            raise ToolFailed(f"The argument {key} is missing.")
        return None
    if not isinstance(value, str | int | float):
        raise ToolFailed(f"The argument {key} must be text.")
    return str(value)


def _number(arguments: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = arguments.get(key, default)
    try:
        number = int(value if value is not None else default)
    except (TypeError, ValueError):
        raise ToolFailed(f"The argument {key} must be a whole number.") from None
    return max(low, min(high, number))


# ---------------------------------------------------------------- now
def _now(arguments: Mapping[str, Any], context: ToolContext) -> str:
    moment = datetime.now().astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z (UTC%z), %A")


# ------------------------------------------------------- search_notes
def _search_notes(notes: Callable[[], NotesService]) -> Callable[..., ToolOutput]:
    def run(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
        from assistant.notes.grounding import citation

        query = _string(arguments, "query")
        assert query is not None
        k = _number(arguments, "k", 5, 1, 20)
        collection = _string(arguments, "collection", required=False)
        hits = notes().search(query, k=k, collection=collection)
        if not hits:
            return ToolOutput(f"No passage of the notes matches “{query}”.")
        blocks: list[str] = []
        citations = []
        for n, hit in enumerate(hits, 1):
            cited = citation(n, hit)
            citations.append(cited)
            text = " ".join((hit.text or hit.snippet).split())
            if len(text) > SNIPPET_CHARS:
                text = text[:SNIPPET_CHARS] + " …"
            blocks.append(f"{cited.label}\n{text}")
        return ToolOutput("\n\n".join(blocks), tuple(citations))

    return run


# ------------------------------------------------- files and folders
class AllowedFolders:
    """The folders reading tools may see, read fresh at each call (a
    collection added while the app runs counts at once)."""

    def __init__(self, notes: Callable[[], NotesService] | None, extra: Sequence[Path]) -> None:
        self._notes = notes
        self._extra = [Path(p).expanduser() for p in extra]

    def roots(self) -> list[Path]:
        roots = list(self._extra)
        if self._notes is not None:
            try:
                roots += [Path(c.root) for c in self._notes().collections()]
            except AssistantError:
                pass
        resolved: list[Path] = []
        for root in roots:
            try:
                resolved.append(root.resolve(strict=True))
            except OSError:
                continue
        return list(dict.fromkeys(resolved))

    def resolve(self, raw: str) -> Path:
        roots = self.roots()
        if not roots:
            raise ToolFailed(
                "No folder is open to tools: add notes (assistant notes add FOLDER) or list "
                "folders in tool_paths in config.toml."
            )
        given = Path(raw).expanduser()
        candidates = [given] if given.is_absolute() else [root / given for root in roots]
        for candidate in candidates:
            try:
                real = candidate.resolve(strict=True)
            except (OSError, RuntimeError):
                continue
            if any(real == root or real.is_relative_to(root) for root in roots):
                return real
            raise ToolFailed(
                f"{raw} is outside the folders open to tools ({', '.join(map(str, roots))})."
            )
        raise ToolFailed(f"There is no {raw} in the folders open to tools.")


def _read_file(folders: AllowedFolders) -> Callable[..., str]:
    def run(arguments: Mapping[str, Any], context: ToolContext) -> str:
        raw = _string(arguments, "path")
        assert raw is not None
        path = folders.resolve(raw)
        if not path.is_file():
            raise ToolFailed(f"{raw} is not a file.")
        start = _number(arguments, "start_line", 1, 1, 10**9)
        count = _number(arguments, "lines", FILE_LINES, 1, 5000)
        try:
            size = path.stat().st_size
            with open(path, "rb") as fh:
                data = fh.read(FILE_BYTES)
        except OSError as exc:
            raise ToolFailed(f"{raw} could not be read: {exc.strerror or exc}.") from None
        if b"\x00" in data[:8192]:
            raise ToolFailed(f"{raw} is not a text file.")
        lines = data.decode("utf-8", "replace").splitlines()
        if size > FILE_BYTES and lines:
            lines.pop()  # the last line read may be cut in the middle
        chosen = lines[start - 1 : start - 1 + count]
        end = start + len(chosen) - 1
        header = f"{path} (lines {start}-{end}"
        header += (
            f" of the first {FILE_BYTES // 1024} KB)" if size > FILE_BYTES else f" of {len(lines)})"
        )
        body = "\n".join(f"{n:>5}  {line}" for n, line in enumerate(chosen, start))
        return f"{header}\n{body}" if chosen else f"{header}\n(no lines there)"

    return run


def _list_folder(folders: AllowedFolders) -> Callable[..., str]:
    def run(arguments: Mapping[str, Any], context: ToolContext) -> str:
        raw = _string(arguments, "path", required=False)
        if raw is None:
            roots = folders.roots()
            if not roots:
                folders.resolve(".")  # says what to do
            return "Folders open to tools:\n" + "\n".join(f"{r}/" for r in roots)
        path = folders.resolve(raw)
        if not path.is_dir():
            raise ToolFailed(f"{raw} is not a folder.")
        try:
            entries = sorted(path.iterdir(), key=lambda p: p.name)
        except OSError as exc:
            raise ToolFailed(f"{raw} could not be listed: {exc.strerror or exc}.") from None
        lines = [f"{path}/ ({len(entries)} entries)"]
        for entry in entries[:FOLDER_ENTRIES]:
            try:
                if entry.is_dir():
                    lines.append(f"{entry.name}/")
                else:
                    lines.append(f"{entry.name}  {entry.stat().st_size} bytes")
            except OSError:
                lines.append(f"{entry.name}  (unreadable)")
        if len(entries) > FOLDER_ENTRIES:
            lines.append(f"… and {len(entries) - FOLDER_ENTRIES} more")
        return "\n".join(lines)

    return run


# ------------------------------------------------------------ fetch_url
class _PageText(HTMLParser):
    """The visible text of a page: scripts, styles and markup dropped."""

    SKIP = {"script", "style", "noscript", "template", "svg", "head"}
    BREAK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "pre"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in self.SKIP:
            self._skip += 1
        elif tag in self.BREAK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self.SKIP and self._skip:
            self._skip -= 1
        elif tag in self.BREAK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if not self._skip:
            self.parts.append(data)

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).splitlines())
        return "\n".join(line for line in lines if line)


def _fetch_url(timeout: float) -> Callable[..., str]:
    def run(arguments: Mapping[str, Any], context: ToolContext) -> str:
        import httpx

        url = _string(arguments, "url")
        assert url is not None
        if not url.lower().startswith(("http://", "https://")):
            raise ToolFailed(f"Only http and https addresses can be fetched, not {url[:80]}.")
        deadline = time.monotonic() + timeout
        data = b""
        try:
            with httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=5) as client:
                with client.stream("GET", url, headers={"User-Agent": "assistant"}) as resp:
                    if resp.status_code >= 400:
                        raise ToolFailed(f"{url} answered {resp.status_code}.")
                    kind = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                    if kind and not (kind.startswith("text/") or "json" in kind or "xml" in kind):
                        raise ToolFailed(f"{url} is not a text page ({kind}).")
                    for chunk in resp.iter_bytes():
                        data += chunk
                        if context.cancel.is_set():
                            raise ToolFailed("Stopped by the user.")
                        if time.monotonic() > deadline:
                            raise ToolFailed(f"{url} took longer than {timeout:g} s.")
                        if len(data) >= PAGE_BYTES:
                            data = data[:PAGE_BYTES]
                            break
                    encoding = resp.encoding or "utf-8"
        except httpx.TimeoutException:
            raise ToolFailed(f"{url} did not answer within {timeout:g} s.") from None
        except httpx.HTTPError as exc:
            raise ToolFailed(f"{url} could not be fetched: {exc}.") from None
        text = data.decode(encoding, "replace")
        if "html" in kind or text.lstrip()[:15].lower().startswith(("<!doctype", "<html")):
            page = _PageText()
            page.feed(text)
            title = " ".join(page.title.split())
            text = (f"{title}\n\n" if title else "") + page.text()
        return f"{url}\n\n{text}"

    return run


# ---------------------------------------------------------- run_command
def _run_command(timeout: float) -> Callable[..., str]:
    def run(arguments: Mapping[str, Any], context: ToolContext) -> str:
        command = _string(arguments, "command")
        assert command is not None
        return run_shell(command, timeout, context.cancel)

    return run


def run_shell(command: str, timeout: float, cancel: threading.Event | None = None) -> str:
    """Run ``command`` in the user's shell, in its own process group: at most
    ``timeout`` seconds and ``COMMAND_OUTPUT_BYTES`` of output (stdout and
    stderr together); the group is killed when it overruns or is stopped."""
    try:
        proc = subprocess.Popen(
            command,
            shell=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise ToolFailed(f"The command could not start: {exc.strerror or exc}.") from None
    kept = bytearray()
    dropped = 0

    def read() -> None:
        nonlocal dropped
        assert proc.stdout is not None
        while block := os.read(proc.stdout.fileno(), 65536):
            room = COMMAND_OUTPUT_BYTES - len(kept)
            kept.extend(block[:room])
            dropped += max(0, len(block) - room)

    reader = threading.Thread(target=read, name="command-output", daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    ended: str | None = None
    while proc.poll() is None:
        if cancel is not None and cancel.is_set():
            ended = "stopped by the user"
        elif time.monotonic() > deadline:
            ended = f"stopped after {timeout:g} s"
        if ended:
            _kill_group(proc)
            break
        try:
            proc.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            pass
    proc.wait()
    reader.join(timeout=2)
    output = bytes(kept).decode("utf-8", "replace")
    if dropped:
        output += f"\n[… {dropped} more bytes of output not kept]"
    status = ended or f"exit code {proc.returncode}"
    return f"$ {command}\n({status})\n{output}".rstrip()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (OSError, AttributeError):
        proc.kill()


# ---------------------------------------------------------------- specs
def _spec(name: str, description: str, properties: dict[str, Any], required: list[str]) -> ToolSpec:
    return ToolSpec(
        name,
        description,
        {"type": "object", "properties": properties, "required": required},
    )


Remember = Callable[[str, "int | None", "int | None"], str]
"""Keep a memory (text, conversation, message); the sentence said back."""


def _remember(remember: Remember) -> Callable[..., str]:
    def run(arguments: Mapping[str, Any], context: ToolContext) -> str:
        text = _string(arguments, "text") or ""
        return remember(text, context.conversation_id, context.message_id)

    return run


def builtin_tools(
    notes: Callable[[], NotesService] | None,
    tool_paths: Sequence[Path] = (),
    timeout: float = 30.0,
    remember: Remember | None = None,
) -> list[Tool]:
    folders = AllowedFolders(notes, tool_paths)
    tools = [
        Tool(
            _spec(
                "search_notes",
                "Search the user's notes; returns numbered passages with file:lines to cite.",
                {
                    "query": {"type": "string", "description": "What to look for."},
                    "k": {"type": "integer", "description": "How many passages (1-20)."},
                    "collection": {"type": "string", "description": "Only this collection."},
                },
                ["query"],
            ),
            _search_notes(notes) if notes is not None else _no_notes,
        ),
        Tool(
            _spec(
                "read_file",
                "Read a text file in the folders open to tools, with line numbers.",
                {
                    "path": {"type": "string", "description": "The file (absolute or relative)."},
                    "start_line": {"type": "integer", "description": "First line (from 1)."},
                    "lines": {"type": "integer", "description": "How many lines."},
                },
                ["path"],
            ),
            _read_file(folders),
        ),
        Tool(
            _spec(
                "list_folder",
                "List a folder open to tools (no path: the folders open to tools).",
                {"path": {"type": "string", "description": "The folder."}},
                [],
            ),
            _list_folder(folders),
        ),
        Tool(
            _spec(
                "fetch_url",
                "Fetch a web page (http or https) and return its text.",
                {"url": {"type": "string", "description": "The address."}},
                ["url"],
            ),
            _fetch_url(timeout),
        ),
        Tool(
            _spec(
                "run_command",
                "Run a shell command on the user's computer (the user approves it first).",
                {"command": {"type": "string", "description": "The command line."}},
                ["command"],
            ),
            _run_command(timeout),
            read_only=False,
            asks_first=True,
        ),
        Tool(_spec("now", "The current date, time and time zone.", {}, []), _now),
    ]
    if remember is not None:
        tools.append(
            Tool(
                _spec(
                    "remember",
                    "Keep a short fact about the user for later conversations "
                    "(the user approves each one).",
                    {"text": {"type": "string", "description": "The fact, one sentence."}},
                    ["text"],
                ),
                _remember(remember),
                read_only=False,
                asks_first=True,
                always_asks=True,
            )
        )
    return tools


def _no_notes(arguments: Mapping[str, Any], context: ToolContext) -> str:
    raise ToolFailed("There are no notes to search.")
