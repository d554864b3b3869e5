"""Open the SQLite database safely.

WAL mode, foreign keys, a busy timeout and ``secure_delete`` are set on every
connection. Transactions start with ``BEGIN IMMEDIATE``: a writer takes the
lock up front and waits out the busy timeout, instead of failing with
"database is locked" when a read transaction tries to become a write. The same
hook makes SQLite DDL transactional, so each migration is all-or-nothing.
Sessions from ``Database.reader()`` only read: they start a plain (deferred)
transaction, a snapshot that never waits for a writer, so a search is not held
up while a sync commits.

Faults of the file itself are sentences, never SQLAlchemy's text: a full disk,
a read-only file or folder, damage, an I/O error (``_store_error``, on every
statement through the engine's ``handle_error`` hook). Two states let the
read-only commands keep working while writes are refused with a sentence:

- ``read_only``: the data folder (or the file) cannot be written; the file is
  opened read-only (``mode=ro``, or ``immutable=1`` on a read-only file system
  where SQLite cannot create its shared-memory file).
- ``damage``: ``PRAGMA quick_check`` found a problem. The check runs at open
  only when the main file changed (inode, size, modification time) since the
  last check that passed, whose fingerprint is kept beside the database in
  ``assistant.db-checked``. In WAL mode the main file changes only at a
  checkpoint, so most starts cost one ``stat`` (about 1 ms of checking per
  MB when it does run).
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from assistant.errors import DatabaseDamaged, StoreError
from assistant.paths import private_dir, private_file

BUSY_TIMEOUT_MS = 10_000
READ_ONLY = "assistant_read_only"  # execution option of reader() sessions
CHECK_SUFFIX = "-checked"  # beside the database: the fingerprint of the last good check

DatabaseError = StoreError  # the name the notes code and older tests use

# SQLite's primary result codes for faults of the file (not of the statement)
_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT = 3, 8, 10, 11
_SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 13, 14, 26


def damage_sentence(path: Path, detail: str) -> str:
    detail = " ".join(detail.split())[:160].rstrip(".")
    return (
        f"The database at {path} is damaged ({detail}); nothing will be saved to it until it is "
        f"repaired: keep a copy, then rebuild it with `sqlite3 {path} .recover | sqlite3 NEW.db` "
        "and put NEW.db in its place, or move it aside to start a new one."
    )


def read_only_sentence(path: Path, why: str) -> str:
    return (
        f"Nothing can be saved: {path} is read-only ({why}); make it writable or set "
        "ASSISTANT_HOME to a writable folder."
    )


def _store_error(exc: BaseException, path: Path) -> StoreError | None:
    """A sentence for a fault of the database file, or None for anything else."""
    from assistant.crashlog import describe_os_error

    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(exc, sqlite3.Error) or code is None:
        return None
    primary = code & 0xFF
    if primary == _SQLITE_FULL:
        return StoreError(describe_os_error(OSError(errno.ENOSPC, "full", str(path))))
    if primary in (_SQLITE_READONLY, _SQLITE_PERM):
        return StoreError(read_only_sentence(path, "SQLite may not write to it"))
    if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        damaged = DatabaseDamaged(
            f"Could not read {path}: the file is damaged ({exc}); `assistant doctor` says "
            "what to do."
        )
        damaged.detail = str(exc)
        return damaged
    if primary == _SQLITE_IOERR and disk_full(path):
        return StoreError(describe_os_error(OSError(errno.ENOSPC, "full", str(path))))
    if primary == _SQLITE_IOERR:
        return StoreError(
            f"Could not use {path}: the disk reported an input/output error ({exc}); check the "
            "disk and free space, then run `assistant doctor`."
        )
    if primary == _SQLITE_CANTOPEN:
        return StoreError(
            f"Could not open the database at {path} ({exc}); check that its folder exists and "
            "that you may write to it, or set ASSISTANT_HOME to a writable folder."
        )
    return None


def disk_full(path: Path) -> bool:
    """True when the file system holding ``path`` has (next to) no room left:
    SQLite reports a full disk as an I/O error when it cannot even size its
    shared-memory file."""
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024


def make_engine(url: str, path: Path | None = None, *, read_only: bool = False) -> Engine:
    if read_only and path is not None:
        from sqlalchemy.pool import QueuePool

        engine = create_engine(
            "sqlite://", creator=lambda: _connect_read_only(path), poolclass=QueuePool
        )
    else:
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        # the words of a message as the history index keeps them (migration 0010)
        dbapi_conn.create_function(SEGMENT_FUNCTION, 1, _segment, deterministic=True)
        cur = dbapi_conn.cursor()
        if not read_only:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA secure_delete=ON")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if read_only or conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    if path is not None:

        @event.listens_for(engine, "handle_error")
        def _on_error(context: Any) -> StoreError | None:
            return _store_error(context.original_exception, path)

    return engine


SEGMENT_FUNCTION = "assistant_segment"


def _segment(text: str | None) -> str | None:
    """Chinese words set apart for the history's full-text index."""
    from assistant.language import segment_han

    return segment_han(text, index=True) if text else text


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection; ``immutable`` when SQLite cannot even create its
    shared-memory file (a read-only file system): nothing can change the file."""
    uri = f"file:{quote(str(path))}?mode=ro"
    options: dict[str, Any] = {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    try:
        conn = sqlite3.connect(uri, uri=True, **options)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        return sqlite3.connect(uri + "&immutable=1", uri=True, **options)


def _fingerprint(path: Path) -> str | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return f"{st.st_ino} {st.st_size} {st.st_mtime_ns}"


class Database:
    """An open, migrated database: an engine plus a session factory."""

    def __init__(self, path: Path, *, migrate: bool = True, defer_check: bool = False) -> None:
        """``defer_check``: when the schema needs no upgrade, leave the
        integrity check to ``check_deferred`` (a UI draws its history first;
        on a large database the check takes a few hundred ms after every
        session that wrote to it)."""
        self.path = path
        self.read_only: str | None = None  # why writes are refused, when the file can't be written
        self.damage: str | None = None  # what quick_check found, when the file is damaged
        self._watcher: sqlite3.Connection | None = None  # for data_version() only
        self._watch_lock = threading.Lock()
        try:
            private_dir(path.parent)
            private_file(path)
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM) or not _readable(path):
                from assistant.crashlog import describe_os_error

                raise StoreError(describe_os_error(exc)) from None
            why = "a read-only file system" if exc.errno == errno.EROFS else "permission denied"
            self.read_only = read_only_sentence(path.parent, why)
        self._open_engine()
        self.check_pending = defer_check and self._schema_at_head()
        try:
            if not self.check_pending:
                self.damage = self.check()
        except StoreError:
            if self.read_only is not None or not disk_full(path):
                raise
            # A full disk: SQLite cannot even make its shared-memory file;
            # reading still works on a read-only connection.
            from assistant.crashlog import describe_os_error

            self.engine.dispose()
            full = describe_os_error(OSError(errno.ENOSPC, "full", str(path)))
            self.read_only = f"Nothing can be saved: {full[0].lower()}{full[1:]}"
            self._open_engine()
            self.damage = self.check()
        if migrate and self.damage is None:
            if self.read_only is None:
                self.migrate()
            else:
                self._check_schema_read_only()
        if self.read_only is None:
            self._secure_sidecars()

    def _open_engine(self) -> None:
        self.engine = make_engine(
            f"sqlite:///{self.path}", self.path, read_only=self.read_only is not None
        )
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.readers = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )

    @property
    def writable(self) -> bool:
        return self.read_only is None and self.damage is None

    @property
    def check_stamp(self) -> Path:
        return self.path.with_name(self.path.name + CHECK_SUFFIX)

    def check(self, *, force: bool = False) -> str | None:
        """``PRAGMA quick_check`` when the file changed since the last check
        that passed (or with ``force``); the damage sentence, or None."""
        fingerprint = _fingerprint(self.path)
        if not force and fingerprint is not None:
            try:
                if self.check_stamp.read_text(encoding="ascii").strip() == fingerprint:
                    return None
            except (OSError, UnicodeDecodeError):
                pass
        from sqlalchemy import text

        try:
            with self.engine.connect() as conn:
                rows = [r[0] for r in conn.execute(text("PRAGMA quick_check(3)"))]
        except DatabaseDamaged as exc:  # too damaged to even run the check
            rows = [exc.detail]
        if rows == ["ok"]:
            if fingerprint is not None and self.read_only is None:
                try:
                    from assistant.fileio import atomic_write_text

                    atomic_write_text(self.check_stamp, fingerprint + "\n", mode=0o600)
                except OSError:
                    pass  # then it is checked again next time
            return None
        if self.read_only is None:
            try:
                self.check_stamp.unlink(missing_ok=True)
            except OSError:
                pass
        lines = [line for r in rows for line in str(r).splitlines()]
        problems = [line for line in lines if line and not line.startswith("*** in database")]
        return damage_sentence(self.path, (problems or [str(rows[0])])[0])

    def _schema_at_head(self) -> bool:
        from assistant.store.migrate import current_revision, head_revision

        try:
            return current_revision(self.engine) == head_revision()
        except StoreError:  # damaged or full: the check, now, says which
            return False

    def check_deferred(self) -> str | None:
        """Run the check ``defer_check`` put off (a ``stat`` when the file did
        not change); the sentence of what it found, or None."""
        if not self.check_pending:
            return self.damage
        self.check_pending = False
        try:
            self.damage = self.check()
        except StoreError as exc:  # a full disk, an I/O error: writes will say it too
            return str(exc)
        return self.damage

    def _check_schema_read_only(self) -> None:
        from assistant.store.migrate import current_revision, head_revision

        if current_revision(self.engine) != head_revision():
            raise StoreError(
                f"The database at {self.path} needs an upgrade that cannot be written: "
                f"{self.read_only}"
            )

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
        """A session for writes: its transaction starts with BEGIN IMMEDIATE.
        A read-only or damaged database refuses it with a sentence."""
        if self.read_only is not None:
            raise StoreError(self.read_only)
        if self.damage is not None:
            raise StoreError(
                f"Nothing was saved: the database at {self.path} is damaged "
                "(`assistant doctor` says what to do)."
            )
        return self.sessions()

    def reader(self) -> Session:
        """A session for reads only: a deferred transaction, a snapshot that
        never waits for a writer (a write in it may fail while another
        instance writes)."""
        return self.readers()

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version`` on a connection kept for it: a
        new number after another connection (another process, or a session
        of this one) commits. Cheap enough to ask every second or two: in WAL
        mode it reads the shared-memory index, not the file."""
        with self._watch_lock:
            if self._watcher is None:
                uri = f"file:{quote(str(self.path))}?mode=ro"
                self._watcher = sqlite3.connect(
                    uri, uri=True, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
                )
            row = self._watcher.execute("PRAGMA data_version").fetchone()
            return int(row[0])

    def close(self) -> None:
        with self._watch_lock:
            if self._watcher is not None:
                self._watcher.close()
                self._watcher = None
        self.engine.dispose()


def _readable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.R_OK)
