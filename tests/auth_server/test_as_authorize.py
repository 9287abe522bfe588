"""GET /oauth2/authorize and the login/consent pages: every rejection, in the right place
(an HTML page before the redirect URI is trusted, a redirect with ``iss`` after)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from shared.pkce import make_pair, s256_challenge
from tests.auth_server.as_flow_helpers import (
    LOOPBACK_REDIRECT,
    authorize_params,
    consent,
    hidden_fields,
    login,
    query_of,
    register_client,
    start_authorization,
)

ISSUER = "http://localhost:4000"


@pytest.fixture
def client_id(as_client: TestClient) -> str:
    return str(register_client(as_client)["client_id"])


@pytest.fixture
def challenge() -> str:
    return make_pair()[1]


def assert_error_page(response: Any, *, contains: str, status: int = 400) -> None:
    """An HTML error page: the redirect URI was not trusted, so nothing was redirected."""
    assert response.status_code == status, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert contains in response.text


def error_redirect(response: Any) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(LOOPBACK_REDIRECT + "?"), location
    query = query_of(location)
    assert query["iss"] == ISSUER
    assert query["state"] == "state-123"
    assert query["error_description"]
    return query


# -- step 1: errors shown on a page, never redirected ------------------------------------
def test_unknown_client_is_an_error_page(as_client: TestClient, challenge: str) -> None:
    response = start_authorization(as_client, authorize_params("no-such-client", challenge))
    assert_error_page(response, contains="Unknown client")


def test_missing_client_id_is_an_error_page(as_client: TestClient, challenge: str) -> None:
    params = authorize_params("x", challenge)
    del params["client_id"]
    response = start_authorization(as_client, params)
    assert_error_page(response, contains="Missing client_id")


def test_unregistered_redirect_uri_is_an_error_page(
    as_client: TestClient, client_id: str, challenge: str
) -> None:
    for redirect in ("https://evil.example/cb", "http://127.0.0.1:8765/other", LOOPBACK_REDIRECT + "/x"):
        response = start_authorization(
            as_client, authorize_params(client_id, challenge, redirect_uri=redirect)
        )
        assert_error_page(response, contains="Redirect URI not registered")
        assert "evil.example" not in response.headers.get("location", "")


def test_duplicate_client_id_or_redirect_uri_is_an_error_page(
    as_client: TestClient, client_id: str, challenge: str
) -> None:
    params = list(authorize_params(client_id, challenge).items())
    for name, value in (("client_id", client_id), ("redirect_uri", LOOPBACK_REDIRECT)):
        response = as_client.get("/oauth2/authorize", params=[*params, (name, value)], follow_redirects=False)
        assert_error_page(response, contains="more than once")


def test_missing_redirect_uri_is_accepted_with_a_single_registration(
    as_client: TestClient, client_id: str, challenge: str
) -> None:
    response = start_authorization(as_client, authorize_params(client_id, challenge, redirect_uri=None))
    assert response.headers["location"].startswith("/oauth2/login")


def test_missing_redirect_uri_with_several_registered_is_an_error_page(
    as_client: TestClient, challenge: str
) -> None:
    client = register_client(as_client, redirect_uris=[LOOPBACK_REDIRECT, "http://localhost:1/cb"])
    response = start_authorization(
        as_client, authorize_params(client["client_id"], challenge, redirect_uri=None)
    )
    assert_error_page(response, contains="Missing redirect_uri")


# -- step 2: errors redirected to the client with state and iss ---------------------------
@pytest.mark.parametrize(
    ("overrides", "error", "mentions"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request", "S256"),
        ({"code_challenge_method": None}, "invalid_request", "S256"),
        ({"code_challenge": None}, "invalid_request", "PKCE is required"),
        ({"code_challenge": "too-short"}, "invalid_request", "43-character"),
        ({"response_type": "token"}, "unsupported_response_type", "code"),
        ({"response_type": None}, "invalid_request", "response_type"),
        ({"scope": "notes:read admin"}, "invalid_scope", "admin"),
        ({"scope": 'bad"scope'}, "invalid_scope", "invalid scope token"),
        ({"resource": "https://other.example/mcp"}, "invalid_target", "http://localhost:3000/mcp"),
        ({"resource": "http://localhost:3000/mcp/"}, "invalid_target", "RFC 8707"),
    ],
)
def test_invalid_requests_redirect_with_error_state_and_iss(
    as_client: TestClient, client_id: str, challenge: str, overrides: dict, error: str, mentions: str
) -> None:
    response = start_authorization(as_client, authorize_params(client_id, challenge, **overrides))
    query = error_redirect(response)
    assert query["error"] == error
    assert mentions in query["error_description"]
    assert "code" not in query


def test_duplicate_parameter_redirects_invalid_request(
    as_client: TestClient, client_id: str, challenge: str
) -> None:
    params = [
        *authorize_params(client_id, challenge).items(),
        ("scope", "notes:read"),
        ("scope", "notes:write"),
    ]
    query = error_redirect(as_client.get("/oauth2/authorize", params=params, follow_redirects=False))
    assert query["error"] == "invalid_request"
    assert "'scope'" in query["error_description"]


def test_resource_defaults_to_mcp_resource(as_client: TestClient, client_id: str, challenge: str) -> None:
    response = start_authorization(as_client, authorize_params(client_id, challenge, resource=None))
    assert response.headers["location"].startswith("/oauth2/login")


def test_registered_scope_is_a_default_not_a_ceiling(as_client: TestClient, challenge: str) -> None:
    """MCP step-up: a client registered for notes:read may later ask for notes:write too."""
    client = register_client(as_client, scope="notes:read")
    for scope in ("notes:read offline_access", "notes:read notes:write"):
        response = start_authorization(
            as_client, authorize_params(client["client_id"], challenge, scope=scope)
        )
        assert response.headers["location"].startswith("/oauth2/login")
    query = error_redirect(
        start_authorization(as_client, authorize_params(client["client_id"], challenge, scope="admin"))
    )
    assert query["error"] == "invalid_scope"


# -- login and consent pages ----------------------------------------------------------------
def login_url(as_client: TestClient, client_id: str, challenge: str, **overrides: Any) -> str:
    response = start_authorization(as_client, authorize_params(client_id, challenge, **overrides))
    location = str(response.headers["location"])
    assert location.startswith("/oauth2/login?request_id="), location
    return location


def test_pages_forbid_framing_and_caching(as_client: TestClient, client_id: str, challenge: str) -> None:
    page = as_client.get(login_url(as_client, client_id, challenge))
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert 'name="csrf_token"' in page.text


def test_consent_page_names_client_redirect_host_and_scopes(as_client: TestClient, challenge: str) -> None:
    client = register_client(
        as_client, client_name="Notes <Helper>", redirect_uris=["http://localhost:7777/cb"]
    )
    url = login_url(as_client, client["client_id"], challenge, redirect_uri="http://localhost:7777/cb")
    consent_url = login(as_client, url).headers["location"]
    page = as_client.get(consent_url)
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "DENY"
    assert "Notes &lt;Helper&gt;" in page.text  # escaped, never raw HTML
    assert '<strong class="host">localhost:7777</strong>' in page.text
    for description in ("See your user id, name and email address", "Read your private notes", "Add notes"):
        assert description in page.text
    assert "Alex Demo" in page.text
    # A registered client named itself: the page says so, and points at the host instead.
    assert 'data-warning="unverified-name"' in page.text
    assert 'data-warning="localhost"' not in page.text  # that one is for metadata documents
    assert 'data-warning="lookalike"' not in page.text


def test_wrong_password_is_a_generic_message(as_client: TestClient, client_id: str, challenge: str) -> None:
    url = login_url(as_client, client_id, challenge)
    for username in ("alex", "nobody"):
        response = login(as_client, url, username=username, password="wrong")
        assert response.status_code == 200
        assert "Wrong username or password." in response.text
        assert "location" not in response.headers


def test_login_throttle_answers_429_with_retry_after(
    as_client: TestClient, client_id: str, challenge: str
) -> None:
    url = login_url(as_client, client_id, challenge)
    for _ in range(5):
        assert "Wrong username or password." in login(as_client, url, password="guess").text
    # Now even the right password is refused until the window has passed.
    response = login(as_client, url, password="password")
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert "Too many" in response.text and "minute" in response.text


def test_login_without_csrf_token_is_refused(as_client: TestClient, client_id: str, challenge: str) -> None:
    url = login_url(as_client, client_id, challenge)
    fields = hidden_fields(as_client.get(url).text)
    for csrf in (None, "forged", fields["csrf_token"][:-2] + "xx"):
        form = {"request_id": fields["request_id"], "username": "alex", "password": "password"}
        if csrf:
            form["csrf_token"] = csrf
        response = as_client.post("/oauth2/login", data=form, follow_redirects=False)
        assert_error_page(response, contains="This form has expired", status=403)


def test_consent_with_bad_csrf_token_is_refused(
    as_client: TestClient, client_id: str, challenge: str
) -> None:
    consent_url = login(as_client, login_url(as_client, client_id, challenge)).headers["location"]
    fields = hidden_fields(as_client.get(consent_url).text)
    response = as_client.post(
        "/oauth2/consent",
        data={"request_id": fields["request_id"], "csrf_token": "nope", "action": "approve"},
        follow_redirects=False,
    )
    assert_error_page(response, contains="This form has expired", status=403)
    # The real token still works afterwards: nothing was consumed.
    assert consent(as_client, consent_url).status_code == 303


def test_csrf_token_of_another_session_is_refused(
    as_client: TestClient, make_client: Any, client_id: str, challenge: str
) -> None:
    """A page from one browser, posted from another (the attacker's), fails the CSRF check."""
    fields = hidden_fields(as_client.get(login_url(as_client, client_id, challenge)).text)
    other_browser = make_client()
    response = other_browser.post(
        "/oauth2/login", data=fields | {"username": "alex", "password": "password"}, follow_redirects=False
    )
    assert response.status_code == 403


def test_pending_request_is_bound_to_the_session(
    as_client: TestClient, client_id: str, challenge: str
) -> None:
    """An attacker cannot swap in another request id, even with a valid CSRF token of their own."""
    url = login_url(as_client, client_id, challenge)
    fields = hidden_fields(as_client.get(url).text)
    response = as_client.post(
        "/oauth2/login",
        data=fields | {"request_id": "made-up", "username": "alex", "password": "password"},
        follow_redirects=False,
    )
    assert_error_page(response, contains="expired")


def test_consent_form_cannot_be_submitted_twice(
    as_client: TestClient, client_id: str, challenge: str
) -> None:
    consent_url = login(as_client, login_url(as_client, client_id, challenge)).headers["location"]
    fields = hidden_fields(as_client.get(consent_url).text)
    first = as_client.post("/oauth2/consent", data=fields | {"action": "approve"}, follow_redirects=False)
    assert "code=" in first.headers["location"]
    second = as_client.post("/oauth2/consent", data=fields | {"action": "approve"}, follow_redirects=False)
    assert_error_page(second, contains="expired")


def test_sign_out_returns_to_login(as_client: TestClient, client_id: str, challenge: str) -> None:
    consent_url = login(as_client, login_url(as_client, client_id, challenge)).headers["location"]
    fields = hidden_fields(as_client.get(consent_url).text)
    response = as_client.post("/oauth2/logout", data=fields, follow_redirects=False)
    assert response.headers["location"].startswith("/oauth2/login?request_id=")
    # Signed out: the consent page sends the browser back to the login page.
    again = as_client.get(consent_url, follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"].startswith("/oauth2/login")


def test_consent_requires_login(as_client: TestClient, client_id: str, challenge: str) -> None:
    url = login_url(as_client, client_id, challenge)
    response = as_client.get(url.replace("/oauth2/login", "/oauth2/consent"), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/oauth2/login")


def test_session_cookie_is_httponly_and_lax(as_client: TestClient, client_id: str, challenge: str) -> None:
    response = start_authorization(as_client, authorize_params(client_id, challenge))
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/oauth2" in cookie


def test_code_challenge_is_bound_even_when_verifier_is_known(as_client: TestClient, client_id: str) -> None:
    """Sanity check of the helper: the challenge sent is S256 of the verifier."""
    verifier, challenge = make_pair()
    assert s256_challenge(verifier) == challenge
