"""The notes the ``notes_*`` tools read and write: private per user, persisted in SQLite.

The store is the "protected resource" of this demo. Every query is keyed by the token's
``sub`` claim (RFC 9068 §2.2), which the resource server only ever takes from a verified
access token — never from a tool argument — so one user can never name another's notes.

``STORE=sqlite`` (the default) keeps ``notes.sqlite3`` under ``DATA_DIR`` through
:func:`shared.sqlite.open_database` (WAL, file mode 0600), so notes survive a restart;
``STORE=memory`` keeps them in RAM for tests and throw-away demos. The connection runs in
autocommit mode: each ``INSERT`` is its own transaction, committed before the tool
acknowledges the note, so an acknowledged note is never lost to a crash of this process.

Retries and idempotency. Threat: a client whose ``notes_add`` answer got lost (a timeout, a
dropped connection, a host that retries on its own) cannot tell whether the note was stored,
and calling again stores it twice. So a caller may name each write with a ``request_id`` of
its choosing (:func:`clean_request_id`: 1–128 letters, digits, ``.``, ``_``, ``:``, ``-``; a
UUID fits). The same user with the same ``request_id`` gets the note stored the first time
back instead of a second copy; the same ``request_id`` with a *different* text is refused
(:class:`RequestIdReused`), since quietly answering with the old note would hide the new one.
The key is durable (a ``request_id`` column beside the note, so a retry after a restart is
still recognised) and scoped per owner (``UNIQUE (sub, request_id)``: another user's ids
neither collide with nor reveal anything about yours). The unique index, not a read-then-write
in Python, is what makes two concurrent calls store once — also across worker processes. A
database written before this column existed gets it on open (:func:`_migrate`).

Where the work runs: an ``INSERT`` may have to write to disk (a WAL checkpoint syncs the
file), so it runs in a worker thread and the event loop keeps serving other requests. A
read is one indexed ``SELECT`` of at most 100 rows from pages SQLite already holds in memory;
it runs on the event loop, because handing it to a thread costs more than the query itself
(bench 1 measured the hop at several times the CPU of the whole authenticated tool call on
a loaded 2-core machine: the worker thread and the event loop fight over the GIL).

PostgreSQL. With ``DATABASE_URL=postgresql://…`` :class:`PostgresNotesStore` keeps the same
table in that database, shared by every worker and instance; the same unique index makes a
``request_id`` store once, and every query waits for the server on the event loop (psycopg's
async connections, :mod:`shared.postgres`).
:func:`~resource_server.notes_storage.open_notes_store` picks the engine.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import anyio.to_thread

from shared.sqlite import open_database, open_memory_database

DB_FILENAME = "notes.sqlite3"
MAX_NOTE_CHARS = 2_000
LIST_LIMIT = 100

MAX_REQUEST_ID_CHARS = 128
REQUEST_ID_PATTERN = rf"^[A-Za-z0-9._:-]{{1,{MAX_REQUEST_ID_CHARS}}}$"

SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- insertion order; never shown to clients
    id TEXT NOT NULL UNIQUE,                -- random, so ids reveal nothing about other users
    sub TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL,
    request_id TEXT                         -- the caller's idempotency key, NULL when none was given
);
CREATE INDEX IF NOT EXISTS notes_by_owner ON notes (sub, seq);
"""
# Created after the migration, which adds request_id to older databases. SQLite treats NULLs
# as distinct in a unique index, so any number of notes without a request_id coexist.
REQUEST_ID_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS notes_by_request_id ON notes (sub, request_id)"


class NoteRejected(ValueError):
    """A note the store refuses; the message is safe to show to the user."""


class RequestIdReused(NoteRejected):
    """A ``request_id`` that already named a different note of the same user."""


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


def clean_request_id(request_id: str) -> str:
    """The idempotency key as given, or :class:`NoteRejected` when it is not one."""
    if not re.fullmatch(REQUEST_ID_PATTERN, request_id):
        raise NoteRejected(
            f"request_id must be 1-{MAX_REQUEST_ID_CHARS} letters, digits or . _ : - "
            "(a UUID works); pick a new one for every new note"
        )
    return request_id


def _new_note(text: str, request_id: str | None) -> tuple[str | None, Note]:
    """The checked idempotency key and the note to store (a fresh id, the time now)."""
    key = clean_request_id(request_id) if request_id is not None else None
    note = Note(
        id="note_" + secrets.token_urlsafe(9),
        text=clean_note_text(text),
        created_at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    )
    return key, note


def _earlier(earlier: Note, note: Note, key: str | None) -> tuple[Note, bool]:
    """The answer to a write whose ``request_id`` already stored ``earlier``."""
    if earlier.text != note.text:
        raise RequestIdReused(
            f"request_id {key!r} already saved a different note ({earlier.id}); "
            "use a new request_id for a new note, or resend the same text to retry"
        )
    return earlier, False


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a notes database from before idempotency keys up to :data:`SCHEMA`."""
    # IMMEDIATE takes the write lock first, so two processes opening an old file at once
    # cannot both add the column.
    conn.execute("BEGIN IMMEDIATE")
    try:
        columns = {row["name"] for row in conn.execute("PRAGMA table_info(notes)")}
        if "request_id" not in columns:
            conn.execute("ALTER TABLE notes ADD COLUMN request_id TEXT")
        conn.execute(REQUEST_ID_INDEX)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class NotesStore:
    """Notes by owner. Writes run in a worker thread; reads run on the event loop (see above)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        _migrate(connection)
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

    async def aclose(self) -> None:
        self.close()

    async def add(self, owner: str, text: str, *, request_id: str | None = None) -> tuple[Note, bool]:
        """Store a note; returns it and whether it is new (``False``: an earlier call with ``request_id``)."""
        key, note = _new_note(text, request_id)

        def insert() -> tuple[Note, bool]:
            with self._lock:
                inserted = self._conn.execute(
                    "INSERT INTO notes (id, sub, text, created_at, request_id) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (sub, request_id) DO NOTHING",
                    (note.id, owner, note.text, note.created_at, key),
                ).rowcount
                if inserted or key is None:
                    return note, True
                row = self._conn.execute(
                    "SELECT id, text, created_at FROM notes WHERE sub = ? AND request_id = ?", (owner, key)
                ).fetchone()
            return _earlier(Note(id=row["id"], text=row["text"], created_at=row["created_at"]), note, key)

        return await anyio.to_thread.run_sync(insert)

    async def list(self, owner: str, limit: int = LIST_LIMIT) -> list[Note]:
        """The owner's most recent notes, newest first."""
        # Writers hold the lock for one statement at a time: a read waits only while an INSERT runs.
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, text, created_at FROM notes WHERE sub = ? ORDER BY seq DESC LIMIT ?",
                (owner, limit),
            ).fetchall()
        return [Note(id=row["id"], text=row["text"], created_at=row["created_at"]) for row in rows]


class Notes(Protocol):
    """What the tools need of a notes store; :class:`NotesStore` (SQLite) and
    :class:`~resource_server.notes_store_postgres.PostgresNotesStore` both provide it."""

    async def add(self, owner: str, text: str, *, request_id: str | None = None) -> tuple[Note, bool]: ...
    async def list(self, owner: str, limit: int = LIST_LIMIT) -> list[Note]: ...
    async def aclose(self) -> None: ...
