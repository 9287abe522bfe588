"""Access-token validation at the resource server (RFC 9068 §4, RFC 6750 §2.1).

The one place where a bearer token becomes a verified caller. Everything a token must pass:

1. It arrives in the ``Authorization: Bearer`` header (RFC 6750 §2.1) — the only method this
   RS advertises (``bearer_methods_supported: ["header"]``). A token in the query string
   (§2.3) would end up in logs and browser history, so such a request is refused outright.
2. The header names the configured algorithm (``JWT_ALG``; never taken from the token, which
   defeats ``alg=none`` and the HS256-with-the-public-key confusion) and ``typ: at+jwt``.
3. The signature verifies with the AS key for the token's ``kid`` from the cached JWKS
   (:mod:`resource_server.jwks_cache`), or with ``JWT_SECRET`` in the HS256 demo mode.
4. Every claim has the type RFC 9068 gives it (a ``scope`` list or an ``exp`` string is
   ``invalid_token``, never a crash), ``iss`` is ``AUTH_ISSUER``, ``aud`` contains
   ``MCP_RESOURCE`` (RFC 8707: a token minted for another resource is useless here),
   ``exp``/``nbf``/``iat`` hold with a small leeway.
5. It lives no longer than ``MAX_TOKEN_LIFETIME_SEC`` (``exp - iat``): this RS cannot see a
   revocation, so the lifetime is the most a stolen token is good for.

Steps 2, 4 and 5 are :mod:`shared.tokens`, the same code the AS's introspection uses; once a
token passed them, its claims have the right types and nothing here checks them again. The
token itself is never stored, logged, or passed on to another service. A token that passed
is remembered by its SHA-256 (:mod:`resource_server.verified_tokens`), so the next call
with it skips the signature check until it expires or its key leaves the JWK Set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

from shared.jwks import hs256_key
from shared.scopes import parse_scope
from shared.settings import Settings
from shared.tokens import InvalidToken, read_header, verify_access_token

from .jwks_cache import JwksCache, JwksUnavailable, UnknownKey
from .verified_tokens import VerifiedTokenCache


class BadRequest(Exception):
    """A request that is malformed rather than unauthorized (RFC 6750 §3.1 ``invalid_request``)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True)
class VerifiedToken:
    """What the tools may know about the caller: the claims of a token that passed every check."""

    subject: str
    client_id: str
    scopes: frozenset[str]
    expires_at: int
    claims: Mapping[str, Any] = field(repr=False)  # read-only: one result serves many requests

    @property
    def expires_at_iso(self) -> str:
        return datetime.fromtimestamp(self.expires_at, UTC).isoformat().replace("+00:00", "Z")

    def has_scopes(self, required: Iterable[str]) -> bool:
        return set(required) <= self.scopes


def bearer_token_from(headers: Iterable[tuple[bytes, bytes]], query_string: bytes) -> str | None:
    """The bearer token of a request (RFC 6750 §2.1), ``None`` when it carries none.

    Raises :class:`BadRequest` for a token outside the header (§2.3, refused by this RS)
    or for more than one ``Authorization`` header.
    """
    if any(
        name == "access_token"
        for name, _ in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    ):
        raise BadRequest(
            "send the access token in the Authorization header; tokens in the URL are refused (RFC 6750 §2.3)"
        )
    values = [value for name, value in headers if name == b"authorization"]
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest("send exactly one Authorization header")
    scheme, _, token = values[0].decode("latin-1").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None  # another scheme (e.g. Basic) is simply not a bearer credential
    return token.strip()


class TokenVerifier:
    """Verifies access tokens for this resource; raises :class:`shared.tokens.InvalidToken`."""

    def __init__(self, settings: Settings, jwks: JwksCache | None) -> None:
        self.algorithm = settings.jwt_alg
        self.issuer = settings.auth_issuer
        self.audience = settings.mcp_resource
        self.max_lifetime_sec = settings.max_token_lifetime_sec
        self.jwks = jwks
        # HS256 is the demo mode: AS and RS share JWT_SECRET and no key is ever published.
        self._secret = hs256_key(settings.jwt_secret or "").private if settings.jwt_alg == "HS256" else None
        self.cache = VerifiedTokenCache()

    async def verify(self, token: str) -> VerifiedToken:
        if not token:
            raise InvalidToken("the Authorization header has the Bearer scheme but no token")
        cached = self.cache.get(token, self._current_key)
        if cached is not None:
            return cached
        header = read_header(token, algorithm=self.algorithm)
        key = self._secret if self._secret is not None else await self._public_key(header.kid)
        verified = self._verified(token, key)
        self.cache.put(token, verified, kid=header.kid, key=key)
        return verified

    def _current_key(self, kid: str | None) -> Any:
        if self._secret is not None:
            return self._secret
        assert self.jwks is not None
        return self.jwks.cached_key(kid)

    def _verified(self, token: str, key: Any) -> VerifiedToken:
        claims = verify_access_token(
            token,
            key,
            algorithm=self.algorithm,
            issuer=self.issuer,
            audience=self.audience,
            max_lifetime_sec=self.max_lifetime_sec,
        )
        return VerifiedToken(
            subject=claims["sub"],
            client_id=claims["client_id"],
            scopes=parse_scope(claims.get("scope")),  # well-formed: checked by shared.tokens
            expires_at=int(claims["exp"]),
            claims=MappingProxyType(claims),
        )

    async def _public_key(self, kid: str | None) -> Any:
        assert self.jwks is not None, "asymmetric algorithms need a JWKS cache"
        try:
            return await self.jwks.key_for(kid)
        except JwksUnavailable as exc:
            raise InvalidToken(exc.description) from exc
        except UnknownKey as exc:
            # The kid is the caller's text: it is not echoed back into a response header.
            raise InvalidToken(
                "the access token names a key (kid) that the authorization server does not publish"
                if kid is not None
                else "the access token has no 'kid' and the authorization server publishes several keys"
            ) from exc
