"""IDENTITY=oidc against a real OpenID Provider: node-oidc-provider (``tests/e2e/oidc_provider.mjs``).

The AS runs in-process (its pages through starlette's TestClient, as a browser would see
them); the provider runs as a real Node process on 127.0.0.1, and the AS talks to it over real
HTTP (discovery, token endpoint, JWKS). The browser's visit to the provider — its development
login and consent forms — goes over real HTTP too, with a cookie jar of its own. The last
test runs both servers as real processes and ends with a tool call carrying the token.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from starlette.testclient import TestClient

import auth_server.upstream
from mcp_oauth_demo.launcher import free_port
from mcp_oauth_demo.oauth_client import McpSession
from mcp_oauth_demo.user_agent import parse_page
from shared.pkce import make_pair
from tests.auth_server.as_flow_helpers import (
    authorize_params,
    exchange_code,
    hidden_fields,
    query_of,
    refresh,
    register_client,
    start_authorization,
)
from tests.auth_server.as_support import ISSUER
from tests.e2e.node_tools import NodeTools
from tests.e2e.oauth_flow import (
    authorization_request,
    code_from_redirect,
    loopback_redirect_uri,
)
from tests.e2e.oauth_flow import exchange_code as exchange_at
from tests.e2e.oauth_flow import register_client as register_by_dcr
from tests.e2e.upstream_provider import CLIENT_ID, CLIENT_SECRET, pair_behind_provider, running_provider

CALLBACK = f"{ISSUER}/oauth2/upstream/callback"


@pytest.fixture(autouse=True)
def _clean_environment(clean_environment: None) -> None:
    pass


@pytest.fixture(scope="module")
def provider(node_tools: NodeTools) -> Iterator[str]:
    """The provider for the in-process AS (issuer ``ISSUER``); it runs for the whole module."""
    with running_provider(node_tools, CALLBACK) as issuer:
        yield issuer


@pytest.fixture
def make_as(make_client: Callable[..., TestClient], provider: str) -> Callable[..., TestClient]:
    """The in-process AS (the shared ``make_client``) signing users in through the provider."""

    def factory(**overrides: Any) -> TestClient:
        return make_client(
            **(
                {
                    "identity": "oidc",
                    "upstream_issuer": provider,
                    "upstream_client_id": CLIENT_ID,
                    "upstream_client_secret": CLIENT_SECRET,
                }
                | overrides
            )
        )

    return factory


def _to_consent(as_client: TestClient) -> tuple[dict[str, Any], str, str]:
    """Register an MCP client and start its authorization: the AS shows its consent page first."""
    client = register_client(as_client)
    verifier, challenge = make_pair()
    response = start_authorization(as_client, authorize_params(client["client_id"], challenge))
    assert response.status_code == 303, response.text
    consent_url = response.headers["location"]
    assert consent_url.startswith("/oauth2/consent"), consent_url
    return client, verifier, consent_url


def _approve(as_client: TestClient, consent_url: str) -> httpx.Response:
    page = as_client.get(consent_url)
    assert page.status_code == 200 and "data-upstream" in page.text
    return as_client.post(
        "/oauth2/consent", data=hidden_fields(page.text) | {"action": "approve"}, follow_redirects=False
    )


def _sign_in_upstream(
    authorize_url: str, login: str = "pat", *, callback: str = CALLBACK, browser: httpx.Client | None = None
) -> str:
    """Be the browser at the provider: its login form, then its consent form; returns the callback URL."""
    if browser is None:
        with httpx.Client(timeout=10) as fresh:
            return _sign_in_upstream(authorize_url, login, callback=callback, browser=fresh)
    url = authorize_url
    for _ in range(12):
        response = browser.get(url)
        while response.is_redirect:
            url = str(response.next_request.url) if response.next_request else ""
            if url.startswith(callback):
                return url
            response = browser.get(url)
        assert response.status_code == 200, response.text[:500]
        form = parse_page(response.text, str(response.url)).forms[0]
        fields = form.fields(form.submit_buttons[0] if form.submit_buttons else None)
        if "login" in fields:
            fields |= {"login": login, "password": "anything"}
        response = browser.post(httpx.URL(str(response.url)).join(form.action), data=fields)
        if response.is_redirect and response.next_request is not None:
            url = str(response.next_request.url)
            if url.startswith(callback):
                return url
    raise AssertionError("the provider never sent the browser back")


def _callback(as_client: TestClient, callback_url: str) -> httpx.Response:
    parts = urlsplit(callback_url)
    return as_client.get(f"{parts.path}?{parts.query}", follow_redirects=False)


def test_consent_then_upstream_login_then_token(make_as: Callable[..., TestClient], provider: str) -> None:
    as_client = make_as()
    client, verifier, consent_url = _to_consent(as_client)
    leaving = _approve(as_client, consent_url)
    assert leaving.status_code == 303
    upstream = httpx.URL(leaving.headers["location"])
    assert str(upstream).startswith(f"{provider}/auth")
    params = dict(upstream.params)
    assert params["code_challenge_method"] == "S256" and params["nonce"] and len(params["state"]) >= 22
    assert params["redirect_uri"] == CALLBACK and params["client_id"] == CLIENT_ID

    back = _callback(as_client, _sign_in_upstream(str(upstream), login="pat"))
    assert back.status_code == 303, back.text
    query = query_of(back.headers["location"])
    tokens = exchange_code(as_client, client["client_id"], query["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"].startswith("oidc_") and claims["sub"] != "pat"
    assert claims["email"] == "pat@idp.example" and claims["name"] == "pat of the IdP"
    assert "id_token" not in body and params["state"] not in body["access_token"]  # nothing upstream passes
    again = refresh(as_client, client["client_id"], body["refresh_token"])
    refreshed = jwt.decode(again.json()["access_token"], options={"verify_signature": False})
    assert refreshed["sub"] == claims["sub"]


def test_refresh_after_a_restart_still_knows_the_upstream_user(make_as: Callable[..., TestClient]) -> None:
    as_client = make_as()
    client, verifier, consent_url = _to_consent(as_client)
    back = _callback(as_client, _sign_in_upstream(_approve(as_client, consent_url).headers["location"]))
    code = query_of(back.headers["location"])["code"]
    tokens = exchange_code(as_client, client["client_id"], code, verifier).json()
    restarted = make_as()  # another AS on the same DATA_DIR: nothing of the first one's memory
    again = refresh(restarted, client["client_id"], tokens["refresh_token"])
    assert again.status_code == 200, again.text
    assert (
        jwt.decode(again.json()["access_token"], options={"verify_signature": False})["email"]
        == "pat@idp.example"
    )


def test_same_upstream_user_gets_the_same_subject(make_as: Callable[..., TestClient]) -> None:
    as_client = make_as()
    subjects = []
    for _ in range(2):
        as_client.cookies.clear()
        client, verifier, consent_url = _to_consent(as_client)
        back = _callback(as_client, _sign_in_upstream(_approve(as_client, consent_url).headers["location"]))
        code = query_of(back.headers["location"])["code"]
        token = exchange_code(as_client, client["client_id"], code, verifier).json()["access_token"]
        subjects.append(jwt.decode(token, options={"verify_signature": False})["sub"])
    assert subjects[0] == subjects[1]


def test_tampered_replayed_or_foreign_state_continues_nothing(make_as: Callable[..., TestClient]) -> None:
    as_client = make_as()
    _, _, consent_url = _to_consent(as_client)
    callback = _sign_in_upstream(_approve(as_client, consent_url).headers["location"])
    state = dict(httpx.URL(callback).params)["state"]
    forged = state[:-2] + ("aa" if state[-2:] != "aa" else "bb")
    tampered = _callback(as_client, callback.replace(state, forged))
    assert tampered.status_code == 400 and "cannot be continued" in tampered.text
    cookies = dict(as_client.cookies)
    as_client.cookies.clear()  # another browser with the same link
    assert _callback(as_client, callback).status_code == 400
    as_client.cookies.update(cookies)
    assert _callback(as_client, callback).status_code == 303  # the right browser, once
    replayed = _callback(as_client, callback)
    assert replayed.status_code == 400 and "location" not in replayed.headers


def test_user_not_on_the_allow_list_gets_a_page_and_no_code(make_as: Callable[..., TestClient]) -> None:
    as_client = make_as(allowed_email_domains="example.org")
    _, _, consent_url = _to_consent(as_client)
    back = _callback(as_client, _sign_in_upstream(_approve(as_client, consent_url).headers["location"]))
    assert back.status_code == 403 and "allow list" in back.text and "location" not in back.headers


def test_provider_down_is_a_page_not_a_500(make_as: Callable[..., TestClient]) -> None:
    as_client = make_as(upstream_issuer=f"http://127.0.0.1:{free_port()}")
    _, _, consent_url = _to_consent(as_client)
    response = _approve(as_client, consent_url)
    assert response.status_code == 502 and "cannot be reached" in response.text


def test_wrong_client_secret_is_a_page_naming_the_setting(make_as: Callable[..., TestClient]) -> None:
    as_client = make_as(upstream_client_secret="not-the-secret-the-provider-knows-0123")
    _, _, consent_url = _to_consent(as_client)
    back = _callback(as_client, _sign_in_upstream(_approve(as_client, consent_url).headers["location"]))
    assert back.status_code == 502 and "UPSTREAM_CLIENT_SECRET" in back.text


def test_access_denied_upstream_is_a_page(make_as: Callable[..., TestClient]) -> None:
    as_client = make_as()
    _, _, consent_url = _to_consent(as_client)
    upstream = httpx.URL(_approve(as_client, consent_url).headers["location"])
    state = dict(upstream.params)["state"]
    denied = _callback(as_client, f"{CALLBACK}?error=access_denied&state={state}")
    assert denied.status_code == 403 and "cancelled" in denied.text


def test_no_demo_password_signs_in_when_the_provider_decides(make_as: Callable[..., TestClient]) -> None:
    as_client = make_as()
    _, _, consent_url = _to_consent(as_client)
    request_id = dict(httpx.URL(consent_url).params)["request_id"]
    page = as_client.get(f"/oauth2/login?request_id={request_id}", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/oauth2/consent")
    fields = hidden_fields(as_client.get(consent_url).text)
    posted = as_client.post(
        "/oauth2/login",
        data=fields | {"username": "alex", "password": "password"},
        follow_redirects=False,
    )
    assert posted.status_code == 200 and "Wrong username or password." in posted.text


def test_mcp_client_to_tool_call_through_the_provider(node_tools: NodeTools, tmp_path: Path) -> None:
    """Both servers as real processes: register → our consent → the provider's login → token → tool."""
    with pair_behind_provider(node_tools, tmp_path) as pair:
        redirect_uri = loopback_redirect_uri()
        client_id = register_by_dcr(pair, client_name="upstream e2e", redirect_uri=redirect_uri)
        request = authorization_request(pair, client_id=client_id, redirect_uri=redirect_uri)
        browser = httpx.Client(timeout=10)
        consent = browser.get(request.url, follow_redirects=True)
        assert consent.status_code == 200 and "data-upstream" in consent.text
        leaving = browser.post(
            f"{pair.issuer}/oauth2/consent",
            data=hidden_fields(consent.text) | {"action": "approve"},
            follow_redirects=False,
        )
        assert leaving.status_code == 303, leaving.text
        back_at = _sign_in_upstream(
            leaving.headers["location"],
            "robin",
            callback=f"{pair.issuer}/oauth2/upstream/callback",
            browser=browser,
        )
        answer = browser.get(back_at, follow_redirects=False)
        browser.close()
        assert answer.status_code == 303, answer.text
        code = code_from_redirect(request, answer.headers["location"], pair.issuer)
        token = exchange_at(pair, request, code)["access_token"]
        with httpx.Client(timeout=10) as http:
            session = McpSession(http, pair.mcp_url, access_token=token)
            session.initialize("upstream e2e")
            response, message = session.call_tool("auth_whoami", {})
    assert response.status_code == 200, response.text
    assert message["result"]["structuredContent"]["email"] == "robin@idp.example"


def test_a_slow_provider_is_a_page_not_a_500(
    make_as: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider that accepts the connection and never answers: the AS gives up with a page."""
    monkeypatch.setattr(auth_server.upstream, "UPSTREAM_TIMEOUT_SEC", 0.5)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        as_client = make_as(upstream_issuer=f"http://127.0.0.1:{silent.getsockname()[1]}")
        _, _, consent_url = _to_consent(as_client)
        started = time.monotonic()
        response = _approve(as_client, consent_url)
    assert response.status_code == 502 and "cannot be reached" in response.text
    assert "ReadTimeout" in response.text and time.monotonic() - started < 5
