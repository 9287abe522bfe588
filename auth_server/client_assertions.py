"""Checking a client assertion: ``private_key_jwt`` client authentication (RFC 7523 §2.2 and §3).

Instead of a secret, the client sends a JWT it signed with its private key::

    client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
    client_assertion=eyJhbGciOiJSUzI1NiIsImtpZCI6Ii4uLiJ9.eyJpc3MiOi…

and the AS checks it with the public key the client publishes (``client_keys.py``). This is
how ChatGPT authenticates: its metadata document says ``private_key_jwt`` and points at
its key set. The checks, each with its own error message:

* **algorithm** — one of :data:`ASSERTION_ALGS` (RS256, PS256, ES256), or exactly the
  client's ``token_endpoint_auth_signing_alg`` when its metadata names one. Never ``none``
  and never an HMAC algorithm: with HS256 the "key" would be the client's *public* key,
  which anyone can download (the classic key-confusion forgery);
* **signature** — with the key the header's ``kid`` names in the client's key set;
* ``iss`` and ``sub`` — both the ``client_id`` (RFC 7523 §3 items 1 and 2);
* ``aud`` — this server: its token endpoint URL or its issuer identifier, alone or in a list
  (§3 item 3; clients differ in which one they use);
* ``exp`` — required and short: at most :data:`MAX_LIFETIME_SEC` after ``iat`` (or after now,
  without ``iat``), with :data:`LEEWAY_SEC` for clock skew (§3 item 4); ``nbf`` and ``iat``
  may not lie in the future;
* ``jti`` — required and single-use (§3 item 7). It is remembered in the store until the
  assertion expires, so a captured assertion cannot be replayed, not even after a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt

from auth_server.client_keys import ClientKeyError, ClientKeySets, key_source
from auth_server.clients import Client
from auth_server.errors import Refused
from auth_server.store import Store

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGS = ("ES256", "PS256", "RS256")
MAX_ASSERTION_BYTES = 8 * 1024
MAX_LIFETIME_SEC = 300
LEEWAY_SEC = 30
MAX_JTI_LENGTH = 256
_REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "jti"]


class AssertionRejected(Refused):
    """An assertion that does not authenticate the client; ``description`` says why and how to fix it."""

    def __init__(self, description: str) -> None:
        super().__init__(f"client_assertion refused: {description}")


def signing_algs(client: Client) -> tuple[str, ...]:
    """The algorithms the client's assertions may use: its declared one, or any of ours."""
    declared = client.metadata.get("token_endpoint_auth_signing_alg")
    return (declared,) if declared else ASSERTION_ALGS


def claimed_client_id(assertion: str) -> str | None:
    """The client an assertion says it is from (its ``sub``), read without verifying anything.

    RFC 7521 §4.2 makes ``client_id`` optional when an assertion is sent, so this is how the
    AS learns which client's keys to check it with. Verification then insists on the match.
    """
    if len(assertion) > MAX_ASSERTION_BYTES:
        return None
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


class ClientAssertionVerifier:
    """Verifies RFC 7523 client assertions against the client's published keys."""

    def __init__(
        self,
        keys: ClientKeySets,
        store: Store,
        *,
        issuer: str,
        token_endpoint: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self._store = store
        self.issuer = issuer
        self.token_endpoint = token_endpoint
        self._clock = clock

    async def verify(self, client: Client, assertion: str) -> None:
        """Return if ``assertion`` authenticates ``client``; raise :class:`AssertionRejected` if not."""
        if len(assertion) > MAX_ASSERTION_BYTES:
            raise AssertionRejected(f"it is longer than {MAX_ASSERTION_BYTES} bytes")
        alg, kid = self._header(client, assertion)
        try:
            key = await self.keys.key_for(client, kid, alg)
        except ClientKeyError as exc:
            raise AssertionRejected(exc.description) from None
        claims = self._decode(client, assertion, key, alg, kid)
        self._check_claims(client, claims)
        jti = claims["jti"]
        if not await self._store.use_client_assertion_jti(
            client.client_id, jti, int(claims["exp"]) + LEEWAY_SEC
        ):
            raise AssertionRejected(
                f"it was already used (jti {jti!r}); an assertion is single-use, so sign a new one with a "
                "fresh jti for every request (RFC 7523 §3)"
            )

    @staticmethod
    def _header(client: Client, assertion: str) -> tuple[str, str | None]:
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise AssertionRejected("it is not a well-formed JWT (header.payload.signature)") from None
        alg = header.get("alg")
        allowed = signing_algs(client)
        if alg not in allowed:
            why = (
                "an unsigned or HMAC-signed assertion proves nothing, since the key would be public"
                if isinstance(alg, str) and (alg.lower() == "none" or alg.upper().startswith("HS"))
                else "this client's assertions must be signed with its private key"
            )
            raise AssertionRejected(f"it is signed with alg {alg!r}; {why}: use {' or '.join(allowed)}")
        if "crit" in header:
            raise AssertionRejected(
                f"its header marks {header['crit']!r} critical, which is not supported here"
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise AssertionRejected("its header has a kid that is not a string")
        return alg, kid

    def _decode(self, client: Client, assertion: str, key: Any, alg: str, kid: str | None) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                key,
                algorithms=[alg],
                leeway=LEEWAY_SEC,
                options={"require": _REQUIRED_CLAIMS, "verify_aud": False},
            )
        except jwt.InvalidSignatureError:
            raise AssertionRejected(
                f"its signature does not verify with key {kid!r} of {key_source(client)}; sign with the "
                "private half of a key published there"
            ) from None
        except jwt.ExpiredSignatureError:
            raise AssertionRejected("it has expired (exp is past); sign a new one for each request") from None
        except jwt.ImmatureSignatureError:
            raise AssertionRejected("its nbf or iat lies in the future; check the client's clock") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AssertionRejected(f"it lacks the {exc.claim!r} claim, which RFC 7523 §3 requires") from None
        except jwt.PyJWTError as exc:
            raise AssertionRejected(f"it is not a valid JWT ({exc})") from None
        return claims

    def _check_claims(self, client: Client, claims: dict[str, Any]) -> None:
        iss, sub = claims["iss"], claims["sub"]
        if iss != sub:
            raise AssertionRejected(
                f"iss {iss!r} and sub {sub!r} differ; both must be the client_id (RFC 7523 §3)"
            )
        if sub != client.client_id:
            raise AssertionRejected(
                f"it was issued by client {sub!r}, not {client.client_id!r}; set iss and sub to your own "
                "client_id"
            )
        aud = claims["aud"]
        audiences = aud if isinstance(aud, list) else [aud]
        if not any(value in (self.token_endpoint, self.issuer) for value in audiences):
            raise AssertionRejected(
                f"its aud {aud!r} does not name this server; use the token endpoint {self.token_endpoint} "
                f"or the issuer {self.issuer}"
            )
        now = self._clock()
        exp = claims["exp"]
        iat = claims.get("iat")
        start = iat if isinstance(iat, (int, float)) else now
        if exp - min(start, now) > MAX_LIFETIME_SEC + LEEWAY_SEC:
            raise AssertionRejected(
                f"it is valid for too long (exp is {int(exp - min(start, now))} s away); an assertion may "
                f"live at most {MAX_LIFETIME_SEC} s"
            )
        jti = claims["jti"]
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
            raise AssertionRejected(f"its jti must be a string of 1 to {MAX_JTI_LENGTH} characters")
