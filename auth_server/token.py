"""The token endpoint (RFC 6749 §3.2): one small class per grant type, like Authlib's grant types.

``POST /oauth2/token`` takes a form-encoded body, authenticates the client
(``client_auth.py``) and hands over to the grant named by ``grant_type``:

* :class:`AuthorizationCodeExchange` (§4.1.3): the code must be this client's, unexpired and
  unused; ``redirect_uri`` must equal the one of the authorization request; the PKCE
  ``code_verifier`` must hash to the ``code_challenge`` (RFC 7636 §4.6); ``resource``, if
  sent, must be the one the code was issued for (RFC 8707 §2.2). A code is consumed by a
  single ``UPDATE … WHERE used = 0``, so of two concurrent redemptions exactly one wins.
* :class:`RefreshTokenExchange` (§6): rotation on every use (OAuth 2.1 §4.3.1, RFC 9700
  §4.14.2), with reuse detection and a short retry window (below). ``scope`` may only
  narrow the original grant.

**A code presented twice** is always refused with ``invalid_grant`` (RFC 6749 §4.1.2: the
AS MUST deny it). Whether the tokens of the first exchange are revoked (§4.1.2 SHOULD, RFC
9700 §4.5) depends on what the second request proves:

* *the code's own client with the right* ``code_verifier`` *within* :data:`RETRY_WINDOW_SEC`
  *(60 s) of the first exchange* — the client retrying a request whose answer it did not
  see (ChatGPT has been seen POSTing ``/token`` twice). Nothing is revoked: doing so would
  sign out the user of a client that did everything right. The cost: PKCE's verifier
  never leaves the client, so a second holder of it has broken into the client (or its
  TLS to this server) and could take its tokens anyway; such an attacker who *won* the
  race keeps what it won.
* *the verifier, later than that* — no client retries a code minutes later; two holders of
  the verifier are likelier, so the first exchange's grant is revoked.
* *no verifier, a wrong one, or another client* — proves nothing: PKCE already kept that
  party from getting tokens (the first redeemer held the verifier). Revoking here would
  let anyone who saw the redirect URL sign the user out, so nothing is revoked.

**A rotated refresh token presented again** is, by RFC 9700 §4.14.2, the sign that two
parties hold it, and strict reuse detection revokes the family. But a client whose
refresh *response* was lost (a timeout, a dropped connection) still holds only the old
token, and strictness signs its user out for a network blip. So, like
``cloudflare/workers-oauth-provider`` (the previous token stays valid until its
replacement is first used) but bounded in time, the old token is accepted again if

* it was rotated at most :data:`RETRY_WINDOW_SEC` (60 s) ago, and
* the token issued in its place has never been presented.

Then its successor dies and a new one replaces it (``Store.rotate_refresh_token``, one
write transaction), so a family never has two live refresh tokens. Anything else — the
old token after 60 s, or after its successor was used, or a token killed that way — is
reuse: the family is revoked.

What this lets an attacker do that strict detection would not: one who gets hold of a
refresh token *within 60 s after the client rotated it*, while the client has not yet
used the new one, receives working access tokens (one per retry, as many as it sends
within the window) and the family's only live refresh token. The client's own refresh
token is dead from then on; at the client's next refresh it is presented, reuse is
detected and the whole family — the attacker's tokens included — is revoked. So the
attacker keeps access until the victim's next refresh (access tokens are JWTs the RS
checks locally: up to ``ACCESS_TOKEN_TTL_SEC`` more). A token stolen later
than 60 s after its rotation revokes the family at once, as before. For a token stolen
*before* its rotation, whichever party presents it second within the window takes the
family over and the other's next refresh revokes it — where strict detection would revoke
at that second presentation.

Concurrency: of N concurrent presentations of one refresh token, each is served in turn
by that transaction, and at the end exactly one refresh token of the family is live; the
others' refresh tokens are dead and revoke the family when used.

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

from auth_server import paths
from auth_server.client_auth import authenticate_client
from auth_server.clients import Client
from auth_server.context import AuthContext, context_of
from auth_server.errors import NO_STORE, OAuthError
from auth_server.grants import find_refresh_token, issue_access_token, issue_refresh_token
from auth_server.params import Params, read_form
from auth_server.store import CodeRecord, GrantRecord, secret_hash
from shared.pkce import verify_s256
from shared.scopes import ScopeError, format_scope, parse_scope

router = APIRouter()

RETRY_WINDOW_SEC = 60
"""How long a client may repeat a token request whose answer it lost (module docstring)."""


def _check_resource(form: Params, bound: str) -> None:
    for resource in form.get_all("resource"):
        if resource != bound:
            raise OAuthError(
                "invalid_target", f"resource {resource!r} differs from the one granted ({bound!r})"
            )


def token_response(access_token: str, claims: dict[str, Any], refresh_token: str | None) -> JSONResponse:
    body: dict[str, Any] = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": claims["exp"] - claims["iat"],
        "scope": claims["scope"],
    }
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    return JSONResponse(body, headers=NO_STORE)


class TokenExchange(Protocol):
    """How one ``grant_type`` turns a token request into tokens (the grant itself: ``store.GrantRecord``)."""

    grant_type: ClassVar[str]

    async def issue(self, context: AuthContext, client: Client, form: Params) -> JSONResponse: ...


_ALREADY_USED = "the authorization code was already used (a code is single-use, RFC 6749 §4.1.2)"


class AuthorizationCodeExchange:
    """RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5) and resource indicators (RFC 8707)."""

    grant_type: ClassVar[str] = "authorization_code"

    async def issue(self, context: AuthContext, client: Client, form: Params) -> JSONResponse:
        store = context.store
        code_hash = secret_hash(form.require("code"))
        code = await store.get_code(code_hash)
        if code is None:
            raise OAuthError("invalid_grant", "the authorization code is unknown; start a new authorization")
        if code.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the authorization code was issued to another client")
        if code.used:
            raise await self._replayed(context, code, form.get("code_verifier"))
        if code.expires_at < time.time():
            raise OAuthError(
                "invalid_grant",
                f"the authorization code has expired (it lives {context.settings.auth_code_ttl_sec} s); "
                "start again",
            )
        redirect_uri = form.get("redirect_uri")
        if (redirect_uri is None and code.redirect_uri_sent) or (
            redirect_uri is not None and redirect_uri != code.redirect_uri
        ):
            raise OAuthError(
                "invalid_grant",
                f"redirect_uri must be exactly the one of the authorization request ({code.redirect_uri})",
            )
        verifier = form.get("code_verifier")
        if verifier is None:
            raise OAuthError("invalid_request", "code_verifier is missing; PKCE is required (RFC 7636 §4.5)")
        if not verify_s256(verifier, code.code_challenge):
            raise OAuthError(
                "invalid_grant", "code_verifier does not match the code_challenge (RFC 7636 §4.6)"
            )
        _check_resource(form, code.resource)

        grant = GrantRecord(
            grant_id=secrets.token_urlsafe(16),
            client_id=client.client_id,
            sub=code.sub,
            scope=code.scope,
            resource=code.resource,
            created_at=int(time.time()),
        )
        access_token, claims = await issue_access_token(context, grant, code.scope)
        if not await store.redeem_code(code_hash, grant, claims["jti"], claims["exp"]):
            # A concurrent request with the same verifier redeemed it a moment ago: the
            # client's own retry (module docstring), refused without revoking the winner's tokens.
            raise OAuthError("invalid_grant", _ALREADY_USED + "; the first exchange's tokens stay valid")
        refresh_token = None
        if "refresh_token" in client.grant_types:
            refresh_token, record = issue_refresh_token(context, grant)
            await store.add_refresh_token(record)
        return token_response(access_token, claims, refresh_token)

    @staticmethod
    async def _replayed(context: AuthContext, code: CodeRecord, verifier: str | None) -> OAuthError:
        """The answer to a code presented again — revoking its tokens only when that helps."""
        grant = await context.store.get_grant(code.grant_id) if code.grant_id else None
        proves_verifier = verifier is not None and verify_s256(verifier, code.code_challenge)
        if grant is None or not proves_verifier:
            return OAuthError("invalid_grant", _ALREADY_USED)
        if time.time() - grant.created_at <= RETRY_WINDOW_SEC:
            return OAuthError(
                "invalid_grant",
                _ALREADY_USED + "; this looks like a retry, so the tokens of the first exchange stay valid",
            )
        await context.store.revoke_grant(grant.grant_id)
        return OAuthError("invalid_grant", _ALREADY_USED + "; every token issued with it is now revoked")


class RefreshTokenExchange:
    """RFC 6749 §6 with rotation and reuse detection (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2)."""

    grant_type: ClassVar[str] = "refresh_token"

    async def issue(self, context: AuthContext, client: Client, form: Params) -> JSONResponse:
        store = context.store
        presented = form.require("refresh_token")
        found = await find_refresh_token(context, presented)
        if found is None:
            raise OAuthError("invalid_grant", "the refresh token is unknown or expired; sign in again")
        record, grant = found
        token_hash = secret_hash(presented)
        if grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the refresh token was issued to another client")
        if grant.revoked:
            raise OAuthError("invalid_grant", "the refresh token was revoked; sign in again")
        reused = OAuthError(
            "invalid_grant",
            "the refresh token was already used; refresh tokens rotate on every use, so a reused one may be "
            "stolen — every token of this grant is now revoked, sign in again",
        )
        now = int(time.time())
        if record.used and (record.rotated_at is None or now - record.rotated_at > RETRY_WINDOW_SEC):
            await store.revoke_grant(grant.grant_id)
            raise reused
        if record.expires_at < now:
            raise OAuthError("invalid_grant", "the refresh token has expired; sign in again")
        # Check the request fully before rotating, so a refused request does not burn the token.
        scope = self._narrowed_scope(form.get("scope"), grant.scope)
        _check_resource(form, grant.resource)
        access_token, claims = await issue_access_token(
            context, grant, scope
        )  # before rotating: it can still refuse
        refresh_token, successor = issue_refresh_token(context, grant)
        # Rotation, or a retry within the window; False means reuse (module docstring).
        if not await store.rotate_refresh_token(token_hash, successor, now, RETRY_WINDOW_SEC):
            await store.revoke_grant(grant.grant_id)
            raise reused
        await store.record_access_token(claims["jti"], grant.grant_id, claims["exp"])
        return token_response(access_token, claims, refresh_token)

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


EXCHANGES: dict[str, TokenExchange] = {
    exchange.grant_type: exchange for exchange in (AuthorizationCodeExchange(), RefreshTokenExchange())
}


@router.post(paths.TOKEN)
async def token(request: Request) -> JSONResponse:
    context = context_of(request)
    form = await read_form(request)
    grant_type = form.get("grant_type")
    if grant_type is None:
        raise OAuthError("invalid_request", "grant_type is missing; use authorization_code or refresh_token")
    exchange = EXCHANGES.get(grant_type)
    if exchange is None:
        raise OAuthError(
            "unsupported_grant_type",
            f"grant_type {grant_type!r} is not supported; use {' or '.join(EXCHANGES)}",
        )
    client = await authenticate_client(request, form, context)
    if grant_type not in client.grant_types:
        raise OAuthError("unauthorized_client", f"this client did not register the {grant_type} grant")
    return await exchange.issue(context, client, form)
