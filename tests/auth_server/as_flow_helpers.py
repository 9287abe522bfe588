"""Drive the authorization server like a client and a browser would — for tests.

Everything takes an ``httpx.Client`` whose base URL is the AS (a starlette ``TestClient``
is one), so the same helpers serve the in-process tests and the real-uvicorn tests.
They step through the AS's own pages with an assertion on each answer, which is what its tests
look at; a client's whole flow, with the client's checks, is :mod:`mcp_oauth_demo.flow`.
Imported as ``tests.auth_server.as_flow_helpers`` from any test folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from mcp_oauth_demo.constants import DEMO_PASSWORD, DEMO_USERNAME
from mcp_oauth_demo.user_agent import parse_page
from shared.pkce import make_pair

LOOPBACK_REDIRECT = "http://127.0.0.1:8765/callback"
RESOURCE = "http://localhost:3000/mcp"


def register_client(http: httpx.Client, **metadata: Any) -> dict[str, Any]:
    """Register a client (public, loopback redirect, unless ``metadata`` says otherwise)."""
    body = {
        "client_name": "Test Client",
        "redirect_uris": [LOOPBACK_REDIRECT],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        **metadata,
    }
    response = http.post("/oauth2/register", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of a login or consent page (the CSRF token and the request id).

    Read by the user agent's HTML form parser (:func:`mcp_oauth_demo.user_agent.parse_page`).
    """
    forms = parse_page(page, "").forms
    return {c.name: c.value for form in forms for c in form.controls if c.type == "hidden" and c.name}


def query_of(location: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def authorize_params(client_id: str, challenge: str, **overrides: Any) -> dict[str, Any]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": LOOPBACK_REDIRECT,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "state-123",
        "resource": RESOURCE,
    }
    params.update(overrides)
    return {name: value for name, value in params.items() if value is not None}


def start_authorization(http: httpx.Client, params: dict[str, Any]) -> httpx.Response:
    return http.get("/oauth2/authorize", params=params, follow_redirects=False)


def login(
    http: httpx.Client, login_url: str, username: str = DEMO_USERNAME, password: str = DEMO_PASSWORD
) -> httpx.Response:
    """GET the login page, then post it with its CSRF token, like a browser."""
    page = http.get(login_url, follow_redirects=False)
    assert page.status_code == 200, page.text
    form = hidden_fields(page.text) | {"username": username, "password": password}
    return http.post("/oauth2/login", data=form, follow_redirects=False)


def consent(http: httpx.Client, consent_url: str, action: str = "approve") -> httpx.Response:
    page = http.get(consent_url, follow_redirects=False)
    assert page.status_code == 200, page.text
    return http.post(
        "/oauth2/consent", data=hidden_fields(page.text) | {"action": action}, follow_redirects=False
    )


def authorize_in_browser(
    http: httpx.Client,
    params: dict[str, Any],
    *,
    username: str = DEMO_USERNAME,
    password: str = DEMO_PASSWORD,
    action: str = "approve",
) -> dict[str, str]:
    """Authorization request → login (if needed) → consent; returns the redirect's query."""
    response = start_authorization(http, params)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    if location.startswith("/oauth2/login"):
        response = login(http, location, username, password)
        assert response.status_code == 303, response.text
        location = response.headers["location"]
    assert location.startswith("/oauth2/consent"), location
    response = consent(http, location, action)
    assert response.status_code == 303, response.text
    return query_of(response.headers["location"])


def exchange_code(
    http: httpx.Client,
    client_id: str,
    code: str,
    verifier: str,
    *,
    redirect_uri: str = LOOPBACK_REDIRECT,
    client_secret: str | None = None,
    basic: bool = False,
    **extra: str,
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": redirect_uri,
    }
    return post_token(http, form | extra, client_id, client_secret=client_secret, basic=basic)


def refresh(
    http: httpx.Client, client_id: str, refresh_token: str, *, client_secret: str | None = None, **extra: str
) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return post_token(http, form | extra, client_id, client_secret=client_secret)


def post_token(
    http: httpx.Client,
    form: dict[str, str],
    client_id: str,
    *,
    client_secret: str | None = None,
    basic: bool = False,
    path: str = "/oauth2/token",
) -> httpx.Response:
    if basic:
        return http.post(path, data=form, auth=(client_id, client_secret or ""))
    credentials = {"client_id": client_id} | ({"client_secret": client_secret} if client_secret else {})
    return http.post(path, data=form | credentials)


def introspect_with(http: httpx.Client, introspector: dict[str, Any], token: str) -> dict[str, Any]:
    """RFC 7662 introspection of ``token`` by a registered confidential client; the JSON answer."""
    response = post_token(
        http,
        {"token": token},
        introspector["client_id"],
        client_secret=introspector["client_secret"],
        path="/oauth2/introspect",
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


@dataclass
class Tokens:
    """What a test needs after a full flow: the client, the token response and the PKCE pair."""

    client: dict[str, Any]
    response: dict[str, Any]
    verifier: str
    code: str

    @property
    def access_token(self) -> str:
        return str(self.response["access_token"])

    @property
    def refresh_token(self) -> str:
        return str(self.response["refresh_token"])

    @property
    def client_id(self) -> str:
        return str(self.client["client_id"])


def get_tokens(
    http: httpx.Client,
    client: dict[str, Any] | None = None,
    *,
    username: str = DEMO_USERNAME,
    password: str = DEMO_PASSWORD,
    **params: Any,
) -> Tokens:
    """The whole flow — register (unless given) → authorize → login → consent → token."""
    client = client or register_client(http)
    verifier, challenge = make_pair()
    query = authorize_in_browser(
        http,
        authorize_params(client["client_id"], challenge, **params),
        username=username,
        password=password,
    )
    assert "code" in query, query
    response = exchange_code(
        http,
        client["client_id"],
        query["code"],
        verifier,
        client_secret=client.get("client_secret"),
        redirect_uri=params.get("redirect_uri", LOOPBACK_REDIRECT),
    )
    assert response.status_code == 200, response.text
    return Tokens(client=client, response=response.json(), verifier=verifier, code=query["code"])
