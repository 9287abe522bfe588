"""Which engine keeps the notes: SQLite under ``DATA_DIR`` (or memory) by default, else ``DATABASE_URL``.

Both implement :class:`~resource_server.notes_store.Notes`; this module only picks one, so
neither engine's module needs the other (and a server on SQLite never imports psycopg).
"""

from __future__ import annotations

from pathlib import Path

from resource_server.notes_store import Notes, NotesStore
from shared.settings import Settings


async def open_notes_store(settings: Settings) -> Notes:
    """The notes store ``settings`` asks for: PostgreSQL with DATABASE_URL, else SQLite (or memory)."""
    if settings.database_url:
        # Imported here: psycopg costs a server that stores in SQLite ~0.1 s of start-up.
        from resource_server.notes_store_postgres import PostgresNotesStore

        return await PostgresNotesStore.connect(settings.database_url)
    return NotesStore.open(store=settings.store, data_dir=Path(settings.data_dir))
