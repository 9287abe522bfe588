"""Opening the SQLite files both servers keep under ``DATA_DIR``.

WAL journaling lets readers run while one writer commits, and survives a ``kill -9``
of the process: a transaction that returned from ``commit()`` is in the WAL file and is
replayed on the next open. ``busy_timeout`` makes a second worker process wait for the
write lock instead of failing with "database is locked".
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

BUSY_TIMEOUT_MS = 5_000


def open_database(path: Path, schema: str) -> sqlite3.Connection:
    """Open (creating if needed) the owner-only database at ``path`` and apply ``schema``."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        # Create the file with mode 0600 before SQLite opens it: it holds hashed secrets and tokens.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # durable against process crashes, which is what we test
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.executescript(schema)
    return conn


def open_memory_database(schema: str) -> sqlite3.Connection:
    """The same schema in RAM, for ``STORE=memory`` and fast tests."""
    conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.executescript(schema)
    return conn
