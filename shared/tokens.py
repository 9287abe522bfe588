"""JWT access tokens in the RFC 9068 profile: how the AS mints them and every server checks them.

The header carries ``typ: at+jwt`` (RFC 9068 §2.1) so that an ID token or any other JWT
signed by the same key cannot be replayed as an access token. The claims are ``iss``,
``sub``, ``aud``, ``exp``, ``iat``, ``jti``, ``client_id`` and ``scope`` (RFC 9068 §2.2),
plus the demo user's profile claims. Verification pins the algorithm from configuration
(never from the token header), and checks ``iss``, ``aud``, ``exp`` and ``nbf`` with a
small leeway for clock skew (RFC 9068 §4).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from shared.jwks import SigningKey

ACCESS_TOKEN_TYP = "at+jwt"
_ACCEPTED_TYPS = {"at+jwt", "application/at+jwt"}  # RFC 9068 §4: compare case-insensitively
DEFAULT_LEEWAY_SEC = 30
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id")


class InvalidToken(Exception):
    """An access token that must be refused; ``description`` is safe to show the client."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True)
class TokenHeader:
    kid: str | None
    alg: str


def mint_access_token(
    key: SigningKey,
    *,
    issuer: str,
    subject: str,
    audience: str,
    client_id: str,
    scope: str,
    ttl_sec: int,
    extra_claims: dict[str, Any] | None = None,
    now: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """Sign a new access token; returns the compact JWT and the claims it carries."""
    issued_at = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        **(extra_claims or {}),
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + ttl_sec,
        "jti": secrets.token_urlsafe(16),
        "client_id": client_id,
        "scope": scope,
    }
    token = jwt.encode(
        claims, key.private, algorithm=key.alg, headers={"typ": ACCESS_TOKEN_TYP, "kid": key.kid}
    )
    return token, claims


def read_header(token: str, *, algorithm: str) -> TokenHeader:
    """Check the unverified header before any key lookup: shape, pinned ``alg`` and ``typ``."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken("the access token is not a well-formed JWT") from exc
    if header.get("alg") != algorithm:
        raise InvalidToken(f"the access token must be signed with {algorithm}, not {header.get('alg')!r}")
    typ = str(header.get("typ", "")).lower()
    if typ not in _ACCEPTED_TYPS:
        raise InvalidToken("the token is not an access token (RFC 9068 requires typ 'at+jwt')")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise InvalidToken("the access token header has a malformed 'kid'")
    return TokenHeader(kid=kid, alg=algorithm)


def verify_access_token(
    token: str,
    verification_key: Any,
    *,
    algorithm: str,
    issuer: str,
    audience: str,
    leeway_sec: int = DEFAULT_LEEWAY_SEC,
) -> dict[str, Any]:
    """Verify signature and claims; returns the claims or raises :class:`InvalidToken`.

    ``issuer`` and ``audience`` are compared as literal strings (a trailing slash matters).
    """
    read_header(token, algorithm=algorithm)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            verification_key,
            algorithms=[algorithm],
            issuer=issuer,
            audience=audience,
            leeway=leeway_sec,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("the access token has expired; refresh it or sign in again") from exc
    except jwt.ImmatureSignatureError as exc:
        raise InvalidToken("the access token is not valid yet (check the clocks of both servers)") from exc
    except jwt.InvalidAudienceError as exc:
        raise InvalidToken(f"the access token was not issued for this resource ({audience})") from exc
    except jwt.InvalidIssuerError as exc:
        raise InvalidToken(f"the access token was not issued by {issuer}") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"the access token lacks the {exc.claim!r} claim") from exc
    except jwt.InvalidSignatureError as exc:
        raise InvalidToken("the access token signature is invalid") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken("the access token is invalid") from exc
    return claims
