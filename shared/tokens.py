"""JWT access tokens in the RFC 9068 profile: how the AS mints them and every server checks them.

The header carries ``typ: at+jwt`` (RFC 9068 §2.1) so that an ID token or any other JWT
signed by the same key cannot be replayed as an access token. The claims are ``iss``,
``sub``, ``aud``, ``exp``, ``iat``, ``jti``, ``client_id`` and ``scope`` (RFC 9068 §2.2),
plus the demo user's profile claims. Verification pins the algorithm from configuration
(never from the token header), checks the signature, then every claim in one place
(:func:`check_claims`): its type first, then ``iss``, ``aud``, ``exp``, ``nbf`` and ``iat``
with a small leeway for clock skew (RFC 9068 §4), and optionally a maximum lifetime.

Threats, and the answer to each:

* **A signed token with claims of the wrong type** (``scope`` a list, ``exp`` a string, ``sub``
  a number, ``aud`` a list holding junk, a date past the year 9999). Every server that reads
  claims — the RS's tools, the AS's introspection and revocation — would otherwise meet them as
  a crash (HTTP 500) or, worse, a coercion (``int("9999999999")``). :data:`CLAIM_TYPES` says
  what each claim must be, and a token that differs is refused with ``invalid_token`` and a
  description naming the claim. Fractional NumericDates stay legal (RFC 7519 §2).
* **A token that lives too long.** The RS never asks the AS whether a token was revoked, so a
  stolen token is good until ``exp``. ``max_lifetime_sec`` (the RS passes
  ``MAX_TOKEN_LIFETIME_SEC``) caps ``exp - iat``; together with "``iat`` not in the future"
  that bounds every accepted token to expire at most that long (plus the leeway) from now,
  whatever its issuer put in ``exp``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from shared.jwks import SigningKey
from shared.scopes import ScopeError, parse_scope

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


# ----- What each claim must be (RFC 7519 §4.1, RFC 9068 §2.2) -----
#
# Signed does not mean well-formed: a key that leaked, an AS with a bug or a test harness can
# sign ``"scope": ["admin"]`` or ``"exp": "9999999999"``. Every claim the servers read is
# therefore checked for its type here, once, before any code compares or uses it; a claim of
# the wrong type refuses the token with a description naming that claim. PyJWT's own claim
# checks are not used: they coerce (``int("9999999999")`` passes as an ``exp``), and their
# errors do not say which claim is wrong.

# RFC 7519 §2 NumericDate: seconds since the epoch as a JSON number, fractions allowed. A date
# after the year 9999 is no real date, and Python's datetime cannot even represent it.
MAX_NUMERIC_DATE = 253_402_300_799  # 9999-12-31T23:59:59Z


def _malformed(name: str, must_be: str) -> InvalidToken:
    return InvalidToken(f"the access token's {name!r} claim is malformed: it must be {must_be}")


def _string(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise _malformed(name, "a non-empty string")


def _numeric_date(name: str, value: Any) -> None:
    # bool is an int in Python, and JSON true is no date.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _malformed(name, "a number of seconds since 1970 (RFC 7519 NumericDate), not a string")
    if not 0 <= value <= MAX_NUMERIC_DATE:  # also false for NaN and infinity
        raise _malformed(name, f"a number of seconds between 0 and {MAX_NUMERIC_DATE}")


def _audience(name: str, value: Any) -> None:
    audiences = [value] if isinstance(value, str) else value
    if not isinstance(audiences, list) or not audiences:
        raise _malformed(name, "a string or a non-empty list of strings")
    if any(not isinstance(item, str) or not item for item in audiences):
        raise _malformed(name, "a string or a list of non-empty strings only")


def _scope(name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise _malformed(name, "one string of space-separated scopes (RFC 9068, RFC 6749 section 3.3)")
    try:
        parse_scope(value)
    except ScopeError as exc:
        must_be = "space-separated scope tokens of printable ASCII (RFC 6749 section 3.3)"
        raise _malformed(name, must_be) from exc


CLAIM_TYPES: dict[str, Callable[[str, Any], None]] = {
    "iss": _string,
    "sub": _string,
    "client_id": _string,
    "jti": _string,
    "aud": _audience,
    "exp": _numeric_date,
    "iat": _numeric_date,
    "nbf": _numeric_date,  # optional: checked only when present
    "scope": _scope,  # optional: absent means no scopes
}
"""Claim name → the check of its type; a claim not listed here is never read by either server."""


def check_claims(
    claims: dict[str, Any],
    *,
    issuer: str,
    audience: str,
    leeway_sec: int = DEFAULT_LEEWAY_SEC,
    max_lifetime_sec: int | None = None,
    now: float | None = None,
) -> None:
    """Check the claims of a token whose signature verified; raises :class:`InvalidToken`.

    Types first (:data:`CLAIM_TYPES`), then values: ``iss`` and ``aud`` (RFC 9068 §4); the
    time window, each bound widened by ``leeway_sec``: ``exp`` after now, ``nbf`` and ``iat``
    not after now; and — when ``max_lifetime_sec`` is given — ``exp - iat`` ≤ ``max_lifetime_sec``.
    """
    for name in REQUIRED_CLAIMS:
        if name not in claims:
            raise InvalidToken(f"the access token lacks the {name!r} claim")
    for name, check_type in CLAIM_TYPES.items():
        if name in claims:
            check_type(name, claims[name])

    if claims["iss"] != issuer:
        raise InvalidToken(f"the access token was not issued by {issuer}")
    audiences = [claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"]
    if audience not in audiences:
        raise InvalidToken(f"the access token was not issued for this resource ({audience})")

    current = time.time() if now is None else now
    if claims["exp"] <= current - leeway_sec:
        raise InvalidToken("the access token has expired; refresh it or sign in again")
    if claims.get("nbf", 0) > current + leeway_sec:
        raise InvalidToken("the access token is not valid yet (check the clocks of both servers)")
    if claims["iat"] > current + leeway_sec:
        raise InvalidToken("the access token was issued in the future (check the clocks of both servers)")
    lifetime = claims["exp"] - claims["iat"]
    if max_lifetime_sec is not None and lifetime > max_lifetime_sec:
        raise InvalidToken(
            f"the access token is valid for {int(lifetime)} seconds, longer than the {max_lifetime_sec} "
            "this resource accepts (MAX_TOKEN_LIFETIME_SEC); ask the authorization server for a shorter one"
        )


def verify_access_token(
    token: str,
    verification_key: Any,
    *,
    algorithm: str,
    issuer: str,
    audience: str,
    leeway_sec: int = DEFAULT_LEEWAY_SEC,
    max_lifetime_sec: int | None = None,
) -> dict[str, Any]:
    """Verify header, signature and claims; returns the claims or raises :class:`InvalidToken`.

    ``issuer`` and ``audience`` are compared as literal strings (a trailing slash matters).
    The claims returned have the types :data:`CLAIM_TYPES` names, so callers may use them as is.
    """
    read_header(token, algorithm=algorithm)
    try:
        # PyJWT checks the signature only; :func:`check_claims` owns every claim (see above).
        claims: dict[str, Any] = jwt.decode(
            token, verification_key, algorithms=[algorithm], options=_SIGNATURE_ONLY
        )
    except jwt.InvalidSignatureError as exc:
        raise InvalidToken("the access token signature is invalid") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken("the access token is invalid") from exc
    check_claims(
        claims, issuer=issuer, audience=audience, leeway_sec=leeway_sec, max_lifetime_sec=max_lifetime_sec
    )
    return claims


_SIGNATURE_ONLY: Any = {
    "verify_signature": True,
    **dict.fromkeys(
        ("verify_exp", "verify_nbf", "verify_iat", "verify_aud", "verify_iss", "verify_sub", "verify_jti"),
        False,
    ),
}
