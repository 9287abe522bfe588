"""The browser session between the authorization request, the login and the consent pages.

Two pieces of state live between those pages:

* **who is signed in** — a cookie signed with itsdangerous (HMAC-SHA-256 over the JSON
  payload, with a timestamp checked on every read). It carries a random session id
  ``sid``, the user's ``sub`` and the sign-in time; it is ``HttpOnly``, ``SameSite=Lax``,
  ``Secure`` when the issuer is https, and scoped to ``/oauth2``. A user who is still signed
  in skips the login page on the next authorization.
* **what the client asked for** — the validated authorization request is kept on the
  server (:class:`PendingRequests`), under a random id that is bound to the ``sid``. The
  pages only carry that id, so nobody can edit the client, redirect URI or scopes between
  the pages, and an id copied into another browser is useless.

Signing in replaces the ``sid`` (no session fixation) and moves the pending request along.
The pending requests live in the store, so any worker process can serve any of the pages.
They are bounded per source address and per client, never globally first-in-first-out, so
a flood of anonymous authorization requests cannot push out a real user's sign-in in
progress (see :class:`PendingRequests`).

The signing secret is ``SESSION_SECRET`` or, when unset, a random one generated on the
first start and kept in the store (the SQLite file or the PostgreSQL database), so sessions
survive a restart and every worker signs with the same one.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Generic, Literal, TypeVar

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from auth_server.store import PendingLimits, PendingRecord, Store
from shared.settings import ConfigError, Settings

COOKIE_NAME = "mcp_as_session"
COOKIE_PATH = "/oauth2"
SESSION_MAX_AGE_SEC = 8 * 3600
SECRET_FILE = "session_secret"  # where versions before the shared store kept it
SECRET_NAME = "session_secret"

T = TypeVar("T")


async def load_session_secret(settings: Settings, store: Store) -> str:
    """``SESSION_SECRET``, else the one secret every worker shares, created once in the store.

    Workers starting at once each propose a random secret; the store keeps the first and
    hands it to all (``Store.shared_secret``), so none can read a half-written one. A secret
    an older version kept in ``DATA_DIR/session_secret`` is proposed first, so sessions
    survive the upgrade.
    """
    if settings.session_secret:
        return settings.session_secret
    candidate = secrets.token_urlsafe(32)
    legacy = Path(settings.data_dir) / SECRET_FILE
    if settings.database_engine != "memory" and legacy.is_file():
        try:
            kept = legacy.read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"DATA_DIR={settings.data_dir}: cannot read {legacy} ({exc.strerror}); "
                "make it readable, delete it, or set SESSION_SECRET"
            ) from None
        if len(kept) >= 32:
            candidate = kept
    return await store.shared_secret(SECRET_NAME, candidate)


@dataclass(frozen=True)
class BrowserSession:
    sid: str
    sub: str | None = None
    auth_time: int | None = None


class SessionManager:
    def __init__(self, secret: str, *, secure: bool) -> None:
        self.secret = secret.encode()
        self._serializer = URLSafeTimedSerializer(secret, salt="mcp-oauth-demo session")
        self._secure = secure

    def load(self, request: Request) -> BrowserSession:
        """The session of the cookie, or a new anonymous one when absent, forged or too old."""
        cookie = request.cookies.get(COOKIE_NAME)
        if cookie:
            try:
                data = self._serializer.loads(cookie, max_age=SESSION_MAX_AGE_SEC)
                return BrowserSession(
                    sid=str(data["sid"]), sub=data.get("sub"), auth_time=data.get("auth_time")
                )
            except (BadSignature, KeyError, TypeError):
                pass
        return BrowserSession(sid=secrets.token_urlsafe(16))

    def save(self, response: Response, session: BrowserSession) -> None:
        response.set_cookie(
            COOKIE_NAME,
            self._serializer.dumps({"sid": session.sid, "sub": session.sub, "auth_time": session.auth_time}),
            max_age=SESSION_MAX_AGE_SEC,
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=self._secure,
        )

    @staticmethod
    def signed_in(sub: str) -> BrowserSession:
        return BrowserSession(sid=secrets.token_urlsafe(16), sub=sub, auth_time=int(time.time()))

    @staticmethod
    def signed_out(session: BrowserSession) -> BrowserSession:
        return replace(session, sid=secrets.token_urlsafe(16), sub=None, auth_time=None)


class PendingRequestsFull(Exception):
    """No room for another pending request; ``retry_after`` is when a slot frees up (seconds)."""

    def __init__(self, bucket: Literal["client", "server"], retry_after: int) -> None:
        super().__init__(f"too many pending authorization requests for this {bucket}")
        self.bucket = bucket
        self.retry_after = retry_after


class PendingRequests(Generic[T]):
    """Validated authorization requests awaiting login and consent, bound to a session id.

    **The threat.** ``GET /oauth2/authorize`` needs no credentials, and each valid request
    takes a row here for :attr:`ttl_sec`. With one global first-in-first-out bound, 10,050
    anonymous requests in 39 s pushed a real user's sign-in in progress out of the table.
    So the bounds are per party, and nobody can push out anybody else's row:

    * **per source address** (:attr:`max_per_source` = 50): the remote address the ASGI
      server reports (``request.client.host``). A 51st request from one address drops the
      *oldest of that address*. That address is the only identity an anonymous request
      has that it cannot choose; uvicorn replaces it with ``X-Forwarded-For`` only when the
      peer is in ``FORWARDED_ALLOW_IPS`` (default 127.0.0.1 — the ngrok agent), taking the
      rightmost untrusted entry, so a forged header does not buy a new bucket. The price:
      people behind one NAT share a bucket of 50.
    * **per client** (:attr:`max_per_client` = 1,000): a client's requests beyond that are
      *refused* (429), never evicted. ``client_id`` is public — anyone can send Claude's —
      so evicting within a client's bucket would let a flood sent "as Claude" end real
      Claude users' sign-ins; refusing only delays new ones, and only that client's.
      Filling one client's bucket takes 20 source addresses (1,000 / 50).
    * **global hard cap** (:attr:`max_entries` = 10,000): beyond it every new request is
      refused (503) until rows expire, whatever it is for. Reaching it takes 200 source
      addresses; a flood from fewer only ever replaces its own rows.

    What is left: an attacker with 20 (or 200) addresses can delay new sign-ins to one
    client (or to all) for as long as it keeps flooding — a denial of service, shown to the
    user as a page that says when to retry. No flood can end a sign-in already in progress.
    Measured in-process (``TestClient``, one 2-core machine): 10,050 requests from one
    address take ~66 s and leave 51 rows (the flood's 50 and the user's); the user's
    sign-in completes.

    Refusals carry ``retry_after``: when the oldest row of the full bucket expires.

    **Where the rows live.** In the store (``Store.add_pending``), not in this process: with
    several workers the login page may be served by another process than the authorization
    request was. The store applies the three bounds in one transaction that takes a lock
    first, so concurrent requests — from any worker — cannot together overshoot a bound.
    Times are wall-clock seconds (``time.time``), the one clock all workers share. An item
    is stored as the JSON of its dataclass fields and rebuilt as ``item_type``.
    """

    ttl_sec = 600
    max_entries = 10_000
    max_per_client = 1_000
    max_per_source = 50

    def __init__(self, store: Store, item_type: type[T], clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._item_type = item_type
        self._clock = clock

    @property
    def limits(self) -> PendingLimits:
        return PendingLimits(self.max_per_source, self.max_per_client, self.max_entries)

    async def add(self, item: T, sid: str, *, client_id: str, source: str) -> str:
        """Keep ``item``; raises :class:`PendingRequestsFull` rather than drop another party's row."""
        now = self._clock()
        request_id = secrets.token_urlsafe(16)
        payload = json.dumps(asdict(item))  # type: ignore[call-overload]
        record = PendingRecord(request_id, sid, client_id, source, payload, now + self.ttl_sec)
        refusal = await self._store.add_pending(record, self.limits, now)
        if refusal is not None:
            raise PendingRequestsFull(refusal.bucket, max(1, int(refusal.oldest_expires_at - now) + 1))
        return request_id

    async def get(self, request_id: str | None, sid: str) -> T | None:
        record = await self._store.get_pending(request_id or "", self._clock()) if request_id else None
        if record is None or not secrets.compare_digest(record.sid, sid):
            return None
        return self._item_type(**json.loads(record.payload))

    async def rebind(self, request_id: str, old_sid: str, new_sid: str) -> None:
        if await self.get(request_id, old_sid) is not None:
            await self._store.rebind_pending(request_id, old_sid, new_sid, self._clock())

    async def pop(self, request_id: str | None, sid: str) -> T | None:
        """The item, removed; of concurrent pops (a double-submitted form) only one gets it."""
        item = await self.get(request_id, sid)
        if item is None or not await self._store.delete_pending(request_id or "", sid):
            return None
        return item

    async def count(self) -> int:
        """How many unexpired requests are pending, in all workers."""
        return await self._store.count_pending(self._clock())
