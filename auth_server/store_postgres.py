"""The :class:`~auth_server.store.Store` contract on PostgreSQL (``DATABASE_URL=postgresql://…``).

The tables and columns are those of the SQLite schema in ``store.py``, with PostgreSQL's
types. What differs is how exclusivity is obtained, since many processes — on one machine
or on several — write concurrently and there is no single file lock:

* **a code redeemed once** — ``UPDATE … SET used = TRUE WHERE code_hash = … AND used =
  FALSE``. Under READ COMMITTED a second concurrent ``UPDATE`` waits for the first to
  commit, then re-checks its ``WHERE`` on the new row version and matches nothing.
* **a refresh token rotated once per step** — the transaction first locks the token's row
  (``SELECT … FOR UPDATE``), so concurrent presentations of one token are served one after
  another, each seeing what the one before wrote (``token.py`` explains the retry window).
* **bounds over many rows** (pending requests per source and per client, "no current
  signing key yet") — a transaction-level advisory lock (``pg_advisory_xact_lock``) around
  the count and the write; it is released at commit or rollback, also when the process dies.
* **single-use rows** (client assertion ``jti``, secrets created once) — the primary key and
  ``INSERT … ON CONFLICT DO NOTHING``: of two concurrent inserts exactly one adds the row.

Every call takes a connection of its own from the pool (:func:`shared.postgres.open_pool`)
and waits for the server without blocking the event loop.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from psycopg_pool import AsyncConnectionPool

from auth_server.store import (
    PENDING_COLUMNS,
    ClientRecord,
    CodeRecord,
    GrantRecord,
    KeyRecord,
    PendingLimits,
    PendingRecord,
    PendingRefusal,
    RefreshTokenRecord,
    UserRecord,
)
from shared.postgres import advisory_key, open_migrated_pool

COMPONENT = "auth_server"

# Released steps are never edited; a schema change is a new step at the end (shared.postgres).
MIGRATIONS = (
    """
    CREATE TABLE clients (
        client_id TEXT PRIMARY KEY,
        metadata TEXT NOT NULL,
        secret_hash TEXT,
        registration_token_hash TEXT,
        issued_at BIGINT NOT NULL
    );
    CREATE TABLE authorization_codes (
        code_hash TEXT PRIMARY KEY,
        client_id TEXT NOT NULL,
        redirect_uri TEXT NOT NULL,
        redirect_uri_sent BOOLEAN NOT NULL,
        code_challenge TEXT NOT NULL,
        scope TEXT NOT NULL,
        resource TEXT NOT NULL,
        sub TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        used BOOLEAN NOT NULL DEFAULT FALSE,
        grant_id TEXT
    );
    CREATE TABLE grants (
        grant_id TEXT PRIMARY KEY,
        client_id TEXT NOT NULL,
        sub TEXT NOT NULL,
        scope TEXT NOT NULL,
        resource TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        revoked BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE TABLE refresh_tokens (
        token_hash TEXT PRIMARY KEY,
        grant_id TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        used BOOLEAN NOT NULL DEFAULT FALSE,
        rotated_at BIGINT,
        successor_hash TEXT
    );
    CREATE TABLE access_tokens (
        jti TEXT PRIMARY KEY,
        grant_id TEXT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    CREATE INDEX access_tokens_grant ON access_tokens (grant_id);
    CREATE TABLE revoked_jtis (
        jti TEXT PRIMARY KEY,
        expires_at BIGINT NOT NULL
    );
    CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        alg TEXT NOT NULL,
        pem TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        retire_at BIGINT
    );
    CREATE TABLE client_assertion_jtis (
        client_id TEXT NOT NULL,
        jti TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (client_id, jti)
    );
    CREATE TABLE pending_requests (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        request_id TEXT NOT NULL UNIQUE,
        sid TEXT NOT NULL,
        client_id TEXT NOT NULL,
        source TEXT NOT NULL,
        payload TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX pending_by_client ON pending_requests (client_id, seq);
    CREATE INDEX pending_by_source ON pending_requests (source, seq);
    CREATE INDEX pending_by_expiry ON pending_requests (expires_at);
    CREATE TABLE login_failures (
        key TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX login_failures_by_key ON login_failures (key, at);
    CREATE INDEX login_failures_by_time ON login_failures (at);
    CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE users (
        sub TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        email TEXT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    """,
)

_PENDING_LOCK = advisory_key("auth_server.pending_requests")
_SIGNING_KEY_LOCK = advisory_key("auth_server.signing_keys")


class PostgresStore:
    """:class:`~auth_server.store.Store` on a PostgreSQL database shared by every worker."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    @classmethod
    async def connect(cls, url: str) -> PostgresStore:
        """Open the pool and bring the schema up to date; an unreachable server is a ConfigError."""
        pool = await open_migrated_pool(url, COMPONENT, MIGRATIONS)
        try:
            store = cls(pool)
            await store.purge_expired()
        except BaseException:
            await pool.close()
            raise
        return store

    async def _one(self, sql: str, *args: object) -> dict[str, Any] | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql, args)
            row: dict[str, Any] | None = await cursor.fetchone()  # type: ignore[assignment]
            return row

    async def _write(self, sql: str, *args: object) -> int:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql, args)
            return cursor.rowcount

    # clients -----------------------------------------------------------------
    async def add_client(self, client: ClientRecord) -> None:
        await self._write(
            "INSERT INTO clients (client_id, metadata, secret_hash, registration_token_hash, issued_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            client.client_id,
            json.dumps(client.metadata),
            client.secret_hash,
            client.registration_token_hash,
            client.issued_at,
        )

    async def get_client(self, client_id: str) -> ClientRecord | None:
        row = await self._one("SELECT * FROM clients WHERE client_id = %s", client_id)
        return ClientRecord.from_row(row) if row is not None else None

    # authorization codes -----------------------------------------------------
    async def add_code(self, code: CodeRecord) -> None:
        await self._write(
            "INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, redirect_uri_sent,"
            " code_challenge, scope, resource, sub, expires_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            code.code_hash,
            code.client_id,
            code.redirect_uri,
            code.redirect_uri_sent,
            code.code_challenge,
            code.scope,
            code.resource,
            code.sub,
            code.expires_at,
        )

    async def get_code(self, code_hash: str) -> CodeRecord | None:
        row = await self._one("SELECT * FROM authorization_codes WHERE code_hash = %s", code_hash)
        return CodeRecord(**row) if row is not None else None

    async def redeem_code(self, code_hash: str, grant: GrantRecord, jti: str, jti_expires_at: int) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            won = await conn.execute(
                "UPDATE authorization_codes SET used = TRUE, grant_id = %s"
                " WHERE code_hash = %s AND used = FALSE",
                (grant.grant_id, code_hash),
            )
            if won.rowcount != 1:
                return False
            await conn.execute(
                "INSERT INTO grants (grant_id, client_id, sub, scope, resource, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (grant.grant_id, grant.client_id, grant.sub, grant.scope, grant.resource, grant.created_at),
            )
            await conn.execute(
                "INSERT INTO access_tokens (jti, grant_id, expires_at) VALUES (%s, %s, %s)",
                (jti, grant.grant_id, jti_expires_at),
            )
            return True

    # grants and refresh tokens -------------------------------------------------
    async def get_grant(self, grant_id: str) -> GrantRecord | None:
        row = await self._one("SELECT * FROM grants WHERE grant_id = %s", grant_id)
        return GrantRecord(**row) if row is not None else None

    async def revoke_grant(self, grant_id: str) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("UPDATE grants SET revoked = TRUE WHERE grant_id = %s", (grant_id,))
            await conn.execute(
                "INSERT INTO revoked_jtis (jti, expires_at)"
                " SELECT jti, expires_at FROM access_tokens WHERE grant_id = %s ON CONFLICT DO NOTHING",
                (grant_id,),
            )

    async def add_refresh_token(self, token: RefreshTokenRecord) -> None:
        await self._write(
            "INSERT INTO refresh_tokens (token_hash, grant_id, expires_at) VALUES (%s, %s, %s)",
            token.token_hash,
            token.grant_id,
            token.expires_at,
        )

    async def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None:
        row = await self._one("SELECT * FROM refresh_tokens WHERE token_hash = %s", token_hash)
        return RefreshTokenRecord(**row) if row is not None else None

    async def rotate_refresh_token(
        self, token_hash: str, successor: RefreshTokenRecord, now: int, grace_sec: int
    ) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            # The row lock serializes every presentation of this token, in any process.
            cursor = await conn.execute(
                "SELECT used, rotated_at, successor_hash FROM refresh_tokens"
                " WHERE token_hash = %s FOR UPDATE",
                (token_hash,),
            )
            row: dict[str, Any] | None = await cursor.fetchone()  # type: ignore[assignment]
            if row is None:
                return False
            if row["used"]:
                in_window = row["rotated_at"] is not None and now - row["rotated_at"] <= grace_sec
                if not in_window or row["successor_hash"] is None:
                    return False
                # A retry: only if the previous successor was never presented, and it dies now.
                superseded = await conn.execute(
                    "UPDATE refresh_tokens SET used = TRUE WHERE token_hash = %s AND used = FALSE",
                    (row["successor_hash"],),
                )
                if superseded.rowcount != 1:
                    return False
                await conn.execute(
                    "UPDATE refresh_tokens SET successor_hash = %s WHERE token_hash = %s",
                    (successor.token_hash, token_hash),
                )
            else:
                await conn.execute(
                    "UPDATE refresh_tokens SET used = TRUE, rotated_at = %s, successor_hash = %s"
                    " WHERE token_hash = %s",
                    (now, successor.token_hash, token_hash),
                )
            await conn.execute(
                "INSERT INTO refresh_tokens (token_hash, grant_id, expires_at) VALUES (%s, %s, %s)",
                (successor.token_hash, successor.grant_id, successor.expires_at),
            )
            return True

    # access tokens -------------------------------------------------------------
    async def record_access_token(self, jti: str, grant_id: str, expires_at: int) -> None:
        await self._write(
            "INSERT INTO access_tokens (jti, grant_id, expires_at) VALUES (%s, %s, %s)",
            jti,
            grant_id,
            expires_at,
        )

    async def revoke_jti(self, jti: str, expires_at: int) -> None:
        await self._write(
            "INSERT INTO revoked_jtis (jti, expires_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            jti,
            expires_at,
        )

    async def is_jti_revoked(self, jti: str) -> bool:
        return await self._one("SELECT 1 FROM revoked_jtis WHERE jti = %s", jti) is not None

    # signing keys --------------------------------------------------------------
    async def add_signing_key(self, key: KeyRecord) -> None:
        await self._write(
            "INSERT INTO signing_keys (kid, alg, pem, created_at, retire_at) VALUES (%s, %s, %s, %s, %s)",
            key.kid,
            key.alg,
            key.pem,
            key.created_at,
            key.retire_at,
        )

    async def add_first_signing_key(self, key: KeyRecord) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SIGNING_KEY_LOCK,))
            cursor = await conn.execute(
                "SELECT 1 FROM signing_keys WHERE alg = %s AND retire_at IS NULL", (key.alg,)
            )
            if await cursor.fetchone() is not None:
                return False
            await conn.execute(
                "INSERT INTO signing_keys (kid, alg, pem, created_at, retire_at) VALUES (%s, %s, %s, %s, %s)",
                (key.kid, key.alg, key.pem, key.created_at, key.retire_at),
            )
            return True

    async def signing_keys(self) -> list[KeyRecord]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute("SELECT * FROM signing_keys ORDER BY created_at DESC")
            rows: list[dict[str, Any]] = await cursor.fetchall()  # type: ignore[assignment]
        return [KeyRecord(**row) for row in rows]

    async def retire_signing_key(self, kid: str, retire_at: int) -> None:
        await self._write(
            "UPDATE signing_keys SET retire_at = %s WHERE kid = %s AND retire_at IS NULL", retire_at, kid
        )

    # secrets, pending requests, login failures -------------------------------------
    async def shared_secret(self, name: str, candidate: str) -> str:
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO secrets (name, value) VALUES (%s, %s) ON CONFLICT DO NOTHING", (name, candidate)
            )
            cursor = await conn.execute("SELECT value FROM secrets WHERE name = %s", (name,))
            row: dict[str, Any] | None = await cursor.fetchone()  # type: ignore[assignment]
        assert row is not None  # inserted above, and secrets are never deleted
        return str(row["value"])

    async def save_user(self, user: UserRecord) -> None:
        await self._write(
            "INSERT INTO users (sub, name, email, updated_at) VALUES (%s, %s, %s, %s) ON CONFLICT (sub) "
            "DO UPDATE SET name = excluded.name, email = excluded.email, "
            "updated_at = excluded.updated_at",
            user.sub,
            user.name,
            user.email,
            user.updated_at,
        )

    async def get_user(self, sub: str) -> UserRecord | None:
        row = await self._one("SELECT sub, name, email, updated_at FROM users WHERE sub = %s", sub)
        return UserRecord(**row) if row else None

    async def add_pending(
        self, record: PendingRecord, limits: PendingLimits, now: float
    ) -> PendingRefusal | None:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PENDING_LOCK,))
            await conn.execute("DELETE FROM pending_requests WHERE expires_at <= %s", (now,))

            async def one(sql: str, *args: object) -> dict[str, Any] | None:
                cursor = await conn.execute(sql, args)
                row: dict[str, Any] | None = await cursor.fetchone()  # type: ignore[assignment]
                return row

            def count(row: dict[str, Any] | None) -> int:
                return int(row["n"]) if row else 0

            evict = None
            by_source = await one(
                "SELECT COUNT(*) AS n FROM pending_requests WHERE source = %s", record.source
            )
            if limits.source_full(count(by_source)):
                evict = await one(
                    "SELECT request_id, client_id FROM pending_requests"
                    " WHERE source = %s ORDER BY seq LIMIT 1",
                    record.source,
                )
            by_client = await one(
                "SELECT COUNT(*) AS n, MIN(expires_at) AS oldest FROM pending_requests WHERE client_id = %s",
                record.client_id,
            )
            total = await one("SELECT COUNT(*) AS n, MIN(expires_at) AS oldest FROM pending_requests")
            refusal = limits.refusal(
                record.client_id,
                by_client=count(by_client),
                total=count(total),
                evicted_client=evict["client_id"] if evict is not None else None,
            )
            if refusal is not None:
                bucket = by_client if refusal == "client" else total
                return PendingRefusal(refusal, bucket["oldest"] if bucket else now)
            if evict is not None:
                await conn.execute(
                    "DELETE FROM pending_requests WHERE request_id = %s", (evict["request_id"],)
                )
            await conn.execute(
                f"INSERT INTO pending_requests ({PENDING_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)",  # noqa: S608
                record.values(),
            )
        return None

    async def get_pending(self, request_id: str, now: float) -> PendingRecord | None:
        row = await self._one(
            f"SELECT {PENDING_COLUMNS} FROM pending_requests WHERE request_id = %s AND expires_at > %s",  # noqa: S608 - a constant column list
            request_id,
            now,
        )
        return PendingRecord(**row) if row is not None else None

    async def rebind_pending(self, request_id: str, sid: str, new_sid: str, now: float) -> None:
        await self._write(
            "UPDATE pending_requests SET sid = %s WHERE request_id = %s AND sid = %s AND expires_at > %s",
            new_sid,
            request_id,
            sid,
            now,
        )

    async def delete_pending(self, request_id: str, sid: str) -> bool:
        deleted = await self._write(
            "DELETE FROM pending_requests WHERE request_id = %s AND sid = %s", request_id, sid
        )
        return deleted == 1

    async def count_pending(self, now: float) -> int:
        row = await self._one("SELECT COUNT(*) AS n FROM pending_requests WHERE expires_at > %s", now)
        return int(row["n"]) if row else 0

    async def login_failures(self, keys: Sequence[str], since: float) -> dict[str, list[float]]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT key, at FROM login_failures WHERE key = ANY(%s) AND at > %s ORDER BY at",
                (list(keys), since),
            )
            rows: list[dict[str, Any]] = await cursor.fetchall()  # type: ignore[assignment]
        failures: dict[str, list[float]] = {}
        for row in rows:
            failures.setdefault(row["key"], []).append(row["at"])
        return failures

    async def add_login_failures(self, keys: Sequence[str], at: float, forget_before: float) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM login_failures WHERE at <= %s", (forget_before,))
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    "INSERT INTO login_failures (key, at) VALUES (%s, %s)", [(key, at) for key in keys]
                )

    async def clear_login_failures(self, key: str) -> None:
        await self._write("DELETE FROM login_failures WHERE key = %s", key)

    # housekeeping ----------------------------------------------------------------
    async def purge_expired(self, now: int | None = None) -> None:
        """Drop rows nobody can use any more; grants stay while a refresh token of theirs lives."""
        now = int(time.time()) if now is None else now
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM authorization_codes WHERE expires_at < %s", (now - 86400,))
            for table in (
                "refresh_tokens",
                "access_tokens",
                "revoked_jtis",
                "client_assertion_jtis",
                "pending_requests",
            ):
                await conn.execute(f"DELETE FROM {table} WHERE expires_at < %s", (now,))  # noqa: S608 - literal names
            await conn.execute(
                "DELETE FROM signing_keys WHERE retire_at IS NOT NULL AND retire_at < %s", (now,)
            )

    async def close(self) -> None:
        await self._pool.close()

    # client assertions (RFC 7523 §3) ---------------------------------------------
    async def use_client_assertion_jti(self, client_id: str, jti: str, expires_at: int) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM client_assertion_jtis WHERE client_id = %s AND jti = %s AND expires_at < %s",
                (client_id, jti, int(time.time())),
            )
            inserted = await conn.execute(
                "INSERT INTO client_assertion_jtis (client_id, jti, expires_at) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (client_id, jti, expires_at),
            )
        return inserted.rowcount == 1
