"""The notes on PostgreSQL (``DATABASE_URL``): one table, shared by every worker of every RS instance.

The same contract as :class:`~resource_server.notes_store.NotesStore` (SQLite); the unique index
on ``(sub, request_id)`` makes a retried ``notes_add`` store its note once, across processes.
Imported only when ``DATABASE_URL`` is set, so a server on SQLite never loads psycopg.
"""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from resource_server.notes_store import LIST_LIMIT, Note, _earlier, _new_note
from shared.postgres import open_migrated_pool

# Released steps are never edited; a schema change is a new step at the end (shared.postgres).
POSTGRES_MIGRATIONS = (
    """
    CREATE TABLE notes (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        sub TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at TEXT NOT NULL,
        request_id TEXT
    );
    CREATE INDEX notes_by_owner ON notes (sub, seq);
    CREATE UNIQUE INDEX notes_by_request_id ON notes (sub, request_id);
    """,
)


class PostgresNotesStore:
    """The same notes on PostgreSQL: one table in ``DATABASE_URL``'s database, any number of workers."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    @classmethod
    async def connect(cls, url: str) -> PostgresNotesStore:
        return cls(await open_migrated_pool(url, "notes", POSTGRES_MIGRATIONS))

    async def aclose(self) -> None:
        await self._pool.close()

    async def add(self, owner: str, text: str, *, request_id: str | None = None) -> tuple[Note, bool]:
        """As :meth:`NotesStore.add`: the unique index decides, across every worker."""
        key, note = _new_note(text, request_id)
        async with self._pool.connection() as conn:
            inserted = await conn.execute(
                "INSERT INTO notes (id, sub, text, created_at, request_id) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (sub, request_id) DO NOTHING",
                (note.id, owner, note.text, note.created_at, key),
            )
            if inserted.rowcount == 1 or key is None:
                return note, True
            cursor = await conn.execute(
                "SELECT id, text, created_at FROM notes WHERE sub = %s AND request_id = %s", (owner, key)
            )
            row: dict[str, Any] | None = await cursor.fetchone()  # type: ignore[assignment]
        assert row is not None  # the conflicting row exists: notes are never deleted
        return _earlier(Note(**row), note, key)

    async def list(self, owner: str, limit: int = LIST_LIMIT) -> list[Note]:
        """The owner's most recent notes, newest first."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT id, text, created_at FROM notes WHERE sub = %s ORDER BY seq DESC LIMIT %s",
                (owner, limit),
            )
            rows: list[dict[str, Any]] = await cursor.fetchall()  # type: ignore[assignment]
        return [Note(**row) for row in rows]
