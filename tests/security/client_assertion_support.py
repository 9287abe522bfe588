"""Acting as a client that signs its token requests (``private_key_jwt``, RFC 7523) — for tests.

The published documents in ``tests/fixtures/client_metadata`` are served unchanged by the
fake web of ``tests/auth_server/as_support.Documents``; the key set at their ``jwks_uri`` holds
the public half of :data:`CLIENT_KEY`, a key generated here, and :func:`sign_assertion`
signs with it the way ChatGPT does.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.auth_server.as_support import ISSUER, Documents

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "client_metadata"
TOKEN_ENDPOINT = ISSUER + "/oauth2/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
KID = "cimd-20260428030119"  # the kid ChatGPT's key set carried (see _seen.json)

CLIENT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def published_document(name: str) -> dict[str, Any]:
    """A real client's metadata document, exactly as it was published."""
    document: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return document


def public_jwk(key: rsa.RSAPrivateKey = CLIENT_KEY, kid: str = KID, **members: Any) -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return jwk | {"kid": kid, "use": "sig", "alg": "RS256"} | members


def serve_client(
    documents: Documents, document: dict[str, Any], *keys: dict[str, Any], **response: Any
) -> None:
    """Publish ``document`` at its client_id and, if it has a jwks_uri, a key set there."""
    documents.serve(document["client_id"], document)
    if "jwks_uri" in document:
        documents.serve(document["jwks_uri"], {"keys": list(keys) or [public_jwk()]}, **response)


def sign_assertion(
    client_id: str,
    *,
    key: Any = CLIENT_KEY,
    alg: str = "RS256",
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """An RFC 7523 §3 client assertion; ``claims`` override the defaults (``None`` drops one)."""
    now = int(time.time())
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_ENDPOINT,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(16),
    } | claims
    return jwt.encode(
        {name: value for name, value in body.items() if value is not None},
        key,
        algorithm=alg,
        headers={"kid": KID} | (headers or {}),
    )


def with_assertion(form: dict[str, str], assertion: str, client_id: str | None = None) -> dict[str, str]:
    """``form`` plus the client authentication of RFC 7523 §2.2 (``client_id`` is optional there)."""
    credentials = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}
    return form | credentials | ({"client_id": client_id} if client_id else {})


def post_token(
    http: httpx.Client, form: dict[str, str], assertion: str, client_id: str | None
) -> httpx.Response:
    return http.post("/oauth2/token", data=with_assertion(form, assertion, client_id))
