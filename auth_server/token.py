"""The token endpoint (RFC 6749 §3.2): one small class per grant, like Authlib's grant types.

``POST /oauth2/token`` takes a form-encoded body, authenticates the client
(``client_auth.py``) and hands over to the grant named by ``grant_type``:

* :class:`AuthorizationCodeGrant` (§4.1.3): the code must be this client's, unexpired and
  unused; ``redirect_uri`` must equal the one of the authorization request; the PKCE
  ``code_verifier`` must hash to the ``code_challenge`` (RFC 7636 §4.6); ``resource``, if
  sent, must be the one the code was issued for (RFC 8707 §2.2). A code is consumed by a
  single ``UPDATE … WHERE used = 0``, so of two concurrent redemptions one fails. A code
  presented again means it leaked: the answer is ``invalid_grant`` and every token issued
  from it — its refresh-token family and access tokens — is revoked (§4.1.2, RFC 9700 §4.5).
* :class:`RefreshTokenGrant` (§6): rotation on every use (OAuth 2.1 §4.3.1, RFC 9700
  §4.14.2). Presenting a refresh token that was already rotated means two parties hold it,
  so the whole family is revoked. ``scope`` may only narrow the original grant.

Refresh tokens are issued whenever the client registered the ``refresh_token`` grant (the
default), with or without ``offline_access``: ChatGPT, Claude and the MCP SDKs all expect
one, and an MCP session outlives a 10-minute access token.

Access tokens are RFC 9068 JWTs from ``shared.tokens.mint_access_token``: ``aud`` the
resource, ``client_id``, ``scope``, and the user's ``name``, ``email``,
``preferred_username``. Responses follow §5.1 with ``Cache-Control: no-store``; errors §5.2.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, ClassVar, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from auth_server.client_auth import authenticate_client
from auth_server.clients import Client
from auth_server.context import AuthServer, server
from auth_server.errors import NO_STORE, OAuthError
from auth_server.params import Params, read_form
from auth_server.store import GrantRecord, RefreshTokenRecord, secret_hash
from auth_server.users import get_user
from shared.pkce import verify_s256
from shared.scopes import ScopeError, format_scope, parse_scope
from shared.tokens import InvalidToken, mint_access_token, read_header, verify_access_token

router = APIRouter()


def _invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def _check_resource(form: Params, bound: str) -> None:
    for resource in form.get_all("resource"):
        if resource != bound:
            raise OAuthError(
                "invalid_target", f"resource {resource!r} differs from the one granted ({bound!r})"
            )


def mint(context: AuthServer, grant: GrantRecord, scope: str) -> tuple[str, dict[str, Any]]:
    """A signed access token for ``grant`` narrowed to ``scope``."""
    user = get_user(grant.sub)
    if user is None:
        raise _invalid_grant("the user of this grant no longer exists; sign in again")
    return mint_access_token(
        context.keys.current(),
        issuer=context.settings.auth_issuer,
        subject=user.sub,
        audience=grant.resource,
        client_id=grant.client_id,
        scope=scope,
        ttl_sec=context.settings.access_token_ttl_sec,
        extra_claims=user.profile_claims(),
    )


def new_refresh_token(context: AuthServer, grant: GrantRecord) -> str:
    token = secrets.token_urlsafe(32)
    expires_at = int(time.time()) + context.settings.refresh_token_ttl_sec
    context.store.add_refresh_token(RefreshTokenRecord(secret_hash(token), grant.grant_id, expires_at))
    return token


def token_response(
    context: AuthServer, client: Client, grant: GrantRecord, access_token: str, claims: dict[str, Any]
) -> JSONResponse:
    body: dict[str, Any] = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": claims["exp"] - claims["iat"],
        "scope": claims["scope"],
    }
    if "refresh_token" in client.grant_types:
        body["refresh_token"] = new_refresh_token(context, grant)
    return JSONResponse(body, headers=NO_STORE)


def verify_own_access_token(context: AuthServer, token: str) -> dict[str, Any] | None:
    """The claims of a valid, unexpired access token this AS issued; None for anything else."""
    settings = context.settings
    try:
        header = read_header(token, algorithm=settings.jwt_alg)
        key = context.keys.find(header.kid)
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


class Grant(Protocol):
    grant_type: ClassVar[str]

    async def exchange(self, context: AuthServer, client: Client, form: Params) -> JSONResponse: ...


class AuthorizationCodeGrant:
    """RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5) and resource indicators (RFC 8707)."""

    grant_type: ClassVar[str] = "authorization_code"

    async def exchange(self, context: AuthServer, client: Client, form: Params) -> JSONResponse:
        store = context.store
        code_hash = secret_hash(form.require("code"))
        code = store.get_code(code_hash)
        if code is None:
            raise _invalid_grant("the authorization code is unknown; start a new authorization")
        if code.used:
            if code.grant_id:
                store.revoke_grant(code.grant_id)
            raise _invalid_grant(
                "the authorization code was already used; every token issued with it is now revoked "
                "(a code is single-use, RFC 6749 §4.1.2)"
            )
        if code.client_id != client.client_id:
            raise _invalid_grant("the authorization code was issued to another client")
        if code.expires_at < time.time():
            raise _invalid_grant(
                f"the authorization code has expired (it lives {context.settings.auth_code_ttl_sec} s); "
                "start again"
            )
        redirect_uri = form.get("redirect_uri")
        if (redirect_uri is None and code.redirect_uri_sent) or (
            redirect_uri is not None and redirect_uri != code.redirect_uri
        ):
            raise _invalid_grant(
                f"redirect_uri must be exactly the one of the authorization request ({code.redirect_uri})"
            )
        verifier = form.get("code_verifier")
        if verifier is None:
            raise OAuthError("invalid_request", "code_verifier is missing; PKCE is required (RFC 7636 §4.5)")
        if not verify_s256(verifier, code.code_challenge):
            raise _invalid_grant("code_verifier does not match the code_challenge (RFC 7636 §4.6)")
        _check_resource(form, code.resource)

        grant = GrantRecord(
            grant_id=secrets.token_urlsafe(16),
            client_id=client.client_id,
            sub=code.sub,
            scope=code.scope,
            resource=code.resource,
            created_at=int(time.time()),
        )
        access_token, claims = mint(context, grant, code.scope)
        if not store.redeem_code(code_hash, grant, claims["jti"], claims["exp"]):
            # Another request redeemed it between our read and now: that is a replay too.
            raced = store.get_code(code_hash)
            if raced and raced.grant_id:
                store.revoke_grant(raced.grant_id)
            raise _invalid_grant(
                "the authorization code was already used; every token issued with it is now revoked"
            )
        return token_response(context, client, grant, access_token, claims)


class RefreshTokenGrant:
    """RFC 6749 §6 with rotation and reuse detection (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2)."""

    grant_type: ClassVar[str] = "refresh_token"

    async def exchange(self, context: AuthServer, client: Client, form: Params) -> JSONResponse:
        store = context.store
        token_hash = secret_hash(form.require("refresh_token"))
        record = store.get_refresh_token(token_hash)
        grant = store.get_grant(record.grant_id) if record else None
        if record is None or grant is None:
            raise _invalid_grant("the refresh token is unknown or expired; sign in again")
        if grant.client_id != client.client_id:
            raise _invalid_grant("the refresh token was issued to another client")
        if grant.revoked:
            raise _invalid_grant("the refresh token was revoked; sign in again")
        reused = _invalid_grant(
            "the refresh token was already used; refresh tokens rotate on every use, so a reused one may be "
            "stolen — every token of this grant is now revoked, sign in again"
        )
        if record.used:
            store.revoke_grant(grant.grant_id)
            raise reused
        if record.expires_at < time.time():
            raise _invalid_grant("the refresh token has expired; sign in again")
        # Check the request fully before rotating, so a refused request does not burn the token.
        scope = self._narrowed_scope(form.get("scope"), grant.scope)
        _check_resource(form, grant.resource)
        if not store.use_refresh_token(token_hash):  # a concurrent request rotated it first
            store.revoke_grant(grant.grant_id)
            raise reused
        access_token, claims = mint(context, grant, scope)
        store.record_access_token(claims["jti"], grant.grant_id, claims["exp"])
        return token_response(context, client, grant, access_token, claims)

    @staticmethod
    def _narrowed_scope(requested: str | None, granted: str) -> str:
        if requested is None:
            return granted
        try:
            scopes = parse_scope(requested)
        except ScopeError as exc:
            raise OAuthError("invalid_scope", str(exc)) from None
        if beyond := scopes - parse_scope(granted):
            raise OAuthError(
                "invalid_scope",
                f"a refresh can only narrow the grant ({granted}); "
                f"{' '.join(sorted(beyond))} was not granted",
            )
        return format_scope(scopes)


GRANTS: dict[str, Grant] = {
    grant.grant_type: grant for grant in (AuthorizationCodeGrant(), RefreshTokenGrant())
}


@router.post("/oauth2/token")
async def token(request: Request) -> JSONResponse:
    context = server(request)
    form = await read_form(request)
    grant_type = form.get("grant_type")
    if grant_type is None:
        raise OAuthError("invalid_request", "grant_type is missing; use authorization_code or refresh_token")
    grant = GRANTS.get(grant_type)
    if grant is None:
        raise OAuthError(
            "unsupported_grant_type", f"grant_type {grant_type!r} is not supported; use {' or '.join(GRANTS)}"
        )
    client = await authenticate_client(request, form, context)
    if grant_type not in client.grant_types:
        raise OAuthError("unauthorized_client", f"this client did not register the {grant_type} grant")
    return await grant.exchange(context, client, form)
