"""Everything the CLI writes to the terminal, in one place.

Text from outside (model output, notes, stored messages) is shown with every
terminal control made visible (``textsafe.sanitize``); JSON is escaped so not
even a C1 control reaches a terminal that ``cat``s it. Errors are one
sentence; a crash writes its traceback to a log file and names it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

from assistant.textsafe import sanitize

if TYPE_CHECKING:
    from rich.progress import Progress

EXIT_OK = 0
EXIT_CRASH = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# JSON leaves these raw with ensure_ascii=False; a terminal obeys C1 controls.
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029]")


def _dup(fd: int) -> int | None:
    try:
        return os.dup(fd)
    except OSError:
        return None


# While llama-cpp-python loads a model (on a worker thread, as a one-shot
# command starts) it points file descriptors 1 and 2, and sys.stdout and
# sys.stderr, at /dev/null. What the CLI says meanwhile (an error sentence, a
# warning) goes to copies of the real ones taken here, at import.
_REAL_FDS = {1: _dup(1), 2: _dup(2)}
_real_streams: dict[int, IO[str]] = {}


def _stream(err: bool) -> IO[str]:
    stream = sys.stderr if err else sys.stdout
    fd = 2 if err else 1
    if getattr(stream, "name", None) != os.devnull or _REAL_FDS[fd] is None:
        return stream
    if fd not in _real_streams:
        _real_streams[fd] = os.fdopen(
            _REAL_FDS[fd] or fd, "w", encoding="utf-8", errors="replace", closefd=False
        )
    return _real_streams[fd]


def out(text: str = "", *, end: str = "\n", err: bool = False) -> None:
    """Print untrusted ``text`` with its terminal controls made visible."""
    stream = _stream(err)
    stream.write(sanitize(text) + end)
    stream.flush()


def say(text: str) -> None:
    """A message for the user on stderr (progress, notices, what was kept)."""
    out(text, err=True)


_warned: set[str] = set()


def warn(text: str) -> None:
    """A problem that does not stop the command, said once on stderr."""
    if text not in _warned:
        _warned.add(text)
        say(f"assistant: warning: {text}")


def already_warned(text: str) -> bool:
    return text in _warned


def forget_warnings() -> None:
    """A new command line: each warning may be said once again."""
    _warned.clear()


def stream_text(text: str) -> None:
    """A piece of a streamed answer on stdout, flushed at once."""
    stream = _stream(False)
    stream.write(sanitize(text))
    stream.flush()


def json_text(obj: Any, indent: int | None = 2) -> str:
    text = json.dumps(obj, ensure_ascii=False, default=str, indent=indent)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def print_json(obj: Any) -> None:
    stream = _stream(False)
    stream.write(json_text(obj) + "\n")
    stream.flush()


def print_json_line(obj: Any) -> None:
    stream = _stream(False)
    stream.write(json_text(obj, indent=None) + "\n")
    stream.flush()


def read_stdin_if_piped() -> str:
    from assistant.errors import UsageError

    if sys.stdin is None or sys.stdin.isatty():
        return ""
    try:
        return sys.stdin.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"Could not read standard input: {exc}.") from None


def confirm(question: str, assume_yes: bool) -> bool:
    """Ask a yes/no question on the terminal; without one, only ``--yes`` agrees."""
    if assume_yes:
        return True
    if sys.stdin is None or not sys.stdin.isatty():
        return False
    sys.stderr.write(sanitize(question) + " [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def ask_choice(question: str, choices: dict[str, str], cancel: threading.Event) -> str | None:
    """Ask on the terminal for one of ``choices`` (key -> value; an empty
    answer is the last one, which should be the safest); None when there
    is no terminal or ``cancel`` is set while waiting (the first Ctrl-C
    ends the wait)."""
    import select

    if sys.stdin is None or not sys.stdin.isatty():
        return None
    sys.stderr.write(sanitize(question))
    sys.stderr.flush()
    while not cancel.is_set():
        try:
            ready, _, _ = select.select([sys.stdin], [], [], 0.1)
        except (OSError, ValueError):
            return None
        if ready:
            answer = sys.stdin.readline().strip().lower()
            keys = list(choices)
            if not answer:
                return choices[keys[-1]]
            for key in keys:
                if answer == key or choices[key].startswith(answer):
                    return choices[key]
            sys.stderr.write(f"Answer {', '.join(keys)}: ")
            sys.stderr.flush()
    sys.stderr.write("\n")
    return None


class CancelOnSigint:
    """First Ctrl-C sets a cancel flag (the job stops and keeps what it has);
    a second one raises KeyboardInterrupt as usual."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._old: Any = None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()

    def __enter__(self) -> threading.Event:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self.event

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


@contextmanager
def progress_bar(enabled: bool = True, *, transfer: bool = False) -> Iterator[Progress | None]:
    """A ``rich`` progress display on stderr (None when disabled or not a
    terminal): a bar, done/total, speed and time left."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn()]
    if transfer:
        columns += [DownloadColumn(), TransferSpeedColumn()]
    else:
        columns += [MofNCompleteColumn(), TextColumn("{task.fields[rate]}")]
    columns.append(TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        yield bar


def silence_stdout() -> None:
    """The reader of stdout went away (``| head``): drop the rest quietly."""

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def write_safely(stream: IO[str], body: str) -> None:
    """Redirected output gets the user's text byte for byte; a terminal gets
    it with its controls made visible."""
    if stream.isatty():
        stream.write(sanitize(body))
    else:
        stream.write(body)
    stream.flush()


@contextmanager
def enter_stays_enter(stream: IO[str] | None = None) -> Iterator[None]:
    """Keep an Enter typed while the UI starts an Enter.

    Until Textual puts the terminal in raw mode, the terminal driver turns
    a typed Enter (CR) into a new line (LF), which the message box takes for
    Ctrl+J: "hi" and Enter typed ahead stayed in the box, unsent. Turning
    that translation (ICRNL) off as soon as the UI is going to open keeps
    Enter an Enter (in canonical mode it is not the end of a line, so the
    keys simply wait for the UI, not echoed: the box shows them); the
    terminal's settings are put back when the UI ends. Nothing changes when
    stdin is not a terminal."""
    stream = stream or sys.stdin
    try:
        import termios

        fd = stream.fileno()
        saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    except (ImportError, OSError, ValueError, AttributeError):
        saved = None
    if saved is None:
        yield
        return
    changed = list(saved)
    changed[0] = saved[0] & ~termios.ICRNL  # the input flags
    changed[3] = saved[3] & ~termios.ECHO  # the UI shows them, in the box
    termios.tcsetattr(fd, termios.TCSANOW, changed)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)
