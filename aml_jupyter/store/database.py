"""One SQLite connection per workspace and process: WAL, busy timeout, migrations.

Every SQL statement of the project lives in this package; the layers above call methods.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import AmlError
from .schema import MIGRATIONS, SCHEMA_VERSION

#: Writers wait this long for another process's transaction before giving up.
BUSY_TIMEOUT_MS = 60_000


class Database:
    """A thread-safe SQLite connection to a workspace's ``aml.db``.

    Autocommit by default; :meth:`transaction` wraps writes that must land together in
    ``BEGIN IMMEDIATE`` so concurrent writers queue on the busy timeout instead of failing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._writes = 0
        self._conn = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise AmlError(
                    f"The workspace database {self.path} was written by a newer aml_jupyter "
                    f"(schema {version}, this one knows {SCHEMA_VERSION}). Upgrade aml_jupyter."
                )
            for number in range(version, SCHEMA_VERSION):
                with self.transaction():
                    # Re-read inside the write lock: another process may have migrated first.
                    if self._conn.execute("PRAGMA user_version").fetchone()[0] > number:
                        continue
                    for statement in _statements(MIGRATIONS[number]):
                        self._conn.execute(statement)
                    self._conn.execute(f"PRAGMA user_version = {number + 1}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``); commits on success, rolls back on error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._writes += 1
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        """Run one statement in autocommit mode."""
        with self._lock:
            self._writes += 1
            return self._conn.execute(sql, params)

    def change_token(self) -> tuple[int, int]:
        """Changes whenever anyone may have written to the database since the last call.

        ``PRAGMA data_version`` moves on other connections' commits, the counter on ours: a
        result cached with the token is still right while the token is the same.
        """
        with self._lock:
            return self._conn.execute("PRAGMA data_version").fetchone()[0], self._writes

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        """Run a SELECT and return all its rows."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        """Run a SELECT and return its first row, or None."""
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    def trace(self, callback: Callable[[str], object] | None) -> None:
        """Call ``callback`` with each SQL statement run from now on (None: stop); for tests
        that count statements."""
        with self._lock:
            self._conn.set_trace_callback(callback)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


def create_database(path: Path) -> None:
    """A new ``aml.db`` at ``path`` with the current schema, or nothing there on any error.

    Built beside ``path`` with no journal (nothing reads it yet, so there is nothing to keep
    safe) and renamed into place: ~7 ms against ~20 ms for migrating a live WAL database one
    step at a time, which matters where workspaces are made per run (a Ray job's driver). A
    database there already (another process's, made meanwhile) is left as it is.
    """
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    try:
        conn = sqlite3.connect(str(partial), isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("BEGIN")
            for script in MIGRATIONS:
                for statement in _statements(script):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = WAL")  # kept in the file: how it is opened
        finally:
            conn.close()
        try:  # a link, not a rename: never replaces a database another process made meanwhile
            os.link(partial, path)
        except FileExistsError:
            pass
    finally:
        partial.unlink(missing_ok=True)


def _statements(script: str) -> list[str]:
    """Split a migration into statements; a trigger's body (with its own ';') stays whole."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error means the file system (or the database on it) has no room left."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc)
