"""Token introspection (RFC 7662).

``POST /oauth2/introspect`` tells an authenticated *confidential* client whether a token
*issued to that client* is active and what it carries (§2.2): ``active``, ``scope``,
``client_id``, ``sub``, ``username``, ``aud``, ``iss``, ``exp``, ``iat``, ``token_type``
(``Bearer`` for access tokens, ``refresh_token`` for refresh tokens).

Who may introspect what (§4 asks the AS to decide): registration is open, so "a
confidential client" is anyone who POSTed to ``/oauth2/register``. Were any of them allowed
to introspect any token, one that came across another client's token — in a log, a proxy,
a shared screen — would learn whose it is (``sub``, ``username``), what it may do and how
long it lives. So a client sees only its own tokens; every other token is ``{"active":
false}``, exactly like an expired, revoked, malformed or foreign one, so the answer does not
even tell a prober that the token exists. Public clients get ``invalid_client``: anyone can
claim a public ``client_id``.

There is deliberately no all-seeing credential: this repository's resource server verifies
JWTs itself (``resource_server/token_verifier.py``) and never calls this endpoint. A
deployment whose resource server must introspect would name that one client in a setting
and let it see tokens whose ``aud`` is that resource.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from auth_server import paths
from auth_server.client_auth import authenticate_client
from auth_server.clients import Client
from auth_server.context import AuthContext, context_of
from auth_server.errors import NO_STORE, invalid_client
from auth_server.grants import find_refresh_token, verify_own_access_token
from auth_server.params import read_form

router = APIRouter()
INACTIVE: dict[str, Any] = {"active": False}


async def _access_token_info(context: AuthContext, client: Client, token: str) -> dict[str, Any] | None:
    claims = await verify_own_access_token(context, token)
    if claims is None or claims.get("client_id") != client.client_id:
        return None
    if await context.store.is_jti_revoked(claims["jti"]):
        return None
    fields = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti")
    return {"active": True, "token_type": "Bearer", "username": claims.get("preferred_username")} | {
        name: claims[name] for name in fields if name in claims
    }


async def _refresh_token_info(context: AuthContext, client: Client, token: str) -> dict[str, Any] | None:
    found = await find_refresh_token(context, token)
    if found is None or found[1].client_id != client.client_id:
        return None
    record, grant = found
    if grant.revoked or record.used or record.expires_at < time.time():
        return None
    return {
        "active": True,
        "token_type": "refresh_token",
        "scope": grant.scope,
        "client_id": grant.client_id,
        "sub": grant.sub,
        "aud": grant.resource,
        "iss": context.settings.auth_issuer,
        "exp": record.expires_at,
        "iat": grant.created_at,
    }


@router.post(paths.INTROSPECT)
async def introspect(request: Request) -> JSONResponse:
    context = context_of(request)
    form = await read_form(request)
    client = await authenticate_client(request, form, context)
    if not client.is_confidential:
        raise invalid_client(
            "introspection is only for confidential clients; register one with token_endpoint_auth_method "
            "client_secret_basic or client_secret_post"
        )
    token = form.require("token")
    lookups = [_access_token_info, _refresh_token_info]
    if form.get("token_type_hint") == "refresh_token":
        lookups.reverse()
    for lookup in lookups:
        if info := await lookup(context, client, token):
            return JSONResponse(info, headers=NO_STORE)
    return JSONResponse(INACTIVE, headers=NO_STORE)
