"""One writer of the notes index at a time, across processes.

The vector index is a file that a writer replaces whole (a new generation,
then the manifest). Two writers would each save their own in-memory copy and
the second would undo the first, so only a process holding this lock may
change the index: a sync, a repair, a rebuild, removing a collection.
Searches and ``notes status`` never take it: they read the last complete
generation on disk (and, in the process that syncs, the live index).

The lock is ``flock`` on a file in the index folder: the kernel releases it
when the holder exits, so a killed sync never leaves a stale lock behind.
Where ``fcntl`` does not exist (Windows) the lock is process-local only.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from assistant.errors import Cancelled

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "writer.lock"
POLL_SECONDS = 0.2


class WriterLock:
    """``flock`` on ``folder/writer.lock``; re-entrant within one process."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self._fd: int | None = None
        self._depth = 0
        self._local = threading.RLock()

    @property
    def held(self) -> bool:
        """True while this process holds the lock."""
        return self._fd is not None

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)

    def try_acquire(self) -> bool:
        """Take the lock if no other process holds it; never waits."""
        if not self._local.acquire(blocking=False):
            return False
        if self._fd is not None:
            self._depth += 1
            return True
        fd = self._open()
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                self._local.release()
                return False
        self._fd, self._depth = fd, 1
        return True

    def acquire(
        self,
        cancel: threading.Event | None = None,
        on_wait: Callable[[], None] | None = None,
    ) -> None:
        """Wait for the lock; ``on_wait`` is called once if we have to wait.
        Raises ``Cancelled`` when ``cancel`` is set while waiting."""
        told = False
        while not self.try_acquire():
            if not told and on_wait is not None:
                on_wait()
                told = True
            if cancel is not None and cancel.wait(POLL_SECONDS):
                raise Cancelled("waiting for the notes index was cancelled")
            if cancel is None:
                time.sleep(POLL_SECONDS)

    def release(self) -> None:
        if self._fd is None:
            return
        self._depth -= 1
        if self._depth == 0:
            fd, self._fd = self._fd, None
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._local.release()

    def busy_elsewhere(self) -> bool:
        """True when another process (or another thread here) holds the lock."""
        if self._fd is not None:
            return False
        if not self.try_acquire():
            return True
        self.release()
        return False
