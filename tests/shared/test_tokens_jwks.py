"""Unit tests of JWT access tokens (RFC 9068) and JWKS (RFC 7517/7638) helpers."""

import time

import jwt
import pytest

from shared.jwks import (
    UnusableKey,
    generate_signing_key,
    hs256_key,
    jwks_document,
    load_signing_key,
    thumbprint,
    verification_key,
)
from shared.tokens import InvalidToken, mint_access_token, read_header, verify_access_token

ISS = "http://localhost:4000"
AUD = "http://localhost:3000/mcp"


def _mint(key, **overrides):
    kwargs = dict(issuer=ISS, subject="user-alex", audience=AUD, client_id="c1", scope="notes:read")
    kwargs["ttl_sec"] = 60
    kwargs.update(overrides)
    return mint_access_token(key, **kwargs)


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_round_trip_through_published_jwk(alg: str) -> None:
    key = generate_signing_key(alg)
    token, claims = _mint(key)
    jwk = jwks_document([key])["keys"][0]
    assert jwk["kid"] == key.kid == thumbprint(jwk) and jwk["alg"] == alg and "d" not in jwk
    assert read_header(token, algorithm=alg).kid == key.kid
    verified = verify_access_token(token, verification_key(jwk, alg), algorithm=alg, issuer=ISS, audience=AUD)
    assert verified["sub"] == "user-alex" and verified["jti"] == claims["jti"]


def test_pem_persistence_keeps_kid() -> None:
    key = generate_signing_key("ES256")
    assert load_signing_key(key.private_pem(), "ES256").kid == key.kid
    with pytest.raises(UnusableKey):
        load_signing_key(key.private_pem(), "RS256")
    with pytest.raises(UnusableKey):
        load_signing_key(b"not a pem", "ES256")


def test_rejections() -> None:
    key = generate_signing_key("ES256")
    public = verification_key(key.public_jwk(), "ES256")
    check = dict(algorithm="ES256", issuer=ISS, audience=AUD)

    expired, _ = _mint(key, now=int(time.time()) - 3600)
    with pytest.raises(InvalidToken, match="expired"):
        verify_access_token(expired, public, **check)
    future, _ = _mint(key, now=int(time.time()) + 3600)
    with pytest.raises(InvalidToken, match="not valid yet"):
        verify_access_token(future, public, **check)
    wrong_aud, _ = _mint(key, audience="http://other/mcp")
    with pytest.raises(InvalidToken, match="not issued for this resource"):
        verify_access_token(wrong_aud, public, **check)
    slash_iss, _ = _mint(key, issuer=ISS + "/")
    with pytest.raises(InvalidToken, match="not issued by"):
        verify_access_token(slash_iss, public, **check)
    other = generate_signing_key("ES256")
    forged, _ = _mint(other)
    with pytest.raises(InvalidToken, match="signature"):
        verify_access_token(forged, public, **check)
    none_token = jwt.encode({"sub": "x"}, None, algorithm="none", headers={"typ": "at+jwt"})
    with pytest.raises(InvalidToken, match="ES256"):
        verify_access_token(none_token, public, **check)
    id_token = jwt.encode({"iss": ISS, "aud": AUD}, key.private, algorithm="ES256", headers={"typ": "JWT"})
    with pytest.raises(InvalidToken, match="at\\+jwt"):
        verify_access_token(id_token, public, **check)
    with pytest.raises(InvalidToken, match="well-formed"):
        verify_access_token("garbage", public, **check)


def test_hs256_demo_key() -> None:
    with pytest.raises(UnusableKey):
        hs256_key("too short")
    key = hs256_key("s" * 32)
    token, _ = _mint(key)
    assert verify_access_token(token, key.private, algorithm="HS256", issuer=ISS, audience=AUD)["sub"]
    assert jwks_document([key]) == {"keys": []}
