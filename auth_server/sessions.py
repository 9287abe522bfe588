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
The pending requests are in process memory: the demo runs one process; a multi-worker
deployment would put them in the store. They are bounded per source address and per
client, never globally first-in-first-out, so a flood of anonymous authorization requests
cannot push out a real user's sign-in in progress (see :class:`PendingRequests`).

The signing secret is ``SESSION_SECRET`` or, when unset, a random one generated once and
kept in ``DATA_DIR/session_secret`` (mode 0600), so sessions survive a restart.
"""

from __future__ import annotations

import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Generic, Literal, TypeVar

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from shared.settings import ConfigError, Settings

COOKIE_NAME = "mcp_as_session"
COOKIE_PATH = "/oauth2"
SESSION_MAX_AGE_SEC = 8 * 3600
SECRET_FILE = "session_secret"

T = TypeVar("T")


def load_session_secret(settings: Settings) -> str:
    """``SESSION_SECRET``, else the secret persisted in DATA_DIR (created on first start)."""
    if settings.session_secret:
        return settings.session_secret
    if settings.store == "memory":
        return secrets.token_urlsafe(32)
    path = Path(settings.data_dir) / SECRET_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            secret = path.read_text().strip()
        else:
            secret = secrets.token_urlsafe(32)
            with os.fdopen(fd, "w") as file:
                file.write(secret)
    except OSError as exc:
        raise ConfigError(
            f"DATA_DIR={settings.data_dir}: cannot read or create {path} ({exc.strerror}); "
            "make DATA_DIR writable or set SESSION_SECRET"
        ) from None
    if len(secret) < 32:
        raise ConfigError(
            f"DATA_DIR={settings.data_dir}: {path} is too short; delete it to generate a new one"
        )
    return secret


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


@dataclass
class _Pending(Generic[T]):
    expires: float
    sid: str
    client_id: str
    source: str
    item: T


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

    Refusals carry ``retry_after``: when the oldest row of the full bucket expires. Rows
    expire in insertion order (one TTL for all), so expiry pops from the front: O(1) per
    request, not a scan of the table.
    """

    ttl_sec = 600
    max_entries = 10_000
    max_per_client = 1_000
    max_per_source = 50

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._items: OrderedDict[str, _Pending[T]] = OrderedDict()
        # Insertion-ordered request ids per bucket (dicts keep order; values unused).
        self._by_client: dict[str, dict[str, None]] = {}
        self._by_source: dict[str, dict[str, None]] = {}

    def add(self, item: T, sid: str, *, client_id: str, source: str) -> str:
        """Keep ``item``; raises :class:`PendingRequestsFull` rather than drop another party's row."""
        now = self._clock()
        self._expire(now)
        same_source = self._by_source.get(source, {})
        # A full address bucket makes room by dropping that address's own oldest row — but
        # only once we know the new row will be accepted, so a refusal costs it nothing.
        evict = next(iter(same_source)) if len(same_source) >= self.max_per_source else None
        same_client = self._by_client.get(client_id, {})
        if len(same_client) - (evict in same_client) >= self.max_per_client:
            raise PendingRequestsFull("client", self._retry_after(next(iter(same_client)), now))
        if len(self._items) - (evict is not None) >= self.max_entries:
            raise PendingRequestsFull("server", self._retry_after(next(iter(self._items)), now))
        if evict is not None:
            self._remove(evict)
        request_id = secrets.token_urlsafe(16)
        self._items[request_id] = _Pending(now + self.ttl_sec, sid, client_id, source, item)
        self._by_client.setdefault(client_id, {})[request_id] = None
        self._by_source.setdefault(source, {})[request_id] = None
        return request_id

    def get(self, request_id: str | None, sid: str) -> T | None:
        self._expire(self._clock())
        entry = self._items.get(request_id or "")
        if entry is None or not secrets.compare_digest(entry.sid, sid):
            return None
        return entry.item

    def rebind(self, request_id: str, old_sid: str, new_sid: str) -> None:
        if self.get(request_id, old_sid) is not None:
            self._items[request_id].sid = new_sid

    def pop(self, request_id: str | None, sid: str) -> T | None:
        item = self.get(request_id, sid)
        if item is not None:
            self._remove(request_id or "")
        return item

    def __len__(self) -> int:
        return len(self._items)

    def _retry_after(self, request_id: str, now: float) -> int:
        return max(1, int(self._items[request_id].expires - now) + 1)

    def _remove(self, request_id: str) -> None:
        entry = self._items.pop(request_id)
        for buckets, key in ((self._by_client, entry.client_id), (self._by_source, entry.source)):
            bucket = buckets[key]
            del bucket[request_id]
            if not bucket:
                del buckets[key]

    def _expire(self, now: float) -> None:
        while self._items:
            request_id, entry = next(iter(self._items.items()))
            if entry.expires > now:
                return
            self._remove(request_id)
