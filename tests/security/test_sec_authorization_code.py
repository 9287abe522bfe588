"""Attacks on the authorization code (RFC 9700 §2.1, §4.1, §4.5, §4.8; OAuth 2.1 §4.1; MCP authorization).

Each test plays the attacker against the AS app in-process and asserts the attack's outcome:
PKCE downgrade and verifier misuse, code replay (which must also revoke what the code issued),
a code redeemed by another client, with another ``redirect_uri`` or for another ``resource``,
and ``redirect_uri`` manipulation at the authorization endpoint, which must end on an error
page — never on a redirect, or the AS would be an open redirector (RFC 9700 §4.11.1).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from shared.pkce import make_pair
from tests.auth_server.as_flow_helpers import (
    LOOPBACK_REDIRECT,
    authorize_in_browser,
    authorize_params,
    exchange_code,
    get_tokens,
    introspect_with,
    query_of,
    refresh,
    register_client,
    start_authorization,
)

CLAUDE_CALLBACK = "https://claude.ai/api/mcp/auth_callback"  # in the default allowlist


def error_redirect(response: Any) -> dict[str, str]:
    """The query of an error redirect to the registered (trusted) redirect URI."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(LOOPBACK_REDIRECT + "?"), location
    return query_of(location)


def assert_error_page(response: Any, title: str) -> None:
    """No redirect at all: an HTML page, so the AS cannot be used as an open redirector."""
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert title in response.text


def code_for(as_client: TestClient, client: dict[str, Any], challenge: str, **params: Any) -> str:
    query = authorize_in_browser(as_client, authorize_params(client["client_id"], challenge, **params))
    return query["code"]


# -- PKCE (RFC 7636, RFC 9700 §2.1.1) -------------------------------------------------------
def test_pkce_missing_is_refused(as_client: TestClient) -> None:
    client = register_client(as_client)
    params = authorize_params(client["client_id"], "x", code_challenge=None, code_challenge_method=None)
    query = error_redirect(start_authorization(as_client, params))
    assert query["error"] == "invalid_request" and "PKCE is required" in query["error_description"]


def test_pkce_plain_is_refused(as_client: TestClient) -> None:
    client = register_client(as_client)
    verifier, _ = make_pair()
    # A 'plain' challenge is the verifier itself: anyone who sees the request can redeem the code.
    params = authorize_params(client["client_id"], verifier[:43], code_challenge_method="plain")
    query = error_redirect(start_authorization(as_client, params))
    assert query["error"] == "invalid_request" and "plain" in query["error_description"]


def test_pkce_wrong_verifier_is_invalid_grant_and_does_not_burn_the_code(as_client: TestClient) -> None:
    client = register_client(as_client)
    verifier, challenge = make_pair()
    code = code_for(as_client, client, challenge)
    wrong, _ = make_pair()
    response = exchange_code(as_client, client["client_id"], code, wrong)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    # The legitimate client, holding the real verifier, still gets its tokens.
    assert exchange_code(as_client, client["client_id"], code, verifier).status_code == 200


def test_pkce_verifier_of_one_code_does_not_redeem_another(as_client: TestClient) -> None:
    """An attacker who learned a verifier (e.g. from a log) cannot use it for the next code."""
    client = register_client(as_client)
    first = get_tokens(as_client, client)
    _, second_challenge = make_pair()
    second_code = code_for(as_client, client, second_challenge)
    response = exchange_code(as_client, client["client_id"], second_code, first.verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert "code_verifier" in response.json()["error_description"]


# -- code replay (RFC 6749 §4.1.2, RFC 9700 §4.5; policy in auth_server/token.py) ------------
def confidential_tokens(as_client: TestClient) -> Any:
    """Tokens of a confidential client, which can introspect them (its own) to see their state."""
    client = register_client(as_client, token_endpoint_auth_method="client_secret_post")
    return get_tokens(as_client, client)


def replay(as_client: TestClient, tokens: Any, verifier: str) -> Any:
    return exchange_code(
        as_client, tokens.client_id, tokens.code, verifier, client_secret=tokens.client["client_secret"]
    )


def test_intercepted_code_replayed_without_the_verifier_gets_nothing_and_signs_nobody_out(
    as_client: TestClient,
) -> None:
    tokens = confidential_tokens(as_client)
    attacker_verifier, _ = make_pair()
    response = replay(as_client, tokens, attacker_verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert "access_token" not in response.json()
    assert introspect_with(as_client, tokens.client, tokens.access_token)["active"] is True
    assert introspect_with(as_client, tokens.client, tokens.refresh_token)["active"] is True


def test_code_replayed_with_the_verifier_much_later_revokes_the_first_tokens(
    as_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two holders of the verifier: the first exchange's tokens are revoked (RFC 9700 §4.5)."""
    from auth_server.token import RETRY_WINDOW_SEC

    tokens = confidential_tokens(as_client)
    moment = time.time() + RETRY_WINDOW_SEC + 1
    monkeypatch.setattr("auth_server.token.time.time", lambda: moment)
    response = replay(as_client, tokens, tokens.verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert "access_token" not in response.json()
    assert introspect_with(as_client, tokens.client, tokens.access_token) == {"active": False}
    assert introspect_with(as_client, tokens.client, tokens.refresh_token) == {"active": False}
    refreshed = refresh(
        as_client, tokens.client_id, tokens.refresh_token, client_secret=tokens.client["client_secret"]
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


# -- the code is bound to client, redirect_uri and resource (RFC 6749 §4.1.3, RFC 8707 §2.2) --
def test_code_redeemed_by_another_client_is_refused(as_client: TestClient) -> None:
    victim, attacker = register_client(as_client), register_client(as_client)
    verifier, challenge = make_pair()
    code = code_for(as_client, victim, challenge)
    response = exchange_code(as_client, attacker["client_id"], code, verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert "another client" in response.json()["error_description"]


def test_code_redeemed_with_another_redirect_uri_is_refused(as_client: TestClient) -> None:
    client = register_client(as_client, redirect_uris=[LOOPBACK_REDIRECT, "http://127.0.0.1:8765/other"])
    verifier, challenge = make_pair()
    code = code_for(as_client, client, challenge)
    for other in (
        "http://127.0.0.1:8765/other",
        "http://127.0.0.1:8765/callback/",
        "https://evil.example/cb",
    ):
        response = exchange_code(as_client, client["client_id"], code, verifier, redirect_uri=other)
        assert response.status_code == 400 and response.json()["error"] == "invalid_grant", other


def test_code_redeemed_for_another_resource_is_refused(as_client: TestClient) -> None:
    client = register_client(as_client)
    verifier, challenge = make_pair()
    code = code_for(as_client, client, challenge)
    response = exchange_code(
        as_client, client["client_id"], code, verifier, resource="https://other.example/mcp"
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_target"


def test_authorization_for_another_resource_is_refused(as_client: TestClient) -> None:
    client = register_client(as_client)
    _, challenge = make_pair()
    params = authorize_params(client["client_id"], challenge, resource="https://other.example/mcp")
    assert error_redirect(start_authorization(as_client, params))["error"] == "invalid_target"


# -- redirect_uri manipulation: an error page, never a redirect (RFC 9700 §4.1, §4.11) ------
@pytest.mark.parametrize(
    "requested",
    [
        "https://evil.example/callback",  # not registered at all
        CLAUDE_CALLBACK + "/extra",  # extra path
        CLAUDE_CALLBACK + "?next=https://evil.example",  # extra query
        "https://claude.ai:8443/api/mcp/auth_callback",  # other port on a non-loopback host
        "https://CLAUDE.ai/api/mcp/auth_callback",  # not character for character
        CLAUDE_CALLBACK + "#frag",
        "http://claude.ai/api/mcp/auth_callback",  # downgraded scheme
    ],
)
def test_manipulated_redirect_uri_is_an_error_page(as_client: TestClient, requested: str) -> None:
    client = register_client(as_client, redirect_uris=[CLAUDE_CALLBACK], application_type="web")
    _, challenge = make_pair()
    response = start_authorization(
        as_client, authorize_params(client["client_id"], challenge, redirect_uri=requested)
    )
    assert_error_page(response, "Redirect URI not registered")


def test_unregistered_redirect_with_other_errors_is_still_an_error_page(as_client: TestClient) -> None:
    """Even when other parameters are wrong too, an untrusted redirect URI gets nothing."""
    client = register_client(as_client)
    params = authorize_params(
        client["client_id"], "bad", redirect_uri="https://evil.example/cb", response_type="token"
    )
    assert_error_page(start_authorization(as_client, params), "Redirect URI not registered")


def test_unknown_client_is_an_error_page_not_a_redirect(as_client: TestClient) -> None:
    _, challenge = make_pair()
    params = authorize_params("no-such-client", challenge, redirect_uri="https://evil.example/cb")
    assert_error_page(start_authorization(as_client, params), "Unknown client")


# -- state (RFC 6749 §4.1.2, RFC 9700 §2.1 / §4.7) ----------------------------------------
STATES = ["abc", "a b+c&d=e?f#g", "ünïcödé-✓", "%41%2F", "x" * 500, "'\"<script>"]


@pytest.mark.parametrize("state", STATES)
def test_state_is_echoed_exactly(as_client: TestClient, state: str) -> None:
    client = register_client(as_client)
    _, challenge = make_pair()
    query = authorize_in_browser(as_client, authorize_params(client["client_id"], challenge, state=state))
    assert query["state"] == state and "code" in query
    # Error redirects echo it too, and never twice.
    response = start_authorization(
        as_client,
        authorize_params(client["client_id"], challenge, state=state, code_challenge_method="plain"),
    )
    raw = parse_qs(urlsplit(response.headers["location"]).query)
    assert raw["state"] == [state] and raw["error"] == ["invalid_request"]
