"""Sending the browser back to the client: the authorization response (RFC 6749 §4.1.2).

Every redirect to a client — an error (§4.1.2.1), a denial or a code — goes through
:func:`redirect_to_client`, which checks the server's redirect policy
(``redirect_uris.RedirectPolicy``) once more, so no path can send a browser to a URI that did
not pass, and adds ``iss`` (RFC 9207) so the client can tell which server answered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi.responses import RedirectResponse

from auth_server.errors import Refused
from auth_server.pages import PageError

if TYPE_CHECKING:
    from auth_server.context import AuthContext


def check_redirect_policy(context: AuthContext, redirect_uri: str) -> None:
    """An error page unless ``redirect_uri`` passes this server's redirect policy."""
    try:
        context.redirect_policy.check(redirect_uri)
    except Refused as exc:
        raise PageError("Redirect URI not allowed", exc.description, status_code=400) from None


def redirect_to_client(
    context: AuthContext, redirect_uri: str, params: dict[str, str | None]
) -> RedirectResponse:
    """Redirect to ``redirect_uri`` with ``params`` and ``iss`` (RFC 9207) added to its query.

    The policy is checked here, at the one place that sends a browser to a client, so that a
    future caller cannot forget it.
    """
    check_redirect_policy(context, redirect_uri)
    parts = urlsplit(redirect_uri)
    issuer = context.settings.auth_issuer
    extra = urlencode({k: v for k, v in {**params, "iss": issuer}.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    # 303: after the consent form's POST the browser must GET the redirect URI.
    return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=303)
