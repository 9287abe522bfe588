"""PostgreSQL for both servers: one connection pool per process, schema migrated at start.

``DATABASE_URL=postgresql://…`` moves everything durable into one PostgreSQL database that
every worker process and every instance shares; SQLite (:mod:`shared.sqlite`) stays the
default. The driver is psycopg 3 with ``psycopg_pool``:

* its ``AsyncConnection`` waits for the server on the event loop, so a query never blocks
  the other requests of the worker (asyncpg would too; psycopg also has a synchronous API
  with the same SQL and types, which the command-line tools and ``doctor`` use, and it is
  the driver PostgreSQL's own documentation lists first);
* the pool keeps a few connections open per worker process (:data:`POOL_MAX_SIZE`), checks
  a connection before handing it out again after a server restart, and gives each caller a
  connection of its own — so a transaction is never shared by two requests.

Migrations. Each component (``auth_server``, ``notes``) has an ordered list of SQL steps;
:func:`migrate` applies the ones a database has not seen yet, recorded in
``schema_migrations``. It runs inside one transaction that first takes a transaction-level
advisory lock, so four workers starting at once apply each step exactly once: the others
wait, then find the steps recorded and apply nothing.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from shared.config_error import ConfigError

POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 8
CONNECT_TIMEOUT_SEC = 10


def advisory_key(name: str) -> int:
    """A stable 32-bit key for ``pg_advisory_xact_lock``, the same in every process."""
    return zlib.crc32(name.encode())


async def open_pool(url: str, *, max_size: int = POOL_MAX_SIZE) -> AsyncConnectionPool:
    """An open pool of dict-row connections to ``url``; raises ``psycopg.OperationalError``."""
    # One direct connection first: a wrong URL fails at once with the server's own reason,
    # where the pool would retry in the background until its timeout and then say only that.
    probe = await AsyncConnection.connect(url, connect_timeout=CONNECT_TIMEOUT_SEC)
    await probe.close()
    pool: AsyncConnectionPool = AsyncConnectionPool(
        url,
        min_size=POOL_MIN_SIZE,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": True},
        check=AsyncConnectionPool.check_connection,
        timeout=CONNECT_TIMEOUT_SEC,
        open=False,
    )
    try:
        await pool.open(wait=True, timeout=CONNECT_TIMEOUT_SEC)
    except BaseException:
        await pool.close()
        raise
    return pool


async def open_migrated_pool(url: str, component: str, steps: Sequence[str]) -> AsyncConnectionPool:
    """A pool on ``url`` with ``component``'s schema up to date; ``ConfigError`` if it is unreachable."""
    import psycopg

    try:
        pool = await open_pool(url)
    except (psycopg.Error, OSError) as exc:
        raise ConfigError(
            f"DATABASE_URL ({describe(url)}): cannot connect ({str(exc).strip().splitlines()[0]}); "
            "check that PostgreSQL runs there and the user, password and database name are right"
        ) from None
    try:
        async with pool.connection() as conn:
            await migrate(conn, component, steps)
    except BaseException:
        await pool.close()
        raise
    return pool


async def migrate(conn: AsyncConnection, component: str, steps: Sequence[str]) -> int:
    """Apply the steps of ``component`` this database lacks; returns how many were applied.

    A step is never edited once released: a change to the schema is a new step at the end.
    """
    applied = 0
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key("schema_migrations"),))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " component TEXT NOT NULL, version INTEGER NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (component, version))"
        )
        cursor = await conn.execute(
            "SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations WHERE component = %s",
            (component,),
        )
        row = await cursor.fetchone()
        done = int(row["version"]) if row else 0
        for version, step in enumerate(steps, start=1):
            if version <= done:
                continue
            await conn.execute(step)
            await conn.execute(
                "INSERT INTO schema_migrations (component, version) VALUES (%s, %s)", (component, version)
            )
            applied += 1
    return applied


def describe(url: str) -> str:
    """``host:port/dbname`` of a DATABASE_URL, without the password, for banners and errors."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:  # a malformed URL is reported by the connect that follows
        return "DATABASE_URL"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    return f"{host}:{port}/{parts.get('dbname') or ''}"
