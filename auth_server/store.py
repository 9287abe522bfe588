"""Where the authorization server keeps its state: one small interface, one SQLite class.

What is stored, and why only hashes of secrets (a stolen database file must not be a
bag of working credentials):

========================  =====================================================
clients                   registered metadata; SHA-256 of the client secret and of the
                          RFC 7592 registration access token
authorization codes       SHA-256 of the code, what it was issued for, whether it was used
grants                    one per redeemed code: the *refresh-token family*; revoking it
                          kills every refresh token and access token it issued
refresh tokens            SHA-256 of the token, its grant, when it was rotated and the
                          hash of the token issued in its place (``token.py``: the retry window)
access tokens             jti → grant, so revoking a grant can revoke its access tokens
revoked jtis              access tokens revoked before they expire (RFC 7009)
signing keys              PEM private keys with their kid and retirement time
client assertion jtis     ``jti`` of each RFC 7523 client assertion until its ``exp``: single use
pending requests          validated authorization requests between the login and consent pages
                          (``sessions.py``), bound to a browser session id
login failures            one row per failed sign-in, per username and per IP (``throttle.py``)
secrets                   values every worker must agree on, created once (the session secret)
users                     who an upstream provider vouched for (``IDENTITY=oidc``): our ``sub``,
                          name and email, so that a refresh after a restart still knows them
========================  =====================================================

The interface is asynchronous, so an engine that talks to a server over the network
waits for it without blocking the event loop. Two implementations, one per engine:

* :class:`SqliteStore` (this module), the default. With ``STORE=memory`` it runs on an
  in-memory SQLite connection — the same code and the same SQL, so the two modes cannot
  drift apart — and everything is gone when the process exits. With ``STORE=sqlite`` it is
  the file ``DATA_DIR/auth_server.sqlite3`` (mode 0600, WAL); worker processes on one
  machine share it, each statement taking SQLite's file lock. Its queries take
  microseconds on pages already in memory, so they run on the event loop.
* :class:`~auth_server.store_postgres.PostgresStore` with ``DATABASE_URL=postgresql://…``:
  the same contract on a PostgreSQL server that any number of workers and machines share.

Wherever a check and a write must not interleave (a code redeemed once, a refresh token
rotated once, a pending-request bound), both run the steps in one transaction that takes
the write lock first: ``BEGIN IMMEDIATE`` in SQLite, a row lock or an advisory lock in
PostgreSQL. ``tests/store`` runs one set of contract tests against both engines.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from shared.sqlite import open_database, open_memory_database

DATABASE_NAME = "auth_server.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY,
    metadata TEXT NOT NULL,
    secret_hash TEXT,
    registration_token_hash TEXT,
    issued_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS authorization_codes (
    code_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    redirect_uri_sent INTEGER NOT NULL,
    code_challenge TEXT NOT NULL,
    scope TEXT NOT NULL,
    resource TEXT NOT NULL,
    sub TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0,
    grant_id TEXT
);
CREATE TABLE IF NOT EXISTS grants (
    grant_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    sub TEXT NOT NULL,
    scope TEXT NOT NULL,
    resource TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0,
    rotated_at INTEGER,
    successor_hash TEXT
);
CREATE TABLE IF NOT EXISTS access_tokens (
    jti TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS access_tokens_grant ON access_tokens (grant_id);
CREATE TABLE IF NOT EXISTS revoked_jtis (
    jti TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    pem TEXT NOT NULL,
    created_at REAL NOT NULL,
    retire_at INTEGER
);
CREATE TABLE IF NOT EXISTS client_assertion_jtis (
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE TABLE IF NOT EXISTS pending_requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL UNIQUE,
    sid TEXT NOT NULL,
    client_id TEXT NOT NULL,
    source TEXT NOT NULL,
    payload TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_by_client ON pending_requests (client_id, seq);
CREATE INDEX IF NOT EXISTS pending_by_source ON pending_requests (source, seq);
CREATE INDEX IF NOT EXISTS pending_by_expiry ON pending_requests (expires_at);
CREATE TABLE IF NOT EXISTS login_failures (
    key TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_by_key ON login_failures (key, at);
CREATE INDEX IF NOT EXISTS login_failures_by_time ON login_failures (at);
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    sub TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
"""


def secret_hash(value: str) -> str:
    """SHA-256 hex of a high-entropy secret; a salt is unnecessary at 256 bits of entropy."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class UserRecord:
    """A user an upstream provider vouched for; updated at each of their sign-ins."""

    sub: str
    name: str
    email: str
    updated_at: int


@dataclass(frozen=True)
class ClientRecord:
    """A registered client. ``metadata`` is what RFC 7591 §2 calls the client metadata."""

    client_id: str
    metadata: dict[str, Any]
    issued_at: int
    secret_hash: str | None = None
    registration_token_hash: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> ClientRecord:
        """From a ``clients`` row of either engine (its metadata is stored as JSON text)."""
        return cls(
            client_id=row["client_id"],
            metadata=json.loads(row["metadata"]),
            issued_at=row["issued_at"],
            secret_hash=row["secret_hash"],
            registration_token_hash=row["registration_token_hash"],
        )


@dataclass(frozen=True)
class CodeRecord:
    code_hash: str
    client_id: str
    redirect_uri: str
    redirect_uri_sent: bool  # RFC 6749 §4.1.3: then the token request must repeat it
    code_challenge: str
    scope: str
    resource: str
    sub: str
    expires_at: int
    used: bool = False
    grant_id: str | None = None


@dataclass(frozen=True)
class GrantRecord:
    """Everything issued from one authorization code: the refresh-token family."""

    grant_id: str
    client_id: str
    sub: str
    scope: str
    resource: str
    created_at: int
    revoked: bool = False


@dataclass(frozen=True)
class RefreshTokenRecord:
    token_hash: str
    grant_id: str
    expires_at: int
    used: bool = False
    rotated_at: int | None = None  # when it was exchanged for its successor
    successor_hash: str | None = None  # the token issued in its place


# Columns added after the first release: ``ALTER TABLE`` adds them to older database files.
_ADDED_COLUMNS = {
    "refresh_tokens": {"rotated_at": "INTEGER", "successor_hash": "TEXT"},
}


@dataclass(frozen=True)
class KeyRecord:
    kid: str
    alg: str
    pem: str = field(repr=False)
    created_at: float
    retire_at: int | None = None  # published until then; None = not retired


@dataclass(frozen=True)
class PendingRecord:
    """A pending authorization request as stored; ``payload`` is its JSON (``sessions.py``)."""

    request_id: str
    sid: str
    client_id: str
    source: str
    payload: str
    expires_at: float

    def values(self) -> tuple[str, str, str, str, str, float]:
        """The row's values in :data:`PENDING_COLUMNS` order, for either engine's INSERT."""
        return (self.request_id, self.sid, self.client_id, self.source, self.payload, self.expires_at)


PENDING_COLUMNS = "request_id, sid, client_id, source, payload, expires_at"


@dataclass(frozen=True)
class PendingLimits:
    """The bounds of ``sessions.PendingRequests``: per source address, per client, in all."""

    max_per_source: int
    max_per_client: int
    max_entries: int

    def source_full(self, by_source: int) -> bool:
        """Whether a new request from this source must first drop that source's own oldest one."""
        return by_source >= self.max_per_source

    def refusal(
        self, client_id: str, *, by_client: int, total: int, evicted_client: str | None
    ) -> Literal["client", "server"] | None:
        """Which bucket refuses a new request of ``client_id``, counting the row the source drops.

        Both engines count with their own SQL and decide here, so the policy is written once.
        """
        if by_client - (evicted_client == client_id) >= self.max_per_client:
            return "client"
        if total - (evicted_client is not None) >= self.max_entries:
            return "server"
        return None


@dataclass(frozen=True)
class PendingRefusal:
    """Why :meth:`Store.add_pending` refused, and when the oldest row of that bucket expires."""

    bucket: Literal["client", "server"]
    oldest_expires_at: float


class Store(Protocol):
    """The storage interface every part of the AS uses."""

    async def add_client(self, client: ClientRecord) -> None: ...
    async def get_client(self, client_id: str) -> ClientRecord | None: ...

    async def add_code(self, code: CodeRecord) -> None: ...
    async def get_code(self, code_hash: str) -> CodeRecord | None: ...
    async def redeem_code(self, code_hash: str, grant: GrantRecord, jti: str, jti_expires_at: int) -> bool:
        """Mark the code used and create its grant, atomically; False if it was already used."""
        ...

    async def get_grant(self, grant_id: str) -> GrantRecord | None: ...
    async def revoke_grant(self, grant_id: str) -> None:
        """Revoke the grant, its refresh tokens and every access token recorded for it."""
        ...

    async def add_refresh_token(self, token: RefreshTokenRecord) -> None: ...
    async def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None: ...
    async def rotate_refresh_token(
        self, token_hash: str, successor: RefreshTokenRecord, now: int, grace_sec: int
    ) -> bool:
        """Exchange the token for ``successor`` atomically; False if that would be a reuse.

        An unrotated token is rotated. A token rotated at most ``grace_sec`` ago whose
        successor was never presented is rotated *again*: that successor dies and
        ``successor`` replaces it, so a family never has two live refresh tokens.
        """
        ...

    async def record_access_token(self, jti: str, grant_id: str, expires_at: int) -> None: ...
    async def revoke_jti(self, jti: str, expires_at: int) -> None: ...
    async def is_jti_revoked(self, jti: str) -> bool: ...

    async def add_signing_key(self, key: KeyRecord) -> None: ...
    async def add_first_signing_key(self, key: KeyRecord) -> bool:
        """Add ``key`` only if no unretired key of its ``alg`` exists, atomically; True if added.

        Several workers starting at once on an empty database each try; one key results.
        """
        ...

    async def signing_keys(self) -> list[KeyRecord]:
        """All keys, newest first."""
        ...

    async def retire_signing_key(self, kid: str, retire_at: int) -> None: ...

    async def shared_secret(self, name: str, candidate: str) -> str:
        """The secret stored under ``name``; stores ``candidate`` first if there is none."""
        ...

    async def save_user(self, user: UserRecord) -> None:
        """Keep ``user``, replacing what was known under its ``sub``."""
        ...

    async def get_user(self, sub: str) -> UserRecord | None: ...

    async def add_pending(
        self, record: PendingRecord, limits: PendingLimits, now: float
    ) -> PendingRefusal | None:
        """Store ``record`` within ``limits`` (``sessions.PendingRequests`` explains them).

        Atomically: drop expired rows; when the record's source is at its bound, its own
        oldest row makes room — but only if the record is accepted; refuse when the client,
        or the whole table, is full. Returns the refusal, or None when stored.
        """
        ...

    async def get_pending(self, request_id: str, now: float) -> PendingRecord | None: ...
    async def rebind_pending(self, request_id: str, sid: str, new_sid: str, now: float) -> None: ...
    async def delete_pending(self, request_id: str, sid: str) -> bool:
        """Delete the row of ``request_id`` if it is bound to ``sid``; True if this call deleted it."""
        ...

    async def count_pending(self, now: float) -> int: ...

    async def login_failures(self, keys: Sequence[str], since: float) -> dict[str, list[float]]:
        """The failure times after ``since`` of each key that has any, oldest first."""
        ...

    async def add_login_failures(self, keys: Sequence[str], at: float, forget_before: float) -> None:
        """Record a failure at ``at`` for each key; forget every failure before ``forget_before``."""
        ...

    async def clear_login_failures(self, key: str) -> None: ...

    async def purge_expired(self, now: int | None = None) -> None: ...
    async def close(self) -> None: ...

    async def use_client_assertion_jti(self, client_id: str, jti: str, expires_at: int) -> bool:
        """Remember ``jti`` for ``client_id`` until ``expires_at``; False if it was already used."""
        ...


class SqliteStore:
    """:class:`Store` on SQLite: a file under DATA_DIR, or ``:memory:`` for ``STORE=memory``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        # One connection is shared by the event loop and threadpool workers; SQLite's
        # own locking handles other processes (the key-rotation command, a second worker).
        self._lock = threading.RLock()
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Bring a database file written by an older version up to :data:`SCHEMA`."""
        with self._transaction() as conn:
            for table, columns in _ADDED_COLUMNS.items():
                present = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
                for name, declaration in columns.items():
                    if name not in present:
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")

    @classmethod
    def open(cls, path: Path) -> SqliteStore:
        return cls(open_database(path, SCHEMA))

    @classmethod
    def in_memory(cls) -> SqliteStore:
        return cls(open_memory_database(SCHEMA))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock up front, so a check-then-write sequence
        # inside the block cannot interleave with another writer.
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _one(self, sql: str, *args: object) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, args).fetchone()
            return row

    def _write(self, sql: str, *args: object) -> int:
        with self._transaction() as conn:
            return conn.execute(sql, args).rowcount

    # clients -----------------------------------------------------------------
    async def add_client(self, client: ClientRecord) -> None:
        self._write(
            "INSERT INTO clients (client_id, metadata, secret_hash, registration_token_hash, issued_at)"
            " VALUES (?, ?, ?, ?, ?)",
            client.client_id,
            json.dumps(client.metadata),
            client.secret_hash,
            client.registration_token_hash,
            client.issued_at,
        )

    async def get_client(self, client_id: str) -> ClientRecord | None:
        row = self._one("SELECT * FROM clients WHERE client_id = ?", client_id)
        return ClientRecord.from_row(row) if row is not None else None

    # authorization codes -----------------------------------------------------
    async def add_code(self, code: CodeRecord) -> None:
        self._write(
            "INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, redirect_uri_sent,"
            " code_challenge, scope, resource, sub, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            code.code_hash,
            code.client_id,
            code.redirect_uri,
            int(code.redirect_uri_sent),
            code.code_challenge,
            code.scope,
            code.resource,
            code.sub,
            code.expires_at,
        )

    async def get_code(self, code_hash: str) -> CodeRecord | None:
        row = self._one("SELECT * FROM authorization_codes WHERE code_hash = ?", code_hash)
        if row is None:
            return None
        return CodeRecord(
            **{k: row[k] for k in row.keys() if k not in ("used", "redirect_uri_sent")},
            redirect_uri_sent=bool(row["redirect_uri_sent"]),
            used=bool(row["used"]),
        )

    async def redeem_code(self, code_hash: str, grant: GrantRecord, jti: str, jti_expires_at: int) -> bool:
        with self._transaction() as conn:
            # The single UPDATE … WHERE used = 0 is what makes a code single-use: of two
            # concurrent redemptions exactly one sees rowcount 1.
            won = conn.execute(
                "UPDATE authorization_codes SET used = 1, grant_id = ? WHERE code_hash = ? AND used = 0",
                (grant.grant_id, code_hash),
            ).rowcount
            if not won:
                return False
            conn.execute(
                "INSERT INTO grants (grant_id, client_id, sub, scope, resource, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (grant.grant_id, grant.client_id, grant.sub, grant.scope, grant.resource, grant.created_at),
            )
            conn.execute(
                "INSERT INTO access_tokens (jti, grant_id, expires_at) VALUES (?, ?, ?)",
                (jti, grant.grant_id, jti_expires_at),
            )
            return True

    # grants and refresh tokens -------------------------------------------------
    async def get_grant(self, grant_id: str) -> GrantRecord | None:
        row = self._one("SELECT * FROM grants WHERE grant_id = ?", grant_id)
        if row is None:
            return None
        return GrantRecord(**{k: row[k] for k in row.keys() if k != "revoked"}, revoked=bool(row["revoked"]))

    async def revoke_grant(self, grant_id: str) -> None:
        with self._transaction() as conn:
            conn.execute("UPDATE grants SET revoked = 1 WHERE grant_id = ?", (grant_id,))
            conn.execute(
                "INSERT OR IGNORE INTO revoked_jtis (jti, expires_at)"
                " SELECT jti, expires_at FROM access_tokens WHERE grant_id = ?",
                (grant_id,),
            )

    async def add_refresh_token(self, token: RefreshTokenRecord) -> None:
        self._write(
            "INSERT INTO refresh_tokens (token_hash, grant_id, expires_at) VALUES (?, ?, ?)",
            token.token_hash,
            token.grant_id,
            token.expires_at,
        )

    async def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None:
        row = self._one("SELECT * FROM refresh_tokens WHERE token_hash = ?", token_hash)
        if row is None:
            return None
        return RefreshTokenRecord(
            row["token_hash"],
            row["grant_id"],
            row["expires_at"],
            bool(row["used"]),
            row["rotated_at"],
            row["successor_hash"],
        )

    async def rotate_refresh_token(
        self, token_hash: str, successor: RefreshTokenRecord, now: int, grace_sec: int
    ) -> bool:
        # One write transaction (BEGIN IMMEDIATE) decides, so concurrent requests — threads
        # or processes — are serialized: each sees the outcome of the one before.
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT used, rotated_at, successor_hash FROM refresh_tokens WHERE token_hash = ?",
                (token_hash,),
            ).fetchone()
            if row is None:
                return False
            if row["used"]:
                in_window = row["rotated_at"] is not None and now - row["rotated_at"] <= grace_sec
                if not in_window or row["successor_hash"] is None:
                    return False
                # A retry: only if the previous successor was never presented, and it dies now.
                superseded = conn.execute(
                    "UPDATE refresh_tokens SET used = 1 WHERE token_hash = ? AND used = 0",
                    (row["successor_hash"],),
                ).rowcount
                if not superseded:
                    return False
                conn.execute(
                    "UPDATE refresh_tokens SET successor_hash = ? WHERE token_hash = ?",
                    (successor.token_hash, token_hash),
                )
            else:
                conn.execute(
                    "UPDATE refresh_tokens SET used = 1, rotated_at = ?, successor_hash = ?"
                    " WHERE token_hash = ?",
                    (now, successor.token_hash, token_hash),
                )
            conn.execute(
                "INSERT INTO refresh_tokens (token_hash, grant_id, expires_at) VALUES (?, ?, ?)",
                (successor.token_hash, successor.grant_id, successor.expires_at),
            )
            return True

    # access tokens -------------------------------------------------------------
    async def record_access_token(self, jti: str, grant_id: str, expires_at: int) -> None:
        self._write(
            "INSERT INTO access_tokens (jti, grant_id, expires_at) VALUES (?, ?, ?)",
            jti,
            grant_id,
            expires_at,
        )

    async def revoke_jti(self, jti: str, expires_at: int) -> None:
        self._write("INSERT OR IGNORE INTO revoked_jtis (jti, expires_at) VALUES (?, ?)", jti, expires_at)

    async def is_jti_revoked(self, jti: str) -> bool:
        return self._one("SELECT 1 FROM revoked_jtis WHERE jti = ?", jti) is not None

    # signing keys --------------------------------------------------------------
    async def add_signing_key(self, key: KeyRecord) -> None:
        self._write(
            "INSERT INTO signing_keys (kid, alg, pem, created_at, retire_at) VALUES (?, ?, ?, ?, ?)",
            key.kid,
            key.alg,
            key.pem,
            key.created_at,
            key.retire_at,
        )

    async def signing_keys(self) -> list[KeyRecord]:
        with self._lock:
            rows = self._conn.execute("SELECT * FROM signing_keys ORDER BY created_at DESC").fetchall()
        return [KeyRecord(r["kid"], r["alg"], r["pem"], r["created_at"], r["retire_at"]) for r in rows]

    async def retire_signing_key(self, kid: str, retire_at: int) -> None:
        self._write(
            "UPDATE signing_keys SET retire_at = ? WHERE kid = ? AND retire_at IS NULL", retire_at, kid
        )

    async def add_first_signing_key(self, key: KeyRecord) -> bool:
        with self._transaction() as conn:
            current = conn.execute(
                "SELECT 1 FROM signing_keys WHERE alg = ? AND retire_at IS NULL", (key.alg,)
            ).fetchone()
            if current is not None:
                return False
            conn.execute(
                "INSERT INTO signing_keys (kid, alg, pem, created_at, retire_at) VALUES (?, ?, ?, ?, ?)",
                (key.kid, key.alg, key.pem, key.created_at, key.retire_at),
            )
            return True

    # secrets, pending requests, login failures -------------------------------------
    async def shared_secret(self, name: str, candidate: str) -> str:
        with self._transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)", (name, candidate))
            row = conn.execute("SELECT value FROM secrets WHERE name = ?", (name,)).fetchone()
        return str(row["value"])

    async def save_user(self, user: UserRecord) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO users (sub, name, email, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (sub) "
                "DO UPDATE SET name = excluded.name, email = excluded.email, "
                "updated_at = excluded.updated_at",
                (user.sub, user.name, user.email, user.updated_at),
            )

    async def get_user(self, sub: str) -> UserRecord | None:
        row = self._one("SELECT sub, name, email, updated_at FROM users WHERE sub = ?", sub)
        return UserRecord(**dict(row)) if row else None

    async def add_pending(
        self, record: PendingRecord, limits: PendingLimits, now: float
    ) -> PendingRefusal | None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM pending_requests WHERE expires_at <= ?", (now,))

            def oldest(where: str = "", *args: object) -> sqlite3.Row:
                # ``where`` is always one of the literal clauses below, never request data.
                row: sqlite3.Row = conn.execute(
                    f"SELECT request_id, client_id, expires_at FROM pending_requests {where}"  # noqa: S608
                    " ORDER BY seq LIMIT 1",
                    args,
                ).fetchone()
                return row

            def count(where: str = "", *args: object) -> int:
                sql = f"SELECT COUNT(*) FROM pending_requests {where}"  # noqa: S608 - as in oldest()
                return int(conn.execute(sql, args).fetchone()[0])

            evict = None
            if limits.source_full(count("WHERE source = ?", record.source)):
                evict = oldest("WHERE source = ?", record.source)
            refusal = limits.refusal(
                record.client_id,
                by_client=count("WHERE client_id = ?", record.client_id),
                total=count(),
                evicted_client=evict["client_id"] if evict is not None else None,
            )
            if refusal == "client":
                return PendingRefusal("client", oldest("WHERE client_id = ?", record.client_id)["expires_at"])
            if refusal == "server":
                return PendingRefusal("server", oldest()["expires_at"])
            if evict is not None:
                conn.execute("DELETE FROM pending_requests WHERE request_id = ?", (evict["request_id"],))
            conn.execute(
                f"INSERT INTO pending_requests ({PENDING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",  # noqa: S608
                record.values(),
            )
        return None

    async def get_pending(self, request_id: str, now: float) -> PendingRecord | None:
        row = self._one(
            f"SELECT {PENDING_COLUMNS} FROM pending_requests WHERE request_id = ? AND expires_at > ?",  # noqa: S608
            request_id,
            now,
        )
        return PendingRecord(**dict(row)) if row is not None else None

    async def rebind_pending(self, request_id: str, sid: str, new_sid: str, now: float) -> None:
        self._write(
            "UPDATE pending_requests SET sid = ? WHERE request_id = ? AND sid = ? AND expires_at > ?",
            new_sid,
            request_id,
            sid,
            now,
        )

    async def delete_pending(self, request_id: str, sid: str) -> bool:
        return (
            self._write("DELETE FROM pending_requests WHERE request_id = ? AND sid = ?", request_id, sid) == 1
        )

    async def count_pending(self, now: float) -> int:
        row = self._one("SELECT COUNT(*) FROM pending_requests WHERE expires_at > ?", now)
        return int(row[0]) if row is not None else 0

    async def login_failures(self, keys: Sequence[str], since: float) -> dict[str, list[float]]:
        failures: dict[str, list[float]] = {}
        with self._lock:
            for key in keys:
                rows = self._conn.execute(
                    "SELECT at FROM login_failures WHERE key = ? AND at > ? ORDER BY at", (key, since)
                ).fetchall()
                if rows:
                    failures[key] = [row["at"] for row in rows]
        return failures

    async def add_login_failures(self, keys: Sequence[str], at: float, forget_before: float) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM login_failures WHERE at <= ?", (forget_before,))
            conn.executemany(
                "INSERT INTO login_failures (key, at) VALUES (?, ?)", [(key, at) for key in keys]
            )

    async def clear_login_failures(self, key: str) -> None:
        self._write("DELETE FROM login_failures WHERE key = ?", key)

    # housekeeping ----------------------------------------------------------------
    async def purge_expired(self, now: int | None = None) -> None:
        """Drop rows nobody can use any more; grants stay while a refresh token of theirs lives."""
        now = int(time.time()) if now is None else now
        with self._transaction() as conn:
            conn.execute("DELETE FROM authorization_codes WHERE expires_at < ?", (now - 86400,))
            conn.execute("DELETE FROM refresh_tokens WHERE expires_at < ?", (now,))
            conn.execute("DELETE FROM access_tokens WHERE expires_at < ?", (now,))
            conn.execute("DELETE FROM revoked_jtis WHERE expires_at < ?", (now,))
            conn.execute("DELETE FROM signing_keys WHERE retire_at IS NOT NULL AND retire_at < ?", (now,))
            conn.execute("DELETE FROM client_assertion_jtis WHERE expires_at < ?", (now,))
            conn.execute("DELETE FROM pending_requests WHERE expires_at < ?", (now,))

    async def close(self) -> None:
        with self._lock:
            self._conn.close()

    # client assertions (RFC 7523 §3) ---------------------------------------------
    async def use_client_assertion_jti(self, client_id: str, jti: str, expires_at: int) -> bool:
        # The primary key decides: of two requests carrying the same assertion exactly one
        # inserts the row. A row whose time is up (not purged yet) no longer blocks its jti.
        with self._transaction() as conn:
            conn.execute(
                "DELETE FROM client_assertion_jtis WHERE client_id = ? AND jti = ? AND expires_at < ?",
                (client_id, jti, int(time.time())),
            )
            inserted = conn.execute(
                "INSERT OR IGNORE INTO client_assertion_jtis (client_id, jti, expires_at) VALUES (?, ?, ?)",
                (client_id, jti, expires_at),
            ).rowcount
        return bool(inserted == 1)
