"""Access-token validation at the resource server (RFC 9068 §4, RFC 6750 §2.1).

The one place where a bearer token becomes a verified caller (a
:class:`~resource_server.verified_tokens.VerifiedToken`). Everything a token must pass:

1. It arrives in the ``Authorization: Bearer`` header (RFC 6750 §2.1) — the only method this
   RS advertises (``bearer_methods_supported: ["header"]``). :mod:`resource_server.mcp_requests`
   takes it from there, and refuses a request with a token in the query string (§2.3).
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

from types import MappingProxyType
from typing import Any

from shared.jwks import hs256_key
from shared.scopes import parse_scope
from shared.settings import Settings
from shared.tokens import InvalidToken, read_header, verify_access_token

from .jwks_cache import JwksCache, JwksUnavailable, UnknownKey
from .verified_tokens import VerifiedToken, VerifiedTokenCache


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
