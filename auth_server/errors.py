"""Error responses of the authorization server (RFC 6749 §4.1.2.1 and §5.2, RFC 7591 §3.2.2,
RFC 7009 §2.2.1, RFC 8707 §2).

Every endpoint only ever *raises* :class:`OAuthError`; the one handler in
``error_handlers.py`` decides how the client hears about it:

* an error that carries a ``redirect_uri`` — one the authorization endpoint has already
  trusted (``authorization_requests.py``) — is a redirect to it with ``error``,
  ``error_description``, ``state`` and ``iss`` (RFC 6749 §4.1.2.1, RFC 9207);
* every other one is the JSON every client-facing endpoint answers with::

    {"error": "invalid_grant", "error_description": "what is wrong and how to fix it"}

``error`` is one of :data:`ErrorCode`, the codes the RFCs define, so a typo is a type error.
Descriptions pass through :func:`safe_description` where they are rendered: RFC 6749 §5.2
allows only printable ASCII without ``"`` and ``\\``, and a description often quotes what the
client sent. Browser-facing pages raise :class:`pages.PageError` instead, which renders HTML
(see ``pages.py``).

Helpers deeper down (the fetch fence, metadata documents, key sets, assertions, redirect
URI checks) raise a :class:`Refused` subclass with a ``description``; the endpoint that
called them decides which OAuth error (or page) that becomes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

# RFC 6749 §5.1: responses carrying tokens or errors about them must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

ErrorCode = Literal[
    # RFC 6749 §4.1.2.1 (authorization endpoint) and §5.2 (token endpoint)
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "unsupported_response_type",
    "invalid_scope",
    "access_denied",
    "server_error",
    "temporarily_unavailable",
    # RFC 6750 §3.1
    "invalid_token",
    "insufficient_scope",
    # RFC 7591 §3.2.2
    "invalid_redirect_uri",
    "invalid_client_metadata",
    # RFC 7009 §2.2.1
    "unsupported_token_type",
    # RFC 8707 §2
    "invalid_target",
]


class OAuthError(Exception):
    """An OAuth error for the client; ``description`` says what is wrong and how to fix it.

    With ``redirect_uri`` (and the request's ``state``) it is reported by redirecting the
    browser there — only ever a URI the authorization endpoint has trusted.
    """

    def __init__(
        self,
        error: ErrorCode,
        description: str,
        *,
        status_code: int = 400,
        headers: Mapping[str, str] | None = None,
        redirect_uri: str | None = None,
        state: str | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error: ErrorCode = error
        self.description = description
        self.status_code = status_code
        self.headers = dict(headers or {})
        self.redirect_uri = redirect_uri
        self.state = state

    def redirected(self, redirect_uri: str, state: str | None) -> OAuthError:
        """The same error, to be reported at ``redirect_uri`` (RFC 6749 §4.1.2.1)."""
        return OAuthError(
            self.error,
            self.description,
            status_code=self.status_code,
            headers=self.headers,
            redirect_uri=redirect_uri,
            state=state,
        )


def invalid_client(description: str, *, basic: bool = False) -> OAuthError:
    """``invalid_client`` with HTTP 401 — and ``WWW-Authenticate: Basic`` when the client tried
    HTTP Basic authentication, as RFC 6749 §5.2 requires."""
    headers = {"WWW-Authenticate": 'Basic realm="mcp-oauth-demo", charset="UTF-8"'} if basic else {}
    return OAuthError("invalid_client", description, status_code=401, headers=headers)


class Refused(Exception):
    """Something a helper will not use — a URL, a document, a key — and why (``description``)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


_READABLE = {
    "\u2014": "-",
    "\u2013": "-",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": "'",
    "\u201d": "'",
    '"': "'",
}


def safe_description(text: str) -> str:
    """``text`` in the characters RFC 6749 §5.2 allows in ``error_description``.

    Printable ASCII except ``"`` and ``\\``: dashes and quotes become their ASCII look-alikes,
    anything else is written as ``U+XXXX`` so the client still sees what it sent.
    """
    out = []
    for ch in text:
        ch = _READABLE.get(ch, ch)
        if ch in "\t\n\r":
            out.append(" ")
        elif 0x20 <= ord(ch) <= 0x7E and ch != "\\":
            out.append(ch)
        else:
            out.append(f"U+{ord(ch):04X}")
    return "".join(out)
