"""Dynamic Client Registration (RFC 7591), the RFC 7592 read, and the redirect URI policy."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from auth_server.redirect_uris import (
    RedirectPolicy,
    RedirectURIError,
    redirect_matches,
    resolve_application_type,
)
from auth_server.store import secret_hash
from shared.settings import DEFAULT_REDIRECT_URIS
from tests.auth_server.as_flow_helpers import LOOPBACK_REDIRECT, register_client


def register(as_client: TestClient, **metadata: Any) -> Any:
    return as_client.post("/oauth2/register", json={"redirect_uris": [LOOPBACK_REDIRECT], **metadata})


def assert_error(response: Any, error: str, *, mentions: str = "", status: int = 400) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert mentions in body["error_description"], body


def test_public_client_registration(as_client: TestClient) -> None:
    response = register(as_client, client_name="Claude", token_endpoint_auth_method="none")
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["client_name"] == "Claude"
    assert body["redirect_uris"] == [LOOPBACK_REDIRECT]
    assert body["token_endpoint_auth_method"] == "none"
    assert body["application_type"] == "native"  # inferred from the loopback redirect
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert isinstance(body["client_id_issued_at"], int)
    assert "client_secret" not in body
    assert body["registration_client_uri"] == f"http://localhost:4000/oauth2/register/{body['client_id']}"
    assert body["registration_access_token"]


def test_confidential_registration_returns_the_secret_once_and_stores_its_hash(as_client: TestClient) -> None:
    body = register(as_client).json()  # RFC 7591 §2: the default method is client_secret_basic
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["client_secret_expires_at"] == 0
    stored = as_client.portal.call(as_client.app.state.context.store.get_client, body["client_id"])  # type: ignore[attr-defined]
    assert stored.secret_hash == secret_hash(body["client_secret"])
    assert body["client_secret"] not in str(stored.metadata)
    assert stored.registration_token_hash == secret_hash(body["registration_access_token"])


def test_rfc7592_read_with_and_without_the_registration_token(as_client: TestClient) -> None:
    body = register(as_client, client_name="Reader").json()
    uri = body["registration_client_uri"].removeprefix("http://localhost:4000")
    ok = as_client.get(uri, headers={"Authorization": f"Bearer {body['registration_access_token']}"})
    assert ok.status_code == 200
    assert ok.json()["client_id"] == body["client_id"]
    assert ok.json()["client_name"] == "Reader"
    assert "client_secret" not in ok.json()
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {body['registration_access_token']}"},
    ):
        refused = as_client.get(uri, headers=headers)
        assert_error(refused, "invalid_token", status=401)
        assert refused.headers["www-authenticate"].startswith("Bearer")
    other = as_client.get(
        "/oauth2/register/not-a-client",
        headers={"Authorization": f"Bearer {body['registration_access_token']}"},
    )
    assert_error(other, "invalid_token", status=401)


@pytest.mark.parametrize(
    "redirect",
    [
        "https://chatgpt.com/connector_platform_oauth_redirect",
        "https://chatgpt.com/connector/oauth/abc123",
        "https://claude.ai/api/mcp/auth_callback",
        "http://127.0.0.1:33418/callback",
        "http://[::1]:8080/cb",
        "http://localhost:6274/oauth/callback",
        "http://localhost/cb",
    ],
)
def test_allowed_redirects(as_client: TestClient, redirect: str) -> None:
    assert register(as_client, redirect_uris=[redirect]).status_code == 201


@pytest.mark.parametrize(
    ("redirect", "mentions"),
    [
        ("https://evil.example/callback", "OAUTH_ALLOWED_REDIRECT_URIS"),
        ("https://chatgpt.com/connector_platform_oauth_redirect/extra", "not allowed"),
        ("https://chatgpt.com.evil.example/connector/oauth/x", "not allowed"),
        ("https://chatgpt.com/connector/oauth/../../evil", "not allowed"),
        ("http://chatgpt.com/connector/oauth/x", "not allowed"),
        ("https://user@chatgpt.com/connector/oauth/x", "user:password@"),
        ("javascript:alert(1)", "javascript"),
        ("data:text/html,<script>alert(1)</script>", "data"),
        ("JavaScript://localhost/%0aalert(1)", "javascript"),
        ("http://127.0.0.1:8765/cb#frag", "fragment"),
        ("/callback", "not absolute"),
        ("callback", "not absolute"),
        ("http://127.0.0.1:99999/cb", "not a valid URL"),
        ("http://127.0.0.1/a b", "whitespace"),
        ("myapp:/cb", "reverse domain"),
    ],
)
def test_refused_redirects(as_client: TestClient, redirect: str, mentions: str) -> None:
    assert_error(register(as_client, redirect_uris=[redirect]), "invalid_redirect_uri", mentions=mentions)


def test_allowlist_comes_from_the_environment(make_client: Any) -> None:
    as_client = make_client(oauth_allowed_redirect_uris="https://app.example/cb,https://app.example/t/*")
    assert register(as_client, redirect_uris=["https://app.example/cb"]).status_code == 201
    assert register(as_client, redirect_uris=["https://app.example/t/42"]).status_code == 201
    assert_error(
        register(as_client, redirect_uris=["https://claude.ai/api/mcp/auth_callback"]), "invalid_redirect_uri"
    )
    assert register(as_client, redirect_uris=["http://127.0.0.1:1/cb"]).status_code == 201  # loopback: always


def test_application_type_is_checked_against_redirects(as_client: TestClient) -> None:
    claude = "https://claude.ai/api/mcp/auth_callback"
    assert (
        register(as_client, application_type="web", redirect_uris=[claude]).json()["application_type"]
        == "web"
    )
    assert register(as_client, redirect_uris=[claude]).json()["application_type"] == "web"  # inferred
    native = register(as_client, application_type="native", redirect_uris=[LOOPBACK_REDIRECT])
    assert native.json()["application_type"] == "native"
    assert_error(
        register(as_client, application_type="desktop"),
        "invalid_client_metadata",
        mentions="application_type",
    )


def test_a_web_client_cannot_use_a_private_use_scheme() -> None:
    """RFC 8252 §7.1 schemes belong to native apps (the allowlist setting admits no such scheme,
    so this rule shows in client metadata documents and here)."""
    with pytest.raises(RedirectURIError, match="native"):
        resolve_application_type("web", ["com.example.app:/cb"])
    assert resolve_application_type(None, ["com.example.app:/cb"]) == "native"
    assert resolve_application_type("native", ["https://claude.ai/cb"]) == "native"


@pytest.mark.parametrize(
    ("metadata", "mentions"),
    [
        ({"redirect_uris": []}, "redirect_uris"),
        ({"redirect_uris": "http://127.0.0.1/cb"}, "redirect_uris"),
        ({"redirect_uris": [f"http://127.0.0.1/cb{i}" for i in range(11)]}, "redirect_uris"),
        ({"redirect_uris": [42]}, "redirect_uris.0"),
        ({"redirect_uris": ["https://claude.ai/" + "a" * 2100]}, "at most 2000 characters"),
        ({"client_name": "x" * 201}, "client_name"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "token_endpoint_auth_method"),
        ({"grant_types": ["implicit"]}, "grant_types"),
        ({"grant_types": ["refresh_token"]}, "authorization_code"),
        ({"response_types": ["token"]}, "response_types"),
        ({"scope": "notes:read admin"}, "admin"),
        ({"contacts": ["a@example.com"] * 11}, "contacts"),
    ],
)
def test_invalid_client_metadata(as_client: TestClient, metadata: dict, mentions: str) -> None:
    assert_error(register(as_client, **metadata), "invalid_client_metadata", mentions=mentions)


def test_missing_redirect_uris(as_client: TestClient) -> None:
    response = as_client.post("/oauth2/register", json={"client_name": "x"})
    assert_error(response, "invalid_client_metadata", mentions="redirect_uris")


@pytest.mark.parametrize(
    ("kwargs", "mentions", "status"),
    [
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, "not valid JSON", 400),
        ({"content": b"[1, 2]", "headers": {"Content-Type": "application/json"}}, "JSON object", 400),
        ({"content": b"\xff", "headers": {"Content-Type": "application/json"}}, "UTF-8", 400),
        ({"content": b"[" * 100_000, "headers": {"Content-Type": "application/json"}}, "larger than", 413),
        ({"content": b"[" * 50_000, "headers": {"Content-Type": "application/json"}}, "not valid JSON", 400),
        ({"data": {"redirect_uris": LOOPBACK_REDIRECT}}, "application/json", 400),
        ({"content": b"{}", "headers": {}}, "application/json", 400),
    ],
)
def test_malformed_registration_bodies(
    as_client: TestClient, kwargs: dict, mentions: str, status: int
) -> None:
    assert_error(
        as_client.post("/oauth2/register", **kwargs),
        "invalid_client_metadata",
        mentions=mentions,
        status=status,
    )


def test_unknown_metadata_is_ignored(as_client: TestClient) -> None:
    body = register(as_client, software_statement_x="ignored", logo_uri="https://x.example/logo.png").json()
    assert "software_statement_x" not in body
    assert body["logo_uri"] == "https://x.example/logo.png"


def test_registered_clients_get_distinct_ids(as_client: TestClient) -> None:
    ids = {register_client(as_client)["client_id"] for _ in range(5)}
    assert len(ids) == 5


# -- the policy as a unit ------------------------------------------------------------------------
def test_prefix_entries_match_only_below_their_path() -> None:
    policy = RedirectPolicy(DEFAULT_REDIRECT_URIS)
    policy.check("https://chatgpt.com/connector/oauth/x?y=1")
    for uri in (
        "https://chatgpt.com/connector/oauthx",
        "https://CHATGPT.com:8443/connector/oauth/x",
        "https://chatgpt.com/connector/oauth/%2e%2e/x",
    ):
        with pytest.raises(RedirectURIError):
            policy.check(uri)


def test_loopback_matching_ignores_only_the_port() -> None:
    assert redirect_matches("http://127.0.0.1:5000/cb", "http://127.0.0.1/cb")
    assert redirect_matches("http://localhost:5000/cb", "http://localhost:6000/cb")
    assert not redirect_matches("http://127.0.0.1:5000/cb2", "http://127.0.0.1/cb")
    assert not redirect_matches("http://localhost:5000/cb", "http://127.0.0.1:5000/cb")
    assert not redirect_matches(
        "https://claude.ai:444/api/mcp/auth_callback", "https://claude.ai/api/mcp/auth_callback"
    )
