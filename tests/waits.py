"""Waiting for another process's commit without polling: the database's
folder is watched (inotify through watchfiles) and the row looked for after
each change to its files."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import watchfiles


def has_row(database: Path, sql: str, params: tuple[Any, ...] = ()) -> bool:
    try:
        con = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=0.5)
        try:
            return con.execute(sql, params).fetchone() is not None
        finally:
            con.close()
    except sqlite3.OperationalError:  # the database is being made
        return False


def wait_for_row(
    database: Path, sql: str, proc: subprocess.Popen[Any], params: tuple[Any, ...] = ()
) -> None:
    """Until ``sql`` finds a row in ``database`` (written by ``proc``), or
    ``proc`` ended without it. Each commit changes the database's files,
    which wakes the watch at once (a 1 ms step); the watch's timeout only
    notices a process that died without writing."""
    if has_row(database, sql, params):
        return
    for _changes in watchfiles.watch(
        database.parent,
        step=1,
        debounce=50,
        rust_timeout=1000,
        yield_on_timeout=True,
        recursive=False,
        raise_interrupt=False,
    ):
        if has_row(database, sql, params):
            return
        if proc.poll() is not None:
            break
    if has_row(database, sql, params):
        return
    raise AssertionError(f"{sql!r} found nothing: {proc.communicate()}")
