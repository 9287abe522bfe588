"""CSRF tokens for the login and consent forms.

Without them, another site could post the consent form from the user's browser (the
session cookie rides along) and approve a client the user never saw. The token is an
HMAC of the session id under the session secret: a page of another origin cannot read it,
and it stops working when the session changes — no server-side state needed.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from auth_server.errors import OAuthError
from auth_server.pages import PageError
from auth_server.params import Params, read_form
from auth_server.sessions import BrowserSession, SessionManager
from shared.pkce import b64url

FIELD = "csrf_token"


def csrf_token(secret: bytes, sid: str) -> str:
    return b64url(hmac.new(secret, b"csrf:" + sid.encode(), hashlib.sha256).digest())


def csrf_valid(secret: bytes, sid: str, submitted: str | None) -> bool:
    # Compared as bytes: compare_digest refuses str with non-ASCII characters (a TypeError,
    # i.e. a 500) and the submitted value is whatever a form — or an attacker — posted.
    return submitted is not None and hmac.compare_digest(
        csrf_token(secret, sid).encode(), submitted.encode("utf-8", "surrogatepass")
    )


async def read_protected_form(request: Request, sessions: SessionManager) -> tuple[Params, BrowserSession]:
    """The posted form and the browser session, once the CSRF token proves the form is ours."""
    try:
        form = await read_form(request)
        submitted = form.get(FIELD)
    except OAuthError as exc:
        raise PageError("Invalid form", exc.description) from None
    session = sessions.load(request)
    if not csrf_valid(sessions.secret, session.sid, submitted):
        raise PageError(
            "This form has expired",
            "The form's security token does not match your browser session (it expired, cookies are blocked, "
            "or the form came from another site). Start again from the application.",
            status_code=403,
        )
    return form, session
