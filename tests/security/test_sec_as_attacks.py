"""Attacks on the AS beyond the code: refresh tokens, the browser pages, registration, CIMD.

* refresh-token reuse after rotation revokes the whole family (RFC 9700 §4.14.2, OAuth 2.1 §4.3.1)
  once the new token was used or the 60-s retry window passed (``auth_server/token.py``);
* a refresh cannot widen the scope (RFC 6749 §6);
* CSRF on the consent form (RFC 9700 §4.7) and clickjacking of the login/consent pages (§4.16);
* password guessing is throttled per user and per IP, with a message a person understands;
* dynamic registration refuses code-running and fragment redirect URIs (RFC 6749 §3.1.2, RFC 9700 §4.1);
* Client ID Metadata Documents are fetched under bounds (size, time, no redirects, and the
  document must name itself): those attacks are tested once, in ``tests/auth_server/test_as_cimd.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from starlette.testclient import TestClient

from shared.pkce import make_pair
from tests.auth_server.as_flow_helpers import (
    authorize_params,
    consent,
    get_tokens,
    hidden_fields,
    login,
    refresh,
    register_client,
    start_authorization,
)
from tests.auth_server.as_support import ISSUER


# -- refresh tokens ------------------------------------------------------------------------
def test_refresh_token_reuse_after_rotation_revokes_the_family(as_client: TestClient) -> None:
    tokens = get_tokens(as_client)
    rotated = refresh(as_client, tokens.client_id, tokens.refresh_token)
    assert rotated.status_code == 200
    newer = rotated.json()["refresh_token"]
    assert newer != tokens.refresh_token
    # The victim goes on with its new token, which ends the old one's retry window.
    newest = refresh(as_client, tokens.client_id, newer).json()["refresh_token"]

    # The attacker presents the old, rotated token.
    reuse = refresh(as_client, tokens.client_id, tokens.refresh_token)
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    # The whole family is gone: the newest refresh token no longer works either.
    after = refresh(as_client, tokens.client_id, newest)
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"


def test_refresh_token_stolen_after_the_retry_window_revokes_the_family(
    as_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even when the victim has not used its new token yet: 60 s after rotation, no retry."""
    import time

    from auth_server.token import RETRY_WINDOW_SEC

    tokens = get_tokens(as_client)
    newer = refresh(as_client, tokens.client_id, tokens.refresh_token).json()["refresh_token"]
    moment = time.time() + RETRY_WINDOW_SEC + 1
    monkeypatch.setattr("auth_server.token.time.time", lambda: moment)
    reuse = refresh(as_client, tokens.client_id, tokens.refresh_token)
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    after = refresh(as_client, tokens.client_id, newer)
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"


def test_scope_escalation_on_refresh_is_refused(as_client: TestClient) -> None:
    tokens = get_tokens(as_client, scope="notes:read")
    wider = refresh(as_client, tokens.client_id, tokens.refresh_token, scope="notes:read notes:write")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    unknown = refresh(as_client, tokens.client_id, tokens.refresh_token, scope="admin")
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_scope"
    # A refused request does not burn the token, and narrowing the same grant stays allowed.
    same = refresh(as_client, tokens.client_id, tokens.refresh_token, scope="notes:read")
    assert same.status_code == 200 and same.json()["scope"] == "notes:read"


# -- CSRF and clickjacking -------------------------------------------------------------------
def _consent_page(as_client: TestClient) -> tuple[str, dict[str, str]]:
    client = register_client(as_client)
    _, challenge = make_pair()
    location = start_authorization(as_client, authorize_params(client["client_id"], challenge)).headers[
        "location"
    ]
    consent_url = login(as_client, location).headers["location"]
    return consent_url, hidden_fields(as_client.get(consent_url).text)


def test_consent_post_without_csrf_token_is_refused(as_client: TestClient) -> None:
    consent_url, fields = _consent_page(as_client)
    response = as_client.post(
        "/oauth2/consent",
        data={"request_id": fields["request_id"], "action": "approve"},
        follow_redirects=False,
    )
    assert response.status_code == 403 and "location" not in response.headers
    # The user's own submission still works: the attack consumed nothing.
    assert consent(as_client, consent_url).status_code == 303


def test_consent_post_with_another_sessions_csrf_token_is_refused(
    make_client: Callable[..., TestClient],
) -> None:
    victim = make_client()
    attacker = TestClient(victim.app, base_url=ISSUER)  # the same server, another browser
    _, victim_fields = _consent_page(victim)
    _, attacker_fields = _consent_page(attacker)
    # The attacker's page makes the victim's browser post the attacker's token.
    forged = victim_fields | {"csrf_token": attacker_fields["csrf_token"], "action": "approve"}
    response = victim.post("/oauth2/consent", data=forged, follow_redirects=False)
    assert response.status_code == 403 and "location" not in response.headers
    assert "This form has expired" in response.text


def test_login_and_consent_pages_cannot_be_framed(as_client: TestClient) -> None:
    client = register_client(as_client)
    _, challenge = make_pair()
    login_url = start_authorization(as_client, authorize_params(client["client_id"], challenge)).headers[
        "location"
    ]
    login_page = as_client.get(login_url)
    consent_page = as_client.get(login(as_client, login_url).headers["location"])
    error_page = start_authorization(as_client, authorize_params("nobody", challenge))
    for page in (login_page, consent_page, error_page):
        assert page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


# -- login brute force -----------------------------------------------------------------------
def _login_url(as_client: TestClient) -> str:
    client = register_client(as_client)
    _, challenge = make_pair()
    return str(
        start_authorization(as_client, authorize_params(client["client_id"], challenge)).headers["location"]
    )


def _assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in response.text and "minute" in response.text


def test_brute_force_is_throttled_per_user_across_ips(as_client: TestClient) -> None:
    """A botnet: each guess for ``alex`` from another address."""
    for index in range(5):
        bot = TestClient(as_client.app, base_url=ISSUER, client=(f"198.51.100.{index + 1}", 40000))
        assert "Wrong username or password." in login(bot, _login_url(bot), password=f"guess{index}").text
    bot = TestClient(as_client.app, base_url=ISSUER, client=("198.51.100.99", 40000))
    _assert_throttled(login(bot, _login_url(bot), password="password"))  # even the right password
    # Another user from yet another address is not affected.
    other = TestClient(as_client.app, base_url=ISSUER, client=("203.0.113.5", 40000))
    response = login(other, _login_url(other), username="nobody", password="x")
    assert response.status_code == 200


def test_brute_force_is_throttled_per_ip_across_users(as_client: TestClient) -> None:
    """One host spraying usernames."""
    url = _login_url(as_client)
    for index in range(5):
        assert "Wrong username or password." in login(as_client, url, username=f"user{index}").text
    _assert_throttled(login(as_client, url, username="alex", password="password"))
    # alex signing in from elsewhere is not locked out by the spraying host.
    elsewhere = TestClient(as_client.app, base_url=ISSUER, client=("203.0.113.6", 40000))
    assert login(elsewhere, _login_url(elsewhere)).status_code == 303


# -- dynamic client registration ------------------------------------------------------------
@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(document.cookie)",
        "JavaScript://%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "http://127.0.0.1:8765/cb#fragment",
        "https://claude.ai/api/mcp/auth_callback#",
    ],
)
def test_registration_refuses_dangerous_redirect_uris(as_client: TestClient, uri: str) -> None:
    response = as_client.post("/oauth2/register", json={"client_name": "x", "redirect_uris": [uri]})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_redirect_uri"
    assert "client_id" not in response.json()


@pytest.mark.parametrize("path", ["/oauth2/consent", "/oauth2/login", "/oauth2/logout"])
def test_non_ascii_csrf_token_is_refused_not_a_500(as_client: TestClient, path: str) -> None:
    """Found by the fuzzer: hmac.compare_digest raised TypeError on a non-ASCII token."""
    _, fields = _consent_page(as_client)
    forged = fields | {"csrf_token": "jeton-falsifié-✓", "action": "approve"}
    response = as_client.post(path, data=forged, follow_redirects=False)
    assert response.status_code == 403 and "location" not in response.headers
