"""Every path this authorization server answers on, written once.

Routes, the metadata document (RFC 8414 §2), the CORS table, the pages' forms and links,
error messages and tests all read these names, so an endpoint moves by changing one line.
The issuer has no path (RFC 8414 §3), so discovery lives at the root's ``/.well-known/``.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlencode

OAUTH2_PREFIX: Final = "/oauth2"  # every endpoint and page below is under it
METADATA: Final = "/.well-known/oauth-authorization-server"  # RFC 8414 §3
OPENID_CONFIGURATION: Final = "/.well-known/openid-configuration"  # the same document, for OIDC clients
AUTHORIZE: Final = "/oauth2/authorize"  # RFC 6749 §3.1
TOKEN: Final = "/oauth2/token"  # RFC 6749 §3.2
REGISTER: Final = "/oauth2/register"  # RFC 7591 §3
JWKS: Final = "/oauth2/jwks"  # RFC 8414 §2 jwks_uri
REVOKE: Final = "/oauth2/revoke"  # RFC 7009 §2
INTROSPECT: Final = "/oauth2/introspect"  # RFC 7662 §2
LOGIN: Final = "/oauth2/login"
LOGOUT: Final = "/oauth2/logout"
CONSENT: Final = "/oauth2/consent"
UPSTREAM_CALLBACK: Final = "/oauth2/upstream/callback"  # registered at the upstream provider
STYLESHEET: Final = "/oauth2/static/style.css"

PUBLIC_ENDPOINTS: Final = (METADATA, OPENID_CONFIGURATION, JWKS, REGISTER, TOKEN, REVOKE, INTROSPECT)
"""The endpoints a browser-based client calls with ``fetch``: they get CORS (``app.py``)."""

PAGES: Final = {"login": LOGIN, "logout": LOGOUT, "consent": CONSENT, "stylesheet": STYLESHEET}
"""The paths the HTML templates link to and post to, passed to every page as ``paths``."""


def with_request_id(path: str, request_id: str) -> str:
    """``path`` carrying the id of a pending authorization request (``sessions.PendingRequests``)."""
    return f"{path}?{urlencode({'request_id': request_id})}"
