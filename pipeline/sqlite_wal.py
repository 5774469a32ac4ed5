"""SQLite files that several processes share: the embedding and suggestion caches, the store."""

from __future__ import annotations

import sqlite3
import time

#: How often to try again while another process holds the lock a journal-mode change needs.
RETRY_SECONDS = 0.05


def use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Put ``conn``'s database in WAL mode, waiting up to ``timeout`` seconds for other writers.

    Switching to WAL needs an exclusive lock, and SQLite does not wait for it (the busy timeout
    is skipped to avoid a deadlock) when another connection is writing: two processes opening a
    new cache at once saw "database is locked" straight away. So the switch is retried until
    ``timeout``; a database already in WAL mode returns at once.

    Raises:
        sqlite3.OperationalError: still locked after ``timeout``, or any other SQLite error.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = "locked" in str(exc) or "busy" in str(exc)
            if not busy or time.monotonic() >= deadline:
                raise
            time.sleep(RETRY_SECONDS)
