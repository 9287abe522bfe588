"""The upstream ID token's checks (``auth_server.upstream``): each claim that is wrong is refused.

The provider here is a stand-in answering discovery and JWKS through httpx's MockTransport,
so that tokens the real provider of ``tests/e2e/test_upstream_oidc.py`` would never send —
a wrong nonce or audience, an expired one, one signed by another key or with HS256 — can be
given to the real verification code.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from auth_server.upstream import OIDCUpstream, UpstreamError
from tests.auth_server.as_support import make_settings

ISSUER = "https://idp.example"
CLIENT_ID = "our-client"
NONCE = "the-nonce-we-sent"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _provider(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/.well-known/openid-configuration":
        return httpx.Response(
            200,
            json={
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/auth",
                "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/jwks",
            },
        )
    if request.url.path == "/jwks":
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
        return httpx.Response(200, json={"keys": [jwk | {"kid": "k1", "alg": "RS256", "use": "sig"}]})
    return httpx.Response(404)


def _token(key: Any = KEY, algorithm: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "u1", "iat": now, "exp": now + 300, "nonce": NONCE}
    body |= claims
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm, headers={"kid": "k1"})


def _verify(tmp_path: Path, token: str) -> dict[str, Any]:
    settings = make_settings(
        tmp_path,
        identity="oidc",
        upstream_issuer=ISSUER,
        upstream_client_id=CLIENT_ID,
        upstream_client_secret="s" * 32,
    )

    async def run() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(_provider)) as http:
            return await OIDCUpstream(settings, http)._verified_claims(token, NONCE)

    return asyncio.run(run())


def test_a_good_id_token_passes(tmp_path: Path) -> None:
    assert _verify(tmp_path, _token())["sub"] == "u1"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(_token(nonce="another-nonce"), id="wrong-nonce"),
        pytest.param(_token(nonce=None), id="no-nonce"),
        pytest.param(_token(aud="someone-else"), id="wrong-aud"),
        pytest.param(_token(iss="https://evil.example"), id="wrong-iss"),
        pytest.param(_token(exp=int(time.time()) - 3600), id="expired"),
        pytest.param(_token(key=OTHER_KEY), id="wrongly-signed"),
        pytest.param(_token(key="s" * 32, algorithm="HS256"), id="hs256-with-the-client-secret"),
        pytest.param(_token(azp="someone-else"), id="wrong-azp"),
        pytest.param("not.a.jwt", id="garbage"),
    ],
)
def test_a_bad_id_token_is_refused_with_a_page_message(tmp_path: Path, token: str) -> None:
    with pytest.raises(UpstreamError) as refused:
        _verify(tmp_path, token)
    assert refused.value.status_code == 400 and "ID token" in refused.value.message
