"""Which storage engine the AS uses: SQLite under ``DATA_DIR`` by default, PostgreSQL with ``DATABASE_URL``.

Both engines implement :class:`~auth_server.store.Store` (``store.py`` for SQLite,
``store_postgres.py`` for PostgreSQL); this module only picks one, so neither engine's module
needs to know the other.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from auth_server.store import DATABASE_NAME, SqliteStore, Store


async def open_store(settings: Any) -> Store:
    """The store ``settings`` asks for; an unusable database stops startup with one line."""
    if settings.database_url:
        from auth_server.store_postgres import PostgresStore

        return await PostgresStore.connect(settings.database_url)
    if settings.store == "memory":
        return SqliteStore.in_memory()
    path = Path(settings.data_dir) / DATABASE_NAME
    try:
        store = SqliteStore.open(path)
        await store.purge_expired()
    except (sqlite3.Error, OSError) as exc:
        from shared.settings import ConfigError

        raise ConfigError(
            f"DATA_DIR={settings.data_dir}: cannot open {path} ({exc}); make the directory writable by this "
            f"user, or move the file away to start afresh (clients will have to register again)"
        ) from None
    return store
