"""Switching a shared SQLite file to WAL waits out another process's write (issue #5 CI flake)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.sqlite_wal import use_wal

# Holds a write lock (RESERVED) on the file for a while, as a second writer of a new cache does.
_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO t VALUES (1)")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def _hold_write_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


@pytest.fixture
def rollback_db(tmp_path: Path) -> Path:
    path = tmp_path / "shared.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    return path


def test_plain_pragma_fails_at_once_while_another_process_writes(rollback_db: Path) -> None:
    """Why use_wal exists: SQLite skips the busy timeout for this lock."""
    holder = _hold_write_lock(rollback_db, 1.0)
    conn = sqlite3.connect(rollback_db, timeout=5.0, isolation_level=None)
    start = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        conn.execute("PRAGMA journal_mode=WAL")
    assert time.monotonic() - start < 1.0
    holder.wait(timeout=30)
    conn.close()


def test_use_wal_waits_for_the_writer_and_switches(rollback_db: Path) -> None:
    holder = _hold_write_lock(rollback_db, 0.5)
    conn = sqlite3.connect(rollback_db, timeout=5.0, isolation_level=None)
    use_wal(conn, timeout=20.0)
    assert holder.wait(timeout=30) == 0
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 1  # the writer's row is kept
    conn.close()


def test_use_wal_gives_up_after_its_timeout(rollback_db: Path) -> None:
    holder = _hold_write_lock(rollback_db, 3.0)
    conn = sqlite3.connect(rollback_db, timeout=5.0, isolation_level=None)
    start = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        use_wal(conn, timeout=0.3)
    assert 0.3 <= time.monotonic() - start < 2.5
    holder.wait(timeout=30)
    conn.close()
