"""The doctor's database check: can this machine reach the store the servers are configured for?

:func:`check_database` takes the settings and returns a status, a one-line message and (on
failure) the fix; :data:`PROBLEM`, :data:`HOW_CHECKED`, :data:`FIX` are its row of the
troubleshooting table (:mod:`.problems`), and :func:`.checks.check_storage` runs it.

With ``DATABASE_URL`` it connects (a few seconds at most), asks the server's version and reads
``schema_migrations`` to say whether the servers have created their tables yet. Without it, it
names the SQLite files under ``DATA_DIR`` — fine for one machine, never shared by two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from shared.settings import SettingsFields

CONNECT_TIMEOUT_SEC = 3

PROBLEM = "A server does not start, or several instances do not share sign-ins: the database is unreachable"
HOW_CHECKED = "connect to DATABASE_URL (PostgreSQL) and read its schema version; else name the SQLite files"
FIX = (
    "start PostgreSQL or correct DATABASE_URL (postgresql://user:password@host:5432/dbname); every "
    "instance needs the same DATABASE_URL"
)

Status = Literal["ok", "fail", "warn"]


def check_database(settings: SettingsFields) -> tuple[Status, str, str | None]:
    """``(status, message, fix)`` for the store ``settings`` select."""
    if not settings.database_url:
        if settings.store == "memory":
            return "warn", "STORE=memory: clients, keys and notes are gone when the servers stop", None
        files = ", ".join(
            str(Path(settings.data_dir) / name) for name in ("auth_server.sqlite3", "notes.sqlite3")
        )
        return "ok", f"SQLite ({files}); for several instances set DATABASE_URL (PostgreSQL)", None

    import psycopg

    from shared.postgres import describe

    where = describe(settings.database_url)
    try:
        with psycopg.connect(settings.database_url, connect_timeout=CONNECT_TIMEOUT_SEC) as conn:
            version = conn.execute("SHOW server_version").fetchone()
            table = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
            steps = (
                conn.execute(
                    "SELECT component, MAX(version) FROM schema_migrations GROUP BY component"
                ).fetchall()
                if table and table[0]
                else []
            )
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return "fail", f"DATABASE_URL ({where}): cannot connect ({reason})", FIX
    server = f"PostgreSQL {version[0] if version else '?'} at {where}"
    if not steps:
        return "warn", f"{server}: reachable, no tables yet (the servers create them on first start)", None
    schema = ", ".join(f"{component} v{step}" for component, step in sorted(steps))
    return "ok", f"{server}: schema {schema}", None
