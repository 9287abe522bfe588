"""What a grant issues, and finding it again (RFC 6749 §1.3.1, §1.4, §1.5).

A *grant* (``store.GrantRecord``) is what the user's consent created: a client, a user, a
scope and a resource. Everything issued under it is made here, with one verb — *issue*:

* :func:`issue_code` — the single-use authorization code (RFC 6749 §4.1.2); only its hash
  is stored, with what it was issued for;
* :func:`issue_access_token` — an RFC 9068 JWT from ``shared.tokens`` for the grant,
  narrowed to a scope;
* :func:`issue_refresh_token` — a random refresh token and the record to store (its hash).

And found again by the token, revocation and introspection endpoints:
:func:`find_refresh_token` (the record and its grant) and :func:`verify_own_access_token`.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from auth_server.authorization_requests import AuthorizationRequest
from auth_server.context import AuthContext
from auth_server.errors import OAuthError
from auth_server.store import CodeRecord, GrantRecord, RefreshTokenRecord, secret_hash
from shared.tokens import InvalidToken, mint_access_token, read_header, verify_access_token


async def issue_code(context: AuthContext, request: AuthorizationRequest, sub: str) -> str:
    """A fresh single-use code; only its hash is stored, with what it was issued for."""
    code = secrets.token_urlsafe(32)
    await context.store.add_code(
        CodeRecord(
            code_hash=secret_hash(code),
            client_id=request.client_id,
            redirect_uri=request.redirect_uri,
            redirect_uri_sent=request.redirect_uri_sent,
            code_challenge=request.code_challenge,
            scope=request.scope,
            resource=request.resource,
            sub=sub,
            expires_at=int(time.time()) + context.settings.auth_code_ttl_sec,
        )
    )
    return code


async def issue_access_token(
    context: AuthContext, grant: GrantRecord, scope: str
) -> tuple[str, dict[str, Any]]:
    """A signed access token for ``grant`` narrowed to ``scope``."""
    user = await context.users.get(grant.sub)
    if user is None:
        raise OAuthError("invalid_grant", "the user of this grant no longer exists; sign in again")
    return mint_access_token(
        await context.keys.current(),
        issuer=context.settings.auth_issuer,
        subject=user.sub,
        audience=grant.resource,
        client_id=grant.client_id,
        scope=scope,
        ttl_sec=context.settings.access_token_ttl_sec,
        extra_claims=user.profile_claims(),
    )


def issue_refresh_token(context: AuthContext, grant: GrantRecord) -> tuple[str, RefreshTokenRecord]:
    """A fresh refresh token for ``grant`` and the record to store (only its hash)."""
    token = secrets.token_urlsafe(32)
    expires_at = int(time.time()) + context.settings.refresh_token_ttl_sec
    return token, RefreshTokenRecord(secret_hash(token), grant.grant_id, expires_at)


async def find_refresh_token(
    context: AuthContext, token: str
) -> tuple[RefreshTokenRecord, GrantRecord] | None:
    """The stored record of a refresh token and its grant; None if either is unknown."""
    record = await context.store.get_refresh_token(secret_hash(token))
    grant = await context.store.get_grant(record.grant_id) if record else None
    if record is None or grant is None:
        return None
    return record, grant


async def verify_own_access_token(context: AuthContext, token: str) -> dict[str, Any] | None:
    """The claims of a valid, unexpired access token this AS issued; None for anything else."""
    settings = context.settings
    try:
        header = read_header(token, algorithm=settings.jwt_alg)
        key = await context.keys.find(header.kid)
        if key is None:
            return None
        verifier = key.private if isinstance(key.private, bytes) else key.private.public_key()
        return verify_access_token(
            token,
            verifier,
            algorithm=settings.jwt_alg,
            issuer=settings.auth_issuer,
            audience=settings.mcp_resource,
        )
    except InvalidToken:
        return None
