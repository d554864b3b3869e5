"""Open the SQLite database safely.

WAL mode, foreign keys, a busy timeout and ``secure_delete`` are set on every
connection. Transactions start with ``BEGIN IMMEDIATE``: a writer takes the
lock up front and waits out the busy timeout, instead of failing with
"database is locked" when a read transaction tries to become a write. The same
hook makes SQLite DDL transactional, so each migration is all-or-nothing.
Sessions from ``Database.reader()`` only read: they start a plain (deferred)
transaction, a snapshot that never waits for a writer, so a search is not held
up while a sync commits. Opening the database reads the same way: the
integrity check, the schema revision and the leftover replies are looked at
in snapshots, and the write lock is taken only when something must change (an
upgrade, a repair), so a read command answers while another process holds a
long write transaction (an import, a sync).

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

The WAL and shared-memory files (``-wal``, ``-shm``) are part of the database
while a connection is open. Deleted under it (a cleanup script, a sync tool),
the connection goes on reading and writing files that no longer have a name,
and a new connection cannot read the database at all. A command that ends
without closing its connections (``assistant ask`` exits at once) then loses
everything written since the last checkpoint. So each connection remembers
the inodes of the two files when it opens, and each time one is taken from
the pool they are compared with the files now at those names (two ``stat``
calls, ``FilesWatch``). When they differ:

- if no other process has the database open (no lock on its inode in
  ``/proc/locks``), nothing was made in place of the deleted files and the
  main file is as this process last saw it, every connection of this process
  is closed (the last one to close checkpoints the deleted journal into the
  main file, as SQLite does when the last connection closes) and the pool
  opens a fresh one: nothing is lost, the statement goes on, the ids written
  before stay valid, and ``Database.reopened`` counts it for a warning;
- otherwise closing could copy stale pages over another process's work, and
  a fresh connection cannot work while the deleted files stay attached: the
  connections are kept, never closed, for reads (this process's own view),
  and every write is refused with a sentence (``files_lost``); the chat
  service keeps the reply in a file instead.
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

from assistant.errors import DatabaseDamaged, DatabaseFilesLost, StoreError
from assistant.paths import private_dir, private_file

BUSY_TIMEOUT_MS = 10_000
READ_ONLY = "assistant_read_only"  # execution option of reader() sessions
BUSY_WAIT = "assistant_busy_ms"  # execution option: wait at most this long for the write lock
SIDECARS = "assistant_sidecars"  # pool record info: inodes of the -wal and -shm files when opened
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


def sidecar_identity(path: Path) -> tuple[int, int] | None:
    """(inode of ``-wal``, inode of ``-shm``), or None when either is missing."""
    try:
        return (
            os.stat(f"{path}-wal").st_ino,
            os.stat(f"{path}-shm").st_ino,
        )
    except OSError:
        return None


def files_lost_sentence(path: Path) -> str:
    return (
        f"{path.name}-wal and {path.name}-shm were deleted while assistant had the database "
        f"open (never delete them while assistant runs)"
    )


def files_lost_for_good(path: Path) -> str:
    return (
        f"{files_lost_sentence(path)}, and another process had it open too, so nothing more "
        "can be saved to it now: close every assistant, then start again."
    )


def _lockers(path: Path) -> set[int] | None:
    """Processes holding a POSIX lock on ``path`` (SQLite locks the file of
    every open connection), from ``/proc/locks``; None when unknown. The
    file itself is not opened: closing any descriptor of it would drop this
    process's own SQLite locks."""
    try:
        st = path.stat()
        lines = Path("/proc/locks").read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    pids: set[int] = set()
    for line in lines:
        fields = line.split()
        if "->" in fields:  # a waiter, shown under the lock it waits for
            fields.remove("->")
        if len(fields) < 6 or fields[1] not in ("POSIX", "OFDLCK"):
            continue
        try:
            major, minor, inode = fields[5].split(":")
            if int(inode) == st.st_ino and os.makedev(int(major, 16), int(minor, 16)) == st.st_dev:
                pids.add(int(fields[4]))
        except ValueError:
            continue
    return pids


class FilesWatch:
    """The -wal and -shm files an engine's connections hold, checked each
    time a connection is taken from the pool (see the module)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pool: Any = None  # the engine's pool, closed when the files are lost
        self.saves = 0  # times what was written was saved into the main file
        self.reads_only = False  # lost and not saved: reads go on, writes are refused
        self.main_seen: str | None = None  # the main file's fingerprint at the last checkout

    def opened(self, record: Any) -> None:
        record.info[SIDECARS] = sidecar_identity(self.path)  # None: noted at the next use

    def check(self, record: Any) -> None:
        if self.reads_only:
            return
        now = sidecar_identity(self.path)
        known = record.info.get(SIDECARS)
        if known is None:
            record.info[SIDECARS] = known = now
        if now == known:
            self.main_seen = _fingerprint(self.path)
            return
        # The files behind this connection are not the ones at their names.
        if not self.alone_and_unchanged():
            self.reads_only = True  # closing could copy stale pages over another's work
            return
        # Close every connection of this process (the idle ones now, this one
        # by the pool's retry): the last to close checkpoints the deleted
        # journal into the main file, and the retry opens it afresh.
        self.saves += 1
        if self.pool is not None:
            self.pool.dispose()
        from sqlalchemy.exc import DisconnectionError

        raise DisconnectionError("the database's -wal and -shm files were deleted")

    def alone_and_unchanged(self) -> bool:
        """True when closing this process's connections can only save what
        they wrote: nobody else has the database open, nothing was made in
        place of the deleted files, and the main file is as this process last
        saw it."""
        lockers = _lockers(self.path)
        return (
            lockers is not None
            and not (lockers - {os.getpid()})
            and _fingerprint(self.path) == self.main_seen
            and not any(Path(f"{self.path}{s}").exists() for s in ("-wal", "-shm"))
        )


def make_engine(
    url: str,
    path: Path | None = None,
    *,
    read_only: bool = False,
    watch: FilesWatch | None = None,
) -> Engine:
    if read_only and path is not None:
        from sqlalchemy.pool import QueuePool

        engine = create_engine(
            "sqlite://", creator=lambda: _connect_read_only(path), poolclass=QueuePool
        )
    else:
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
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
        if watch is not None:
            watch.opened(record)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if read_only or options.get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
            return
        if watch is not None and watch.reads_only:
            raise DatabaseFilesLost(files_lost_for_good(watch.path))
        wait = options.get(BUSY_WAIT)
        if wait is not None:  # reset when the connection goes back to the pool
            conn.info[BUSY_WAIT] = True
            conn.exec_driver_sql(f"PRAGMA busy_timeout={int(wait)}")
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    if watch is not None:
        watch.pool = engine.pool

        @event.listens_for(engine, "checkout")
        def _on_checkout(_dbapi_conn: Any, record: Any, _proxy: Any) -> None:
            watch.check(record)

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_conn: Any, record: Any) -> None:
        if dbapi_conn is not None and record.info.pop(BUSY_WAIT, False):
            dbapi_conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    if path is not None:

        @event.listens_for(engine, "handle_error")
        def _on_error(context: Any) -> StoreError | None:
            error = _store_error(context.original_exception, path)
            if watch is not None and error is not None and context.connection is not None:
                # the files this connection opened went in the middle of a statement
                known = context.connection.info.get(SIDECARS)
                if known is not None and sidecar_identity(path) != known:
                    return DatabaseFilesLost(files_lost_sentence(path) + ".")
            return error

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
        self.watch: FilesWatch | None = None
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
        read_only = self.read_only is not None
        self.watch = None if read_only else FilesWatch(self.path)
        self.engine = make_engine(
            f"sqlite:///{self.path}", self.path, read_only=read_only, watch=self.watch
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

        try:  # a snapshot: the check never waits for (nor blocks) a writer
            with self.engine.execution_options(**{READ_ONLY: True}).connect() as conn:
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

    @property
    def reopened(self) -> int:
        """Times the -wal and -shm files were found deleted and what this
        process had written was saved into the main file (see the module)."""
        return self.watch.saves if self.watch is not None else 0

    @property
    def files_lost(self) -> str | None:
        """Why nothing more can be written in this process, when the files
        were deleted and what was written could not be saved."""
        if self.watch is not None and self.watch.reads_only:
            return files_lost_for_good(self.path)
        return None

    def session(self) -> Session:
        """A session for writes: its transaction starts with BEGIN IMMEDIATE.
        A read-only or damaged database refuses it with a sentence."""
        if self.files_lost is not None:
            raise DatabaseFilesLost(self.files_lost)
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

    def session_if_free(self, wait_ms: int = 200) -> Session:
        """A write session for a repair that can wait for another day: it
        waits at most ``wait_ms`` for the write lock, then its first statement
        raises (``is_busy`` tells that error apart), so a read command beside
        a long writer is not held up by a repair it does not need."""
        if not self.writable or self.files_lost is not None:
            return self.session()  # the refusal, with its sentence
        return Session(
            self.engine.execution_options(**{BUSY_WAIT: wait_ms}), expire_on_commit=False
        )

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


def is_busy(exc: BaseException) -> bool:
    """True for SQLite's "database is locked": another connection holds the write lock."""
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlite_errorcode", None)
    return isinstance(orig, sqlite3.OperationalError) and code is not None and code & 0xFF == 5


def _readable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.R_OK)
