"""Open the SQLite database safely.

WAL mode, foreign keys, a busy timeout and ``secure_delete`` are set on every
connection. Transactions start with ``BEGIN IMMEDIATE``: a writer takes the
lock up front and waits out the busy timeout, instead of failing with
"database is locked" when a read transaction tries to become a write. The same
hook makes SQLite DDL transactional, so each migration is all-or-nothing.
Sessions from ``Database.reader()`` only read: they start a plain (deferred)
transaction, a snapshot that never waits for a writer, so a search is not held
up while a sync commits.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from assistant.errors import StoreError
from assistant.paths import private_dir, private_file

BUSY_TIMEOUT_MS = 10_000
READ_ONLY = "assistant_read_only"  # execution option of reader() sessions

DatabaseError = StoreError  # the name the notes code and older tests use


def make_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """An open, migrated database: an engine plus a session factory."""

    def __init__(self, path: Path, *, migrate: bool = True) -> None:
        self.path = path
        try:
            private_dir(path.parent)
            private_file(path)
        except OSError as exc:
            raise StoreError(f"Cannot create the database at {path}: {exc.strerror}.") from None
        self.engine = make_engine(f"sqlite:///{path}")
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.readers = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )
        if migrate:
            self.migrate()
        self._secure_sidecars()

    def migrate(self) -> bool:
        from sqlalchemy.exc import DatabaseError as SADatabaseError

        from assistant.store.migrate import upgrade

        try:
            return upgrade(self.engine)
        except SADatabaseError as exc:
            raise StoreError(
                f"The database at {self.path} could not be opened or upgraded ({exc.orig})."
            ) from None

    def _secure_sidecars(self) -> None:
        for suffix in ("-wal", "-shm"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                os.chmod(side, 0o600)

    def session(self) -> Session:
        """A session for writes: its transaction starts with BEGIN IMMEDIATE."""
        return self.sessions()

    def reader(self) -> Session:
        """A session for reads only: a deferred transaction, a snapshot that
        never waits for a writer (a write in it may fail while another
        instance writes)."""
        return self.readers()

    def close(self) -> None:
        self.engine.dispose()
