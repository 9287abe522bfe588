"""Attacks on ``private_key_jwt`` client authentication (RFC 7523 §3, RFC 7521 §4.2, RFC 9700).

The victim is ChatGPT's published document (``tests/fixtures/client_metadata/chatgpt.json``),
served unchanged with a key set at its ``jwks_uri``. Each test obtains a real authorization
code, tries to redeem it with a bad assertion — which must fail with ``invalid_client`` (401)
and a description that names the failed check — and, where it matters, shows the code is
still good for the real client afterwards: a refused assertion burns nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from starlette.testclient import TestClient

from shared.pkce import make_pair
from tests.auth_server.as_flow_helpers import authorize_in_browser, authorize_params, exchange_code
from tests.auth_server.as_support import ISSUER, Documents
from tests.security.client_assertion_support import (
    ASSERTION_TYPE,
    CLIENT_KEY,
    KID,
    OTHER_KEY,
    TOKEN_ENDPOINT,
    post_token,
    public_jwk,
    published_document,
    serve_client,
    sign_assertion,
)

CHATGPT = published_document("chatgpt")
CLIENT_ID = CHATGPT["client_id"]
JWKS_URI = CHATGPT["jwks_uri"]
REDIRECT = CHATGPT["redirect_uris"][0]


@dataclass
class PendingCode:
    """An authorization code issued to ChatGPT, waiting to be redeemed."""

    http: TestClient
    code: str
    verifier: str

    def redeem(self, assertion: str, client_id: str | None = CLIENT_ID) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "code": self.code,
            "code_verifier": self.verifier,
            "redirect_uri": REDIRECT,
        }
        return post_token(self.http, form, assertion, client_id)


def new_code(http: TestClient, client_id: str = CLIENT_ID, redirect_uri: str = REDIRECT) -> PendingCode:
    verifier, challenge = make_pair()
    query = authorize_in_browser(http, authorize_params(client_id, challenge, redirect_uri=redirect_uri))
    return PendingCode(http, query["code"], verifier)


@pytest.fixture
def chatgpt(as_client: TestClient, documents: Documents) -> PendingCode:
    serve_client(documents, CHATGPT)
    return new_code(as_client)


def assert_invalid_client(response: httpx.Response, *mentions: str) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == "invalid_client", body
    for mention in mentions:
        assert mention in body["error_description"], body


def assert_still_redeemable(pending: PendingCode) -> None:
    response = pending.redeem(sign_assertion(CLIENT_ID))
    assert response.status_code == 200, response.text


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{part(json.dumps(header).encode())}.{part(json.dumps(claims).encode())}"
    return f"{signing_input}.{part(signature)}"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return (
        {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": TOKEN_ENDPOINT, "iat": now, "exp": now + 60}
        | {"jti": f"jti-{time.monotonic_ns()}"}
        | overrides
    )


# --- the assertion is not the client's ------------------------------------------------------


def test_assertion_signed_with_a_key_the_client_never_published(chatgpt: PendingCode) -> None:
    assert_invalid_client(
        chatgpt.redeem(sign_assertion(CLIENT_ID, key=OTHER_KEY)), "signature does not verify"
    )
    assert_still_redeemable(chatgpt)


def test_unknown_kid_is_looked_up_once_then_refused(chatgpt: PendingCode, documents: Documents) -> None:
    keys = chatgpt.http.app.state.context.assertions.keys  # type: ignore[attr-defined]
    now = [1000.0]
    keys._clock = lambda: now[0]
    assert_still_redeemable(chatgpt)  # caches the key set
    now[0] += keys.refetch_interval_sec
    fetches = documents.fetches.count(JWKS_URI)
    forged = sign_assertion(CLIENT_ID, key=OTHER_KEY, headers={"kid": "attacker-key"})
    assert_invalid_client(new_code(chatgpt.http).redeem(forged), "no key with kid 'attacker-key'")
    assert documents.fetches.count(JWKS_URI) == fetches + 1  # fetched again once, in case of a rotation
    for index in range(5):  # a flood of made-up kids costs the client's host nothing more
        flood = sign_assertion(CLIENT_ID, key=OTHER_KEY, headers={"kid": f"junk-{index}"})
        assert_invalid_client(new_code(chatgpt.http).redeem(flood), "no key with kid")
    assert documents.fetches.count(JWKS_URI) == fetches + 1


def test_a_rotated_key_is_found_with_one_refetch(chatgpt: PendingCode, documents: Documents) -> None:
    keys = chatgpt.http.app.state.context.assertions.keys  # type: ignore[attr-defined]
    now = [1000.0]
    keys._clock = lambda: now[0]
    assert_still_redeemable(chatgpt)
    documents.serve(JWKS_URI, {"keys": [public_jwk(), public_jwk(OTHER_KEY, kid="cimd-next")]})
    now[0] += keys.refetch_interval_sec
    response = new_code(chatgpt.http).redeem(
        sign_assertion(CLIENT_ID, key=OTHER_KEY, headers={"kid": "cimd-next"})
    )
    assert response.status_code == 200, response.text


def test_assertion_for_another_client_is_refused(as_client: TestClient, documents: Documents) -> None:
    """Both ChatGPT documents share one key set: a connector's assertion must not pass as the stable one's."""
    connector = published_document("chatgpt-connector")
    assert connector["jwks_uri"] == JWKS_URI
    serve_client(documents, CHATGPT)
    serve_client(documents, connector)
    pending = new_code(as_client)
    other = sign_assertion(connector["client_id"])
    assert_invalid_client(pending.redeem(other), "issued by client", "set iss and sub to your own client_id")
    # Without client_id the assertion authenticates the connector — whose code this is not.
    response = pending.redeem(sign_assertion(connector["client_id"]), client_id=None)
    assert response.status_code == 400 and "another client" in response.json()["error_description"]
    assert_still_redeemable(pending)


def test_iss_differing_from_sub_is_refused(chatgpt: PendingCode) -> None:
    forged = sign_assertion(CLIENT_ID, iss="https://evil.example/client.json")
    assert_invalid_client(chatgpt.redeem(forged), "iss", "differ")


def test_wrong_audience_is_refused(chatgpt: PendingCode) -> None:
    for aud in ("https://other-as.example/oauth2/token", ISSUER + "/", [ISSUER + "/oauth2/authorize"]):
        assert_invalid_client(chatgpt.redeem(sign_assertion(CLIENT_ID, aud=aud)), "does not name this server")
    assert_still_redeemable(chatgpt)


@pytest.mark.parametrize("aud", [TOKEN_ENDPOINT, ISSUER, [ISSUER, "https://other.example"], [TOKEN_ENDPOINT]])
def test_audience_may_be_the_token_endpoint_or_the_issuer(chatgpt: PendingCode, aud: Any) -> None:
    assert chatgpt.redeem(sign_assertion(CLIENT_ID, aud=aud)).status_code == 200


# --- forged signatures ------------------------------------------------------------------------


def test_alg_none_is_refused(chatgpt: PendingCode) -> None:
    forged = unsigned({"alg": "none", "kid": KID}, claims())
    assert_invalid_client(chatgpt.redeem(forged), "alg 'none'", "RS256")


def test_hs256_with_the_public_key_as_secret_is_refused(chatgpt: PendingCode) -> None:
    """Key confusion: the public key is public, so an HMAC 'signed' with it proves nothing."""
    public_pem = CLIENT_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header, body = {"alg": "HS256", "kid": KID, "typ": "JWT"}, claims()
    signing_input = unsigned(header, body).rsplit(".", 1)[0]
    forged = unsigned(header, body, hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())
    assert_invalid_client(chatgpt.redeem(forged), "alg 'HS256'", "HMAC")
    assert_still_redeemable(chatgpt)


def test_an_algorithm_other_than_the_declared_one_is_refused(chatgpt: PendingCode) -> None:
    """The document pins RS256 (token_endpoint_auth_signing_alg); PS256 with the same key is not it."""
    assert_invalid_client(chatgpt.redeem(sign_assertion(CLIENT_ID, alg="PS256")), "alg 'PS256'", "use RS256")


def test_a_garbled_assertion_is_refused(chatgpt: PendingCode) -> None:
    assert_invalid_client(chatgpt.redeem("not-a-jwt"), "not a well-formed JWT")
    assert_invalid_client(chatgpt.redeem("x" * 9000), "longer than")


# --- lifetime and replay ------------------------------------------------------------------------


def test_expired_assertion_is_refused(chatgpt: PendingCode) -> None:
    now = int(time.time())
    assert_invalid_client(chatgpt.redeem(sign_assertion(CLIENT_ID, iat=now - 400, exp=now - 100)), "expired")
    assert_still_redeemable(chatgpt)


def test_exp_too_far_in_the_future_is_refused(chatgpt: PendingCode) -> None:
    now = int(time.time())
    assert_invalid_client(chatgpt.redeem(sign_assertion(CLIENT_ID, exp=now + 3600)), "too long")
    # Without iat the distance from now counts.
    assert_invalid_client(chatgpt.redeem(sign_assertion(CLIENT_ID, iat=None, exp=now + 3600)), "too long")


@pytest.mark.parametrize("claim", ["exp", "jti", "aud", "iss", "sub"])
def test_assertion_without_a_required_claim_is_refused(chatgpt: PendingCode, claim: str) -> None:
    assert_invalid_client(
        chatgpt.redeem(sign_assertion(CLIENT_ID, **{claim: None})), f"lacks the '{claim}' claim"
    )


def test_replayed_assertion_is_refused(chatgpt: PendingCode) -> None:
    assertion = sign_assertion(CLIENT_ID)
    tokens = chatgpt.redeem(assertion)
    assert tokens.status_code == 200, tokens.text
    again = post_token(
        chatgpt.http,
        {"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]},
        assertion,
        None,
    )
    assert_invalid_client(again, "already used", "single-use")


def test_replayed_assertion_is_refused_after_a_restart(
    make_client: Callable[..., TestClient], documents: Documents, tmp_path: Path
) -> None:
    serve_client(documents, CHATGPT)
    first_run = make_client(tmp_path)
    assertion = sign_assertion(CLIENT_ID)
    tokens = new_code(first_run).redeem(assertion)
    assert tokens.status_code == 200, tokens.text
    first_run.__exit__(None, None, None)  # the AS stops …
    restarted = make_client(tmp_path)  # … and starts again on the same DATA_DIR
    replay = post_token(
        restarted,
        {"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]},
        assertion,
        None,
    )
    assert_invalid_client(replay, "already used")
    fresh = post_token(
        restarted,
        {"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]},
        sign_assertion(CLIENT_ID),
        None,
    )
    assert fresh.status_code == 200, fresh.text


def test_used_jtis_are_purged_once_expired(as_client: TestClient) -> None:
    store = as_client.app.state.context.store  # type: ignore[attr-defined]
    now = int(time.time())
    call = as_client.portal.call
    assert call(store.use_client_assertion_jti, CLIENT_ID, "old", now - 10)
    assert call(store.use_client_assertion_jti, CLIENT_ID, "live", now + 60)
    call(store.purge_expired, now)
    assert call(store.use_client_assertion_jti, CLIENT_ID, "old", now + 60)  # gone, so usable again
    assert not call(store.use_client_assertion_jti, CLIENT_ID, "live", now + 60)


# --- the wrong way to authenticate ------------------------------------------------------------------


def test_missing_assertion_is_refused(chatgpt: PendingCode) -> None:
    """ChatGPT's document offers 'none' too; once private_key_jwt is negotiated, nothing is not enough."""
    response = exchange_code(chatgpt.http, CLIENT_ID, chatgpt.code, chatgpt.verifier, redirect_uri=REDIRECT)
    assert_invalid_client(response, "private_key_jwt", "client_assertion_type=" + ASSERTION_TYPE)
    assert_still_redeemable(chatgpt)


def test_a_secret_instead_of_an_assertion_is_refused(chatgpt: PendingCode) -> None:
    response = exchange_code(
        chatgpt.http, CLIENT_ID, chatgpt.code, chatgpt.verifier, redirect_uri=REDIRECT, client_secret="guess"
    )
    assert_invalid_client(response, "private_key_jwt", "not a client_secret")


def test_an_assertion_together_with_a_secret_is_refused(chatgpt: PendingCode) -> None:
    form = {"grant_type": "authorization_code", "code": chatgpt.code, "code_verifier": chatgpt.verifier}
    response = chatgpt.http.post(
        "/oauth2/token",
        data=form
        | {"client_id": CLIENT_ID, "client_secret": "x", "client_assertion_type": ASSERTION_TYPE}
        | {"client_assertion": sign_assertion(CLIENT_ID)},
    )
    assert (
        response.status_code == 400
        and "one client authentication method" in response.json()["error_description"]
    )


def test_wrong_assertion_type_is_refused(chatgpt: PendingCode) -> None:
    form = {"grant_type": "authorization_code", "code": chatgpt.code, "code_verifier": chatgpt.verifier}
    response = chatgpt.http.post(
        "/oauth2/token",
        data=form
        | {
            "client_id": CLIENT_ID,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
        }
        | {"client_assertion": sign_assertion(CLIENT_ID)},
    )
    assert_invalid_client(response, "client_assertion_type must be " + ASSERTION_TYPE)


def test_a_public_client_sending_an_assertion_is_refused(as_client: TestClient, documents: Documents) -> None:
    claude = published_document("claude")
    serve_client(documents, claude)
    pending = new_code(as_client, claude["client_id"], claude["redirect_uris"][0])
    form = {"grant_type": "authorization_code", "code": pending.code, "code_verifier": pending.verifier}
    response = post_token(as_client, form, sign_assertion(claude["client_id"]), claude["client_id"])
    assert_invalid_client(response, "does not use private_key_jwt")


def test_revocation_needs_the_assertion_too(chatgpt: PendingCode) -> None:
    tokens = chatgpt.redeem(sign_assertion(CLIENT_ID)).json()
    token = {"token": tokens["refresh_token"]}
    bare = chatgpt.http.post("/oauth2/revoke", data=token | {"client_id": CLIENT_ID})
    assert_invalid_client(bare, "private_key_jwt")
    signed = chatgpt.http.post(
        "/oauth2/revoke",
        data=token | {"client_assertion_type": ASSERTION_TYPE, "client_assertion": sign_assertion(CLIENT_ID)},
    )
    assert signed.status_code == 200
    after = post_token(
        chatgpt.http,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        sign_assertion(CLIENT_ID),
        None,
    )
    assert after.status_code == 400 and "revoked" in after.json()["error_description"]


# --- key sets that must not be used -------------------------------------------------------------------


def test_a_key_set_with_private_key_material_is_refused(as_client: TestClient, documents: Documents) -> None:
    leaked = public_jwk() | {"d": "AQAB"}
    serve_client(documents, CHATGPT, leaked)
    assert_invalid_client(new_code(as_client).redeem(sign_assertion(CLIENT_ID)), "private key material")


def test_a_key_set_served_from_a_private_address_is_not_fetched(
    make_client: Callable[..., TestClient], documents: Documents
) -> None:
    """The jwks_uri goes through the same SSRF fences as the document itself."""
    as_client = make_client(oauth_allowed_client_metadata_hosts="chatgpt.com,keys.chatgpt.com")
    document = CHATGPT | {"jwks_uri": "https://keys.chatgpt.com/jwks.json"}
    documents.serve(CLIENT_ID, document)
    documents.serve(document["jwks_uri"], {"keys": [public_jwk()]})
    documents.addresses["keys.chatgpt.com"] = ["10.0.0.7"]
    assert_invalid_client(new_code(as_client).redeem(sign_assertion(CLIENT_ID)), "non-public address")
    assert document["jwks_uri"] not in documents.fetches
