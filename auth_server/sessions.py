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
deployment would put them in the store.

The signing secret is ``SESSION_SECRET`` or, when unset, a random one generated once and
kept in ``DATA_DIR/session_secret`` (mode 0600), so sessions survive a restart.
"""

from __future__ import annotations

import os
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Generic, TypeVar

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


class PendingRequests(Generic[T]):
    """Validated authorization requests awaiting login and consent, bound to a session id."""

    ttl_sec = 600
    max_entries = 10_000

    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[float, str, T]] = OrderedDict()

    def add(self, item: T, sid: str) -> str:
        self._expire()
        request_id = secrets.token_urlsafe(16)
        self._items[request_id] = (time.monotonic() + self.ttl_sec, sid, item)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)
        return request_id

    def get(self, request_id: str | None, sid: str) -> T | None:
        self._expire()
        entry = self._items.get(request_id or "")
        if entry is None or not secrets.compare_digest(entry[1], sid):
            return None
        return entry[2]

    def rebind(self, request_id: str, old_sid: str, new_sid: str) -> None:
        item = self.get(request_id, old_sid)
        if item is not None:
            self._items[request_id] = (self._items[request_id][0], new_sid, item)

    def pop(self, request_id: str | None, sid: str) -> T | None:
        item = self.get(request_id, sid)
        if item is not None:
            del self._items[request_id or ""]
        return item

    def _expire(self) -> None:
        now = time.monotonic()
        for request_id in [rid for rid, (expires, _, _) in self._items.items() if expires <= now]:
            del self._items[request_id]
