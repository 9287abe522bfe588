"""The OAuth client side of the end-to-end tests: :mod:`mcp_oauth_demo.flow` against a :class:`Pair`.

Discovery (RFC 8414), Dynamic Client Registration (RFC 7591), the authorization request with
PKCE S256 (RFC 7636) and a ``resource`` (RFC 8707), and the token exchange (RFC 6749 §4.1.3) are
the project's one client flow; this module only binds it to a running pair of servers.
The user's part — login and consent — is played either by a real browser (``test_browser.py``)
or by :func:`token_via_flow`, which hands it to the project's httpx user agent.
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt

from mcp_oauth_demo import flow
from mcp_oauth_demo import oauth_client as oc
from mcp_oauth_demo.constants import DEMO_PASSWORD as DEMO_PASSWORD  # re-exported for test_browser
from mcp_oauth_demo.constants import DEMO_SCOPE, DEMO_USERNAME
from mcp_oauth_demo.flow import AuthorizationRequest
from mcp_oauth_demo.launcher import Pair, free_port
from shared.scopes import NOTES_READ, PROFILE_READ, format_scope

DEMO_USER = DEMO_USERNAME
# Less than everything, as most clients ask: the read scopes, no refresh token.
DEFAULT_SCOPE = format_scope((PROFILE_READ, NOTES_READ))


def discovery(pair: Pair) -> flow.Discovery:
    with httpx.Client(timeout=10) as http:
        return flow.discover_issuer(http, pair.issuer, pair.mcp_url)


def as_metadata(pair: Pair) -> dict[str, Any]:
    return discovery(pair).metadata


def register_client(pair: Pair, *, client_name: str, redirect_uri: str) -> str:
    """Register a public client (``token_endpoint_auth_method: none``) by DCR; returns its client_id."""
    with httpx.Client(timeout=10) as http:
        return flow.register(http, discovery(pair), client_name=client_name, redirect_uri=redirect_uri)


def registration(
    pair: Pair, *, client_name: str, redirect_uri: str | None = None, scope: str = DEMO_SCOPE
) -> dict[str, Any]:
    """The whole RFC 7591 §3.2.1 answer for a public client (SDK clients keep all of it).

    The redirect URI is a free loopback port unless given (RFC 8252 §7.3).
    """
    with httpx.Client(timeout=10) as http:
        response = oc.register_client(
            http,
            discovery(pair).endpoint("registration_endpoint"),
            redirect_uri or loopback_redirect_uri(),
            name=client_name,
            scope=scope,
        )
    assert response.status_code == 201, response.text
    return dict(response.json())


def authorization_request(
    pair: Pair, *, client_id: str, redirect_uri: str, scope: str = DEFAULT_SCOPE
) -> AuthorizationRequest:
    return flow.authorization_request(
        discovery(pair), client_id=client_id, redirect_uri=redirect_uri, scope=scope
    )


def code_from_redirect(request: AuthorizationRequest, location: str, issuer: str) -> str:
    """Check the authorization response (RFC 6749 §4.1.2, RFC 9207 ``iss``) and return the code."""
    assert request.issuer == issuer, (request.issuer, issuer)
    return flow.code_from_redirect(request, location)


def exchange_code(pair: Pair, request: AuthorizationRequest, code: str) -> dict[str, Any]:
    """``grant_type=authorization_code`` at the token endpoint; returns the token response."""
    with httpx.Client(timeout=10) as http:
        return flow.exchange(http, discovery(pair), request, code)


def verified_claims(pair: Pair, access_token: str) -> dict[str, Any]:
    """The access token's claims, after checking its signature against the AS's JWKS (RFC 9068 §4)."""
    key = jwt.PyJWKClient(as_metadata(pair)["jwks_uri"]).get_signing_key_from_jwt(access_token)
    header = jwt.get_unverified_header(access_token)
    assert header.get("typ", "").lower() in ("at+jwt", "application/at+jwt"), header
    return jwt.decode(
        access_token, key, algorithms=[header["alg"]], audience=pair.mcp_url, issuer=pair.issuer
    )


def loopback_redirect_uri() -> str:
    """A loopback redirect URI on a free port (RFC 8252 §7.3), as native MCP clients use."""
    return f"http://127.0.0.1:{free_port()}/callback"


def token_via_flow(pair: Pair, *, scope: str = DEFAULT_SCOPE, client_name: str = "e2e test client") -> str:
    """An access token for the demo user, through :func:`mcp_oauth_demo.flow.sign_in`.

    DCR with a loopback redirect, authorization request with PKCE, login and consent played by
    the httpx user agent in its own cookie jar (which stops at the redirect), then the code exchange.
    """
    with httpx.Client(timeout=10) as http, httpx.Client(timeout=10) as browser:
        signed_in = flow.sign_in(
            http,
            discovery(pair),
            client_name=client_name,
            scope=scope,
            redirect_uri=loopback_redirect_uri(),
            browser=browser,
        )
    return signed_in.access_token


def every_tool(note: str) -> list[tuple[str, dict[str, str]]]:
    """Each of the five tools once (public and optional ones included), as ``(name, arguments)``."""
    return [
        ("notes_add", {"text": note}),
        ("notes_list", {}),
        ("auth_whoami", {}),
        ("notes_teaser", {}),
        ("auth_show", {}),
    ]
