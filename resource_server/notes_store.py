"""The notes the ``notes_*`` tools read and write: private per user, persisted in SQLite.

The store is the "protected resource" of this demo. Every query is keyed by the token's
``sub`` claim (RFC 9068 §2.2), which the resource server only ever takes from a verified
access token — never from a tool argument — so one user can never name another's notes.

``STORE=sqlite`` (the default) keeps ``notes.sqlite3`` under ``DATA_DIR`` through
:func:`shared.sqlite.open_database` (WAL, file mode 0600), so notes survive a restart;
``STORE=memory`` keeps them in RAM for tests and throw-away demos. The connection runs in
autocommit mode: each ``INSERT`` is its own transaction, committed before the tool
acknowledges the note, so an acknowledged note is never lost to a crash of this process.

Where the work runs: an ``INSERT`` may have to write to disk (a WAL checkpoint syncs the
file), so it runs in a worker thread and the event loop keeps serving other requests. A
read is one indexed ``SELECT`` of at most 100 rows from pages SQLite already holds in memory;
it runs on the event loop, because handing it to a thread costs more than the query itself
(bench 1 measured the hop at several times the CPU of the whole authenticated tool call on
a loaded 2-core machine: the worker thread and the event loop fight over the GIL).
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread

from shared.sqlite import open_database, open_memory_database

DB_FILENAME = "notes.sqlite3"
MAX_NOTE_CHARS = 2_000
LIST_LIMIT = 100

SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- insertion order; never shown to clients
    id TEXT NOT NULL UNIQUE,                -- random, so ids reveal nothing about other users
    sub TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_by_owner ON notes (sub, seq);
"""


class NoteRejected(ValueError):
    """A note text the store refuses; the message is safe to show to the user."""


@dataclass(frozen=True)
class Note:
    id: str
    text: str
    created_at: str  # ISO 8601, UTC

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def clean_note_text(text: str) -> str:
    """The text as stored: stripped, 1–2,000 characters, or :class:`NoteRejected`."""
    cleaned = text.strip()
    if not cleaned:
        raise NoteRejected("A note cannot be empty; write some text to save.")
    if len(cleaned) > MAX_NOTE_CHARS:
        raise NoteRejected(
            f"A note can hold at most {MAX_NOTE_CHARS:,} characters; this one has {len(cleaned):,}."
        )
    return cleaned


class NotesStore:
    """Notes by owner. Writes run in a worker thread; reads run on the event loop (see above)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        # One connection shared by worker threads: sqlite3 objects are not safe for concurrent use.
        self._lock = threading.Lock()

    @classmethod
    def open(cls, *, store: str, data_dir: Path) -> NotesStore:
        if store == "memory":
            return cls(open_memory_database(SCHEMA))
        return cls(open_database(data_dir / DB_FILENAME, SCHEMA))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    async def add(self, owner: str, text: str) -> Note:
        note = Note(
            id="note_" + secrets.token_urlsafe(9),
            text=clean_note_text(text),
            created_at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        )

        def insert() -> None:
            with self._lock:
                self._conn.execute(
                    "INSERT INTO notes (id, sub, text, created_at) VALUES (?, ?, ?, ?)",
                    (note.id, owner, note.text, note.created_at),
                )

        await anyio.to_thread.run_sync(insert)
        return note

    async def list(self, owner: str, limit: int = LIST_LIMIT) -> list[Note]:
        """The owner's most recent notes, newest first."""
        # Writers hold the lock for one statement at a time: a read waits only while an INSERT runs.
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, text, created_at FROM notes WHERE sub = ? ORDER BY seq DESC LIMIT ?",
                (owner, limit),
            ).fetchall()
        return [Note(id=row["id"], text=row["text"], created_at=row["created_at"]) for row in rows]
