"""POST /oauth2/token, /oauth2/revoke and /oauth2/introspect: grants, client authentication,
single-use codes, refresh rotation and every OAuth error (RFC 6749 §5.2, RFC 7009, RFC 7662)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from auth_server.store import GrantRecord, RefreshTokenRecord, SqliteStore, secret_hash
from auth_server.token import RETRY_WINDOW_SEC
from shared.pkce import make_pair
from tests.auth_server.as_flow_helpers import (
    LOOPBACK_REDIRECT,
    authorize_in_browser,
    authorize_params,
    exchange_code,
    get_tokens,
    introspect_with,
    post_token,
    refresh,
    register_client,
)


def code_for(as_client: TestClient, client: dict[str, Any], **params: Any) -> tuple[str, str]:
    verifier, challenge = make_pair()
    query = authorize_in_browser(as_client, authorize_params(client["client_id"], challenge, **params))
    return query["code"], verifier


def confidential(as_client: TestClient) -> dict[str, Any]:
    """A client with a secret: it may introspect the tokens issued to it (RFC 7662)."""
    return register_client(as_client, token_endpoint_auth_method="client_secret_post")


def introspect(as_client: TestClient, client: dict[str, Any], token: str) -> dict[str, Any]:
    """Introspection of ``token`` by ``client`` — the client the token was issued to."""
    return introspect_with(as_client, client, token)


def refresh_as(as_client: TestClient, client: dict[str, Any], token: str, **extra: str) -> Any:
    return refresh(as_client, client["client_id"], token, client_secret=client.get("client_secret"), **extra)


def exchange_as(as_client: TestClient, client: dict[str, Any], code: str, verifier: str) -> Any:
    return exchange_code(
        as_client, client["client_id"], code, verifier, client_secret=client.get("client_secret")
    )


def later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move the token endpoint's clock ``seconds`` ahead."""
    moment = time.time() + seconds
    monkeypatch.setattr("auth_server.token.time.time", lambda: moment)


def assert_oauth_error(response: Any, error: str, status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert response.headers["cache-control"] == "no-store"
    return str(body["error_description"])


# -- authorization_code grant --------------------------------------------------------------
def test_wrong_verifier_is_invalid_grant(as_client: TestClient) -> None:
    client = register_client(as_client)
    code, _ = code_for(as_client, client)
    other_verifier, _ = make_pair()
    response = exchange_code(as_client, client["client_id"], code, other_verifier)
    assert "code_verifier" in assert_oauth_error(response, "invalid_grant")


def test_missing_verifier_is_invalid_request(as_client: TestClient) -> None:
    client = register_client(as_client)
    code, _ = code_for(as_client, client)
    response = post_token(
        as_client,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": LOOPBACK_REDIRECT},
        client["client_id"],
    )
    assert_oauth_error(response, "invalid_request")


def test_code_replayed_at_once_with_the_verifier_is_refused_but_revokes_nothing(
    as_client: TestClient,
) -> None:
    """The client retrying a /token POST whose answer it lost (RFC 6749 §4.1.2: still denied)."""
    client = confidential(as_client)
    code, verifier = code_for(as_client, client)
    first = exchange_as(as_client, client, code, verifier)
    assert first.status_code == 200
    tokens = first.json()
    replay = exchange_as(as_client, client, code, verifier)
    assert "retry" in assert_oauth_error(replay, "invalid_grant")
    assert "access_token" not in replay.json()
    assert introspect(as_client, client, tokens["access_token"])["active"] is True
    assert refresh_as(as_client, client, tokens["refresh_token"]).status_code == 200


def test_code_replayed_without_the_verifier_revokes_nothing(as_client: TestClient) -> None:
    """Whoever saw the redirect URL has the code, not the verifier: it must not sign the user out."""
    client = confidential(as_client)
    code, verifier = code_for(as_client, client)
    tokens = exchange_as(as_client, client, code, verifier).json()
    wrong, _ = make_pair()
    for attempt in (wrong, None):
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": LOOPBACK_REDIRECT}
        form |= {"code_verifier": attempt} if attempt else {}
        replay = post_token(as_client, form, client["client_id"], client_secret=client["client_secret"])
        assert "already used" in assert_oauth_error(replay, "invalid_grant")
    other = register_client(as_client)  # another client presenting it proves nothing either
    assert "another client" in assert_oauth_error(
        exchange_code(as_client, other["client_id"], code, verifier), "invalid_grant"
    )
    assert introspect(as_client, client, tokens["access_token"])["active"] is True


def test_code_replayed_later_with_the_verifier_revokes_what_it_issued(
    as_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No client retries a code minutes later: two holders of the verifier are likelier."""
    client = confidential(as_client)
    code, verifier = code_for(as_client, client)
    tokens = exchange_as(as_client, client, code, verifier).json()
    refreshed = refresh_as(as_client, client, tokens["refresh_token"]).json()
    later(monkeypatch, RETRY_WINDOW_SEC + 1)
    replay = exchange_as(as_client, client, code, verifier)
    assert "now revoked" in assert_oauth_error(replay, "invalid_grant")
    for access_token in (tokens["access_token"], refreshed["access_token"]):
        assert introspect(as_client, client, access_token) == {"active": False}
    assert refresh_as(as_client, client, refreshed["refresh_token"]).json()["error"] == "invalid_grant"


def test_code_is_bound_to_its_client(as_client: TestClient) -> None:
    client, other = register_client(as_client), register_client(as_client)
    code, verifier = code_for(as_client, client)
    response = exchange_code(as_client, other["client_id"], code, verifier)
    assert "another client" in assert_oauth_error(response, "invalid_grant")
    assert exchange_code(as_client, client["client_id"], code, verifier).status_code == 200


def test_redirect_uri_must_match_the_authorization_request(as_client: TestClient) -> None:
    client = register_client(as_client)
    code, verifier = code_for(as_client, client)
    for redirect in ("http://127.0.0.1:8765/callback/", "http://127.0.0.1:9/callback"):
        response = exchange_code(as_client, client["client_id"], code, verifier, redirect_uri=redirect)
        assert "redirect_uri" in assert_oauth_error(response, "invalid_grant")
    no_redirect = post_token(
        as_client,
        {"grant_type": "authorization_code", "code": code, "code_verifier": verifier},
        client["client_id"],
    )
    assert_oauth_error(no_redirect, "invalid_grant")


def test_resource_must_match_the_code(as_client: TestClient) -> None:
    client = register_client(as_client)
    code, verifier = code_for(as_client, client)
    response = exchange_code(
        as_client, client["client_id"], code, verifier, resource="https://other.example/mcp"
    )
    assert_oauth_error(response, "invalid_target")
    ok = exchange_code(as_client, client["client_id"], code, verifier, resource="http://localhost:3000/mcp")
    assert ok.status_code == 200


def test_unknown_and_expired_codes(as_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    client = register_client(as_client)
    verifier, _ = make_pair()
    assert_oauth_error(
        exchange_code(as_client, client["client_id"], "no-such-code", verifier), "invalid_grant"
    )
    code, verifier = code_for(as_client, client)
    later = time.time() + 601
    monkeypatch.setattr("auth_server.token.time.time", lambda: later)
    response = exchange_code(as_client, client["client_id"], code, verifier)
    assert "expired" in assert_oauth_error(response, "invalid_grant")


def test_concurrent_redemptions_cannot_both_succeed(as_client: TestClient, tmp_path: Any) -> None:
    """Two processes' connections to one database race on the same code: exactly one wins."""
    client = register_client(as_client)
    code, _ = code_for(as_client, client)
    code_hash = secret_hash(code)
    stores = [SqliteStore.open(tmp_path / "auth_server.sqlite3") for _ in range(8)]
    barrier, results = threading.Barrier(len(stores)), []

    def redeem(index: int, store: SqliteStore) -> None:
        grant = GrantRecord(f"grant-{index}", client["client_id"], "user_alex", "notes:read", "r", 0)
        barrier.wait()
        results.append(asyncio.run(store.redeem_code(code_hash, grant, f"jti-{index}", 0)))

    threads = [threading.Thread(target=redeem, args=pair) for pair in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        asyncio.run(store.close())
    assert sorted(results) == [False] * 7 + [True]


# -- refresh_token grant ---------------------------------------------------------------------
def test_refresh_rotates_and_reuse_revokes_the_family(as_client: TestClient) -> None:
    client = confidential(as_client)
    tokens = get_tokens(as_client, client)
    first = refresh_as(as_client, client, tokens.refresh_token).json()
    second = refresh_as(as_client, client, first["refresh_token"]).json()
    assert len({tokens.refresh_token, first["refresh_token"], second["refresh_token"]}) == 3

    # The first token's successor was used, so this is no retry: it is reuse.
    reuse = refresh_as(as_client, client, tokens.refresh_token)
    assert "already used" in assert_oauth_error(reuse, "invalid_grant")
    # The newest token of the family dies with it, and so do its access tokens.
    assert_oauth_error(refresh_as(as_client, client, second["refresh_token"]), "invalid_grant")
    assert introspect(as_client, client, second["access_token"]) == {"active": False}
    assert introspect(as_client, client, tokens.access_token) == {"active": False}


def test_refresh_retried_after_a_lost_response_keeps_the_user_signed_in(as_client: TestClient) -> None:
    """RFC 9700 §4.14.2 with a retry window: the old token again, its successor never used."""
    client = confidential(as_client)
    tokens = get_tokens(as_client, client)
    lost = refresh_as(as_client, client, tokens.refresh_token).json()  # the client never saw this
    retried = refresh_as(as_client, client, tokens.refresh_token)
    assert retried.status_code == 200, retried.text
    new = retried.json()
    assert new["refresh_token"] not in (tokens.refresh_token, lost["refresh_token"])
    assert introspect(as_client, client, new["access_token"])["active"] is True
    # The family goes on from the retry's token; the lost one is dead (one live token per family).
    assert introspect(as_client, client, lost["refresh_token"]) == {"active": False}
    assert refresh_as(as_client, client, new["refresh_token"]).status_code == 200


def test_the_superseded_token_showing_up_later_is_reuse(as_client: TestClient) -> None:
    """What the window lets an attacker do, and where it ends: the victim's next refresh."""
    client = confidential(as_client)
    tokens = get_tokens(as_client, client)
    victims = refresh_as(as_client, client, tokens.refresh_token).json()
    attackers = refresh_as(as_client, client, tokens.refresh_token).json()  # old token, within the window
    assert introspect(as_client, client, attackers["access_token"])["active"] is True
    # The victim refreshes with its own (now superseded) token: reuse, the whole family is revoked.
    assert "already used" in assert_oauth_error(
        refresh_as(as_client, client, victims["refresh_token"]), "invalid_grant"
    )
    assert introspect(as_client, client, attackers["access_token"]) == {"active": False}
    assert_oauth_error(refresh_as(as_client, client, attackers["refresh_token"]), "invalid_grant")


def test_refresh_retried_after_the_window_is_reuse(
    as_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = confidential(as_client)
    tokens = get_tokens(as_client, client)
    rotated = refresh_as(as_client, client, tokens.refresh_token).json()
    later(monkeypatch, RETRY_WINDOW_SEC + 1)
    assert "already used" in assert_oauth_error(
        refresh_as(as_client, client, tokens.refresh_token), "invalid_grant"
    )
    assert_oauth_error(refresh_as(as_client, client, rotated["refresh_token"]), "invalid_grant")


def test_concurrent_refreshes_leave_exactly_one_live_refresh_token(
    as_client: TestClient, tmp_path: Any
) -> None:
    """Eight connections to one database present the same token at once."""
    tokens = get_tokens(as_client)
    token_hash = secret_hash(tokens.refresh_token)
    store = as_client.app.state.context.store  # type: ignore[attr-defined]
    grant_id = as_client.portal.call(store.get_refresh_token, token_hash).grant_id  # type: ignore[union-attr]
    stores = [SqliteStore.open(tmp_path / "auth_server.sqlite3") for _ in range(8)]
    barrier, results = threading.Barrier(len(stores)), []
    now = int(time.time())

    def rotate(index: int, store: SqliteStore) -> None:
        successor = RefreshTokenRecord(f"successor-{index}", grant_id, now + 3600)
        barrier.wait()
        results.append(asyncio.run(store.rotate_refresh_token(token_hash, successor, now, RETRY_WINDOW_SEC)))

    threads = [threading.Thread(target=rotate, args=pair) for pair in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    live = [
        row["token_hash"]
        for row in stores[0]._conn.execute(
            "SELECT token_hash FROM refresh_tokens WHERE grant_id = ? AND used = 0", (grant_id,)
        )
    ]
    for store in stores:
        asyncio.run(store.close())
    assert len(results) == 8 and len(live) == 1 and live[0].startswith("successor-")


def test_databases_from_before_the_retry_window_are_migrated(tmp_path: Any) -> None:
    """An older file without the new refresh_tokens columns gets them on open (ALTER TABLE)."""
    import sqlite3

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE refresh_tokens (token_hash TEXT PRIMARY KEY, grant_id TEXT NOT NULL,"
        " expires_at INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0)"
    )
    conn.execute("INSERT INTO refresh_tokens VALUES ('old', 'g', 9999999999, 0)")
    conn.commit()
    conn.close()
    store = SqliteStore.open(path)
    try:
        assert asyncio.run(store.get_refresh_token("old")) == RefreshTokenRecord("old", "g", 9999999999)
        now = int(time.time())
        assert asyncio.run(
            store.rotate_refresh_token("old", RefreshTokenRecord("new", "g", now + 60), now, RETRY_WINDOW_SEC)
        )
        assert asyncio.run(store.get_refresh_token("old")).successor_hash == "new"  # type: ignore[union-attr]
    finally:
        asyncio.run(store.close())
    asyncio.run(SqliteStore.open(path).close())  # a second open finds nothing to add


def test_refresh_may_narrow_but_not_widen_scope(as_client: TestClient) -> None:
    tokens = get_tokens(as_client, scope="notes:read profile:read")
    widened = refresh(as_client, tokens.client_id, tokens.refresh_token, scope="notes:read notes:write")
    assert "notes:write" in assert_oauth_error(widened, "invalid_scope")
    # A refused request does not burn the refresh token.
    narrowed = refresh(as_client, tokens.client_id, tokens.refresh_token, scope="notes:read")
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["scope"] == "notes:read"
    # The grant keeps its original scope: the next refresh may ask for all of it again.
    full = refresh(as_client, tokens.client_id, narrowed.json()["refresh_token"])
    assert full.json()["scope"] == "profile:read notes:read"


def test_refresh_token_is_bound_to_its_client(as_client: TestClient) -> None:
    tokens = get_tokens(as_client)
    other = register_client(as_client)
    assert "another client" in assert_oauth_error(
        refresh(as_client, other["client_id"], tokens.refresh_token), "invalid_grant"
    )
    assert refresh(as_client, tokens.client_id, tokens.refresh_token).status_code == 200


def test_refresh_with_wrong_resource_or_unknown_token(as_client: TestClient) -> None:
    tokens = get_tokens(as_client)
    assert_oauth_error(
        refresh(as_client, tokens.client_id, tokens.refresh_token, resource="https://x.example/mcp"),
        "invalid_target",
    )
    assert_oauth_error(refresh(as_client, tokens.client_id, "not-a-token"), "invalid_grant")


def test_client_without_refresh_grant_gets_no_refresh_token(as_client: TestClient) -> None:
    client = register_client(as_client, grant_types=["authorization_code"])
    tokens = get_tokens(as_client, client)
    assert "refresh_token" not in tokens.response
    form = {"grant_type": "refresh_token", "refresh_token": "x"}
    assert_oauth_error(post_token(as_client, form, client["client_id"]), "unauthorized_client")


# -- client authentication -------------------------------------------------------------------
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_confidential_client_flow(as_client: TestClient, method: str) -> None:
    client = register_client(as_client, token_endpoint_auth_method=method)
    assert len(client["client_secret"]) >= 43
    code, verifier = code_for(as_client, client)
    # Whatever was registered, both ways of sending the secret work.
    response = exchange_code(
        as_client,
        client["client_id"],
        code,
        verifier,
        client_secret=client["client_secret"],
        basic=method == "client_secret_basic",
    )
    assert response.status_code == 200, response.text
    again = refresh(
        as_client,
        client["client_id"],
        response.json()["refresh_token"],
        client_secret=client["client_secret"],
    )
    assert again.status_code == 200


def test_basic_credentials_are_form_urlencoded(as_client: TestClient) -> None:
    """RFC 6749 §2.3.1: client_id and secret are urlencoded before base64 — ':' as %3A."""
    client = register_client(as_client, token_endpoint_auth_method="client_secret_basic")
    code, verifier = code_for(as_client, client)
    import base64
    from urllib.parse import quote

    raw = f"{quote(client['client_id'], safe='')}:{quote(client['client_secret'], safe='')}"
    header = "Basic " + base64.b64encode(raw.encode()).decode()
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": LOOPBACK_REDIRECT,
    }
    assert as_client.post("/oauth2/token", data=form, headers={"Authorization": header}).status_code == 200


def test_wrong_or_missing_secret_is_invalid_client(as_client: TestClient) -> None:
    client = register_client(as_client, token_endpoint_auth_method="client_secret_basic")
    code, verifier = code_for(as_client, client)
    basic = exchange_code(as_client, client["client_id"], code, verifier, client_secret="wrong", basic=True)
    assert "wrong client_secret" in assert_oauth_error(basic, "invalid_client", 401)
    assert basic.headers["www-authenticate"].startswith("Basic")
    post = exchange_code(as_client, client["client_id"], code, verifier, client_secret="wrong")
    assert_oauth_error(post, "invalid_client", 401)
    assert "www-authenticate" not in post.headers
    assert_oauth_error(exchange_code(as_client, client["client_id"], code, verifier), "invalid_client", 401)
    # The code was not consumed by the failed attempts.
    ok = exchange_code(as_client, client["client_id"], code, verifier, client_secret=client["client_secret"])
    assert ok.status_code == 200


def test_public_client_sending_a_secret_is_invalid_client(as_client: TestClient) -> None:
    client = register_client(as_client)
    form = {"grant_type": "refresh_token", "refresh_token": "x"}
    response = post_token(as_client, form, client["client_id"], client_secret="invented")
    assert_oauth_error(response, "invalid_client", 401)


@pytest.mark.parametrize(
    ("headers", "form", "error"),
    [
        ({"Authorization": "Basic !!!"}, {}, "invalid_client"),
        ({"Authorization": "Basic bm9jb2xvbg=="}, {}, "invalid_client"),  # "nocolon"
        ({"Authorization": "Bearer abc"}, {}, "invalid_client"),
        ({"Authorization": "Basic YTpi"}, {"client_secret": "b"}, "invalid_request"),  # two methods
        ({"Authorization": "Basic YTpi"}, {"client_id": "other"}, "invalid_request"),
        ({}, {}, "invalid_client"),  # no client_id at all
        ({}, {"client_id": "unknown"}, "invalid_client"),
    ],
)
def test_malformed_client_authentication(
    as_client: TestClient, headers: dict, form: dict, error: str
) -> None:
    body = {"grant_type": "refresh_token", "refresh_token": "x", **form}
    response = as_client.post("/oauth2/token", data=body, headers=headers)
    assert_oauth_error(response, error, 401 if error == "invalid_client" else 400)


# -- malformed token requests: always an OAuth error, never a 500 ------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "status"),
    [
        ({"json": {"grant_type": "authorization_code"}}, "invalid_request", 400),
        (
            {"content": b"grant_type=refresh_token", "headers": {"Content-Type": "text/plain"}},
            "invalid_request",
            400,
        ),
        (
            {"content": b"\xff\xfe", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
            "invalid_request",
            400,
        ),
        ({"data": {"grant_type": "password"}}, "unsupported_grant_type", 400),
        ({"data": {"code": "x"}}, "invalid_request", 400),
        (
            {
                "content": b"grant_type=refresh_token&grant_type=authorization_code",
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
            "invalid_request",
            400,
        ),
        (
            {
                "content": b"a=" + b"x" * 70_000,
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
            "invalid_request",
            413,
        ),
        (
            {
                "content": "&".join(f"f{i}=1" for i in range(200)).encode(),
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
            "invalid_request",
            400,
        ),
    ],
)
def test_malformed_token_requests(as_client: TestClient, kwargs: dict, error: str, status: int) -> None:
    assert_oauth_error(as_client.post("/oauth2/token", **kwargs), error, status)


def test_missing_code_or_refresh_token_is_invalid_request(as_client: TestClient) -> None:
    client = register_client(as_client)
    for grant_type in ("authorization_code", "refresh_token"):
        response = post_token(as_client, {"grant_type": grant_type}, client["client_id"])
        assert_oauth_error(response, "invalid_request")


def test_chunked_oversized_body_is_refused(as_client: TestClient) -> None:
    def chunks() -> Any:
        for _ in range(100):
            yield b"x" * 1024

    response = as_client.post(
        "/oauth2/token", content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_oauth_error(response, "invalid_request", 413)


def test_wrong_method_is_an_oauth_shaped_405(as_client: TestClient) -> None:
    assert_oauth_error(as_client.get("/oauth2/token"), "method_not_allowed", 405)


# -- revocation and introspection ----------------------------------------------------------------
def test_revoking_an_access_token_records_its_jti(as_client: TestClient) -> None:
    tokens = get_tokens(as_client, confidential(as_client))
    response = post_token(
        as_client,
        {"token": tokens.access_token, "token_type_hint": "access_token"},
        tokens.client_id,
        client_secret=tokens.client["client_secret"],
        path="/oauth2/revoke",
    )
    assert response.status_code == 200
    assert introspect(as_client, tokens.client, tokens.access_token) == {"active": False}
    # The refresh token is untouched: revoking an access token does not end the grant.
    assert refresh_as(as_client, tokens.client, tokens.refresh_token).status_code == 200


def test_revocation_is_200_for_unknown_and_foreign_tokens(as_client: TestClient) -> None:
    tokens = get_tokens(as_client)
    other = register_client(as_client)
    for token in ("unknown", tokens.refresh_token, tokens.access_token):
        response = post_token(as_client, {"token": token}, other["client_id"], path="/oauth2/revoke")
        assert response.status_code == 200
    # Another client cannot revoke this client's tokens.
    assert refresh(as_client, tokens.client_id, tokens.refresh_token).status_code == 200


def test_revocation_requires_client_authentication_and_a_token(as_client: TestClient) -> None:
    assert_oauth_error(as_client.post("/oauth2/revoke", data={"token": "x"}), "invalid_client", 401)
    client = register_client(as_client)
    assert_oauth_error(
        post_token(as_client, {}, client["client_id"], path="/oauth2/revoke"), "invalid_request"
    )


def test_introspection_is_for_confidential_clients_only(as_client: TestClient) -> None:
    tokens = get_tokens(as_client)
    response = post_token(
        as_client, {"token": tokens.access_token}, tokens.client_id, path="/oauth2/introspect"
    )
    assert "confidential" in assert_oauth_error(response, "invalid_client", 401)


def test_introspection_of_refresh_and_inactive_tokens(as_client: TestClient) -> None:
    tokens = get_tokens(as_client, confidential(as_client))
    info = introspect(as_client, tokens.client, tokens.refresh_token)
    assert info["active"] is True and info["token_type"] == "refresh_token"
    assert info["client_id"] == tokens.client_id and info["sub"] == "user_alex"
    for token in ("garbage", "a.b.c", tokens.access_token[:-4] + "AAAA"):
        assert introspect(as_client, tokens.client, token) == {"active": False}


def test_a_client_cannot_introspect_another_clients_tokens(as_client: TestClient) -> None:
    """Registration is open, so "a confidential client" is anyone (RFC 7662 §4): own tokens only."""
    victim = get_tokens(as_client, confidential(as_client))
    public_victim = get_tokens(as_client)
    prober = confidential(as_client)
    for token in (
        victim.access_token,
        victim.refresh_token,
        public_victim.access_token,
        public_victim.refresh_token,
    ):
        for hint in (None, "access_token", "refresh_token"):
            form = {"token": token} | ({"token_type_hint": hint} if hint else {})
            response = post_token(
                as_client,
                form,
                prober["client_id"],
                client_secret=prober["client_secret"],
                path="/oauth2/introspect",
            )
            assert response.status_code == 200 and response.json() == {"active": False}
    # The owner still sees its own tokens, with the claims RFC 7662 §2.2 lists.
    info = introspect(as_client, victim.client, victim.access_token)
    assert info["active"] is True and info["sub"] == "user_alex" and info["username"] == "alex"
