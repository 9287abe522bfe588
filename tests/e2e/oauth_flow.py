"""The OAuth client side of the end-to-end tests, as an MCP client performs it.

Discovery (RFC 8414), Dynamic Client Registration (RFC 7591), the authorization request with
PKCE S256 (RFC 7636) and a ``resource`` (RFC 8707), and the token exchange (RFC 6749 §4.1.3).
The user's part — login and consent — is played either by a real browser (``test_browser.py``)
or by :func:`token_via_flow`, which hands it to the project's httpx user agent.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt

from mcp_oauth_demo.launcher import Pair, free_port
from shared.pkce import make_pair

DEMO_USER = "alex"
DEMO_PASSWORD = "password"
DEFAULT_SCOPE = "profile:read notes:read"


def as_metadata(pair: Pair) -> dict[str, Any]:
    response = httpx.get(pair.issuer + "/.well-known/oauth-authorization-server", timeout=10)
    response.raise_for_status()
    return response.json()


@dataclass(frozen=True)
class AuthorizationRequest:
    """One authorization request: what the client sent and must remember for the token exchange."""

    url: str
    client_id: str
    redirect_uri: str
    state: str
    code_verifier: str
    resource: str


def register_client(pair: Pair, *, client_name: str, redirect_uri: str) -> str:
    """Register a public client (``token_endpoint_auth_method: none``) by DCR; returns its client_id."""
    response = httpx.post(
        as_metadata(pair)["registration_endpoint"],
        json={
            "client_name": client_name,
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        },
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["client_id"]


def authorization_request(
    pair: Pair, *, client_id: str, redirect_uri: str, scope: str = DEFAULT_SCOPE
) -> AuthorizationRequest:
    verifier, challenge = make_pair()
    state = secrets.token_urlsafe(16)
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": state,
        "scope": scope,
        "resource": pair.mcp_url,
    }
    url = as_metadata(pair)["authorization_endpoint"] + "?" + urlencode(query)
    return AuthorizationRequest(url, client_id, redirect_uri, state, verifier, pair.mcp_url)


def code_from_redirect(request: AuthorizationRequest, location: str, issuer: str) -> str:
    """Check the authorization response (RFC 6749 §4.1.2, RFC 9207 ``iss``) and return the code."""
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == request.redirect_uri, location
    params = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert "error" not in params, params
    assert params.get("state") == request.state, params
    assert params.get("iss") == issuer, params
    assert params.get("code"), params
    return params["code"]


def exchange_code(pair: Pair, request: AuthorizationRequest, code: str) -> dict[str, Any]:
    """``grant_type=authorization_code`` at the token endpoint; returns the token response."""
    response = httpx.post(
        as_metadata(pair)["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.redirect_uri,
            "client_id": request.client_id,
            "code_verifier": request.code_verifier,
            "resource": request.resource,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens.get("token_type", "").lower() == "bearer", tokens
    assert tokens.get("access_token"), tokens
    return tokens


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
    """An access token for the demo user, through the whole flow with the project's httpx user agent.

    DCR with a loopback redirect, authorization request with PKCE, login and consent played by
    :func:`mcp_oauth_demo.user_agent.sign_in` (which stops at the redirect), then the code exchange.
    """
    from mcp_oauth_demo.user_agent import sign_in

    redirect_uri = loopback_redirect_uri()
    client_id = register_client(pair, client_name=client_name, redirect_uri=redirect_uri)
    request = authorization_request(pair, client_id=client_id, redirect_uri=redirect_uri, scope=scope)
    with httpx.Client(timeout=10) as user_agent:
        response = sign_in(user_agent, request.url, username=DEMO_USER, password=DEMO_PASSWORD)
    code = code_from_redirect(request, response.redirect_url, pair.issuer)
    return exchange_code(pair, request, code)["access_token"]
