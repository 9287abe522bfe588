"""Token revocation (RFC 7009).

``POST /oauth2/revoke`` with client authentication, ``token`` and an optional
``token_type_hint`` (§2.1). Revoking a refresh token revokes its whole family — the grant
and every access token issued under it; revoking an access token records its ``jti`` as
revoked (seen by introspection; the resource server verifies JWTs locally, which is why
access tokens live only minutes). A token that is unknown, expired or another client's gets
the same empty 200 as a revoked one (§2.2): the answer reveals nothing.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from auth_server import paths
from auth_server.client_auth import authenticate_client
from auth_server.clients import Client
from auth_server.context import AuthContext, context_of
from auth_server.errors import NO_STORE
from auth_server.grants import find_refresh_token, verify_own_access_token
from auth_server.params import read_form

router = APIRouter()


async def _revoke_refresh_token(context: AuthContext, client: Client, token: str) -> bool:
    found = await find_refresh_token(context, token)
    if found is None:
        return False
    _, grant = found
    if grant.client_id == client.client_id:
        await context.store.revoke_grant(grant.grant_id)
    return True


async def _revoke_access_token(context: AuthContext, client: Client, token: str) -> bool:
    claims = await verify_own_access_token(context, token)
    if claims is None:
        return False
    if claims["client_id"] == client.client_id:
        await context.store.revoke_jti(claims["jti"], claims["exp"])
    return True


@router.post(paths.REVOKE)
async def revoke(request: Request) -> Response:
    context = context_of(request)
    form = await read_form(request)
    client = await authenticate_client(request, form, context)
    token = form.require("token")
    # The hint only decides which kind to try first (§2.1); an unknown hint is ignored.
    kinds = [_revoke_refresh_token, _revoke_access_token]
    if form.get("token_type_hint") == "access_token":
        kinds.reverse()
    for revoke_kind in kinds:
        if await revoke_kind(context, client, token):
            break
    return Response(status_code=200, headers=NO_STORE)
