"""Forged and misused access tokens (RFC 9068 §4, RFC 8725, RFC 9700 §4.10, RFC 6750 §2).

Every token here is presented to ``notes_add`` — the one tool that writes — and must get
HTTP 401 ``invalid_token`` with nothing written. The keys are real: ``rs_support`` signs with
the key the fake AS publishes, so only the forged part of each token is wrong. The same
forgeries are also shown to the AS's introspection endpoint, which shares the verification
code (``shared.tokens``) and must call them inactive.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from starlette.testclient import TestClient

from tests.auth_server.as_flow_helpers import get_tokens, introspect_with, register_client
from tests.resource_server.rs_support import (
    ISSUER,
    OTHER_KEY,
    RESOURCE,
    SIGNING_KEY,
    RunningRS,
    forged_token,
    mint,
)

ALL = "profile:read notes:read notes:write"


def _public_pem() -> bytes:
    return SIGNING_KEY.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _tampered() -> str:
    """A valid token whose payload was edited (more scope, another user) after signing."""
    header, payload, signature = mint("notes:read").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims |= {"scope": ALL, "sub": "user-victim"}
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{edited}.{signature}"


def _id_token_shaped() -> str:
    """Signed by the right key with every right claim, but typ JWT (an ID token, RFC 9068 §4)."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "user-alex",
        "aud": RESOURCE,
        "iat": now,
        "exp": now + 600,
        "jti": "id-token",
        "client_id": "client-1",
        "scope": ALL,
    }
    return jwt.encode(
        claims, SIGNING_KEY.private, algorithm="ES256", headers={"typ": "JWT", "kid": SIGNING_KEY.kid}
    )


now = int(time.time())
FORGERIES: dict[str, Callable[[], str]] = {
    "alg none": lambda: forged_token({"alg": "none", "typ": "at+jwt", "kid": SIGNING_KEY.kid}, scope=ALL),
    "HS256 signed with the public key": lambda: forged_token(
        {"alg": "HS256", "typ": "at+jwt", "kid": SIGNING_KEY.kid}, secret=_public_pem(), scope=ALL
    ),
    "unknown kid": lambda: mint(ALL, key=OTHER_KEY),
    "tampered payload": _tampered,
    "wrong iss": lambda: mint(ALL, issuer="https://evil.example"),
    "wrong aud (another resource)": lambda: mint(ALL, audience="https://other.example/mcp"),
    "expired": lambda: mint(ALL, now=now - 3600, ttl_sec=600),
    "not yet valid": lambda: mint(ALL, now=now + 3600),
    "ID-token-shaped (typ JWT)": _id_token_shaped,
}


@pytest.mark.parametrize("case", list(FORGERIES))
def test_forged_token_is_refused_by_the_rs(rs: RunningRS, case: str) -> None:
    response = rs.rpc.call("notes_add", {"text": f"written with {case}"}, token=FORGERIES[case]())
    assert response.status_code == 401, response.text
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    # Nothing was written for anybody the token could have named.
    for sub in ("user-alex", "user-victim", "mallory"):
        listing = rs.rpc.call("notes_list", token=mint("notes:read", subject=sub))
        assert listing.json()["result"]["structuredContent"]["count"] == 0


def test_the_genuine_token_is_accepted(rs: RunningRS) -> None:
    """The control: the same key and claims, unforged, do write."""
    response = rs.rpc.call("notes_add", {"text": "genuine"}, token=mint(ALL))
    assert response.status_code == 200 and response.json()["result"]["isError"] is False


def test_unknown_kid_costs_one_jwks_refetch_at_most(rs: RunningRS) -> None:
    rs.rpc.call("notes_list", token=mint(ALL))  # warm the cache
    before = rs.fake_as.jwks_fetches
    for _ in range(5):
        assert rs.rpc.call("notes_list", token=mint(ALL, key=OTHER_KEY)).status_code == 401
    assert rs.fake_as.jwks_fetches - before <= 1  # no amplification against the AS


@pytest.mark.parametrize("where", ["query", "query+header"])
def test_token_in_a_query_string_is_refused(rs: RunningRS, where: str) -> None:
    token = mint(ALL)
    headers: dict[str, Any] = {
        "Accept": "application/json, text/event-stream",
        "Mcp-Protocol-Version": "2025-06-18",
    }
    if where == "query+header":
        headers["Authorization"] = f"Bearer {token}"
    response = rs.client.post(
        f"/mcp?access_token={token}",
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "notes_add", "arguments": {"text": "x"}},
        },
        headers=headers,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    listing = rs.rpc.call("notes_list", token=token)
    assert listing.json()["result"]["structuredContent"]["count"] == 0


@pytest.mark.parametrize("case", ["alg none", "HS256 signed with the public key", "tampered payload"])
def test_forgeries_built_on_a_real_as_token_are_inactive_at_introspection(
    as_client: TestClient, case: str
) -> None:
    """The AS verifies its own tokens with the same rules: forge from a token it really issued."""
    # The token's own client introspects: it is the only one that would see it as active.
    introspector = register_client(as_client, token_endpoint_auth_method="client_secret_post")
    genuine = get_tokens(as_client, introspector).access_token
    assert introspect_with(as_client, introspector, genuine)["active"] is True
    header, payload, signature = genuine.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    kid = jwt.get_unverified_header(genuine)["kid"]
    if case == "alg none":
        forged = jwt.encode(claims, None, algorithm="none", headers={"typ": "at+jwt", "kid": kid})
    elif case == "tampered payload":
        claims["scope"] = "profile:read notes:read notes:write offline_access"
        edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        forged = f"{header}.{edited}.{signature}"
    else:
        jwks = as_client.get("/oauth2/jwks").json()
        public = jwt.PyJWK(jwks["keys"][0]).key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        forged = forged_token({"alg": "HS256", "typ": "at+jwt", "kid": kid}, secret=public)
    assert introspect_with(as_client, introspector, forged) == {"active": False}
