"""Authorization server metadata (RFC 8414): how a client discovers everything else.

An MCP client starts from the resource server's protected-resource metadata (RFC 9728),
finds ``authorization_servers: [AUTH_ISSUER]`` there, and fetches
``AUTH_ISSUER/.well-known/oauth-authorization-server`` (RFC 8414 §3). Some clients try
OpenID Connect discovery instead, so the same document is served at
``/.well-known/openid-configuration``. The issuer has no path, so these two URLs are the
whole discovery set.

Client authentication (``*_auth_methods_supported``): ``none`` for public clients, a
secret for registered confidential ones, and ``private_key_jwt`` (RFC 7523) with the
asymmetric algorithms in ``*_auth_signing_alg_values_supported`` for clients that sign —
ChatGPT prefers it whenever it is listed here.

``issuer`` is ``AUTH_ISSUER`` as a literal string: RFC 8414 §3.3 requires it to equal the
URL the client used to build the metadata URL, byte for byte, and the same string is
the ``iss`` of every token and of every authorization response (RFC 9207).

Served with CORS (browser-based clients such as MCP Inspector read it) and
``Cache-Control: no-store``, so a changed configuration is seen at once.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from auth_server import paths
from auth_server.client_assertions import ASSERTION_ALGS
from auth_server.context import context_of
from shared.scopes import ALL_SCOPES
from shared.settings import Settings

router = APIRouter()
CLIENT_AUTH_METHODS = ["none", "client_secret_post", "client_secret_basic", "private_key_jwt"]
# Introspection answers only clients that prove who they are (introspection.py).
INTROSPECTION_AUTH_METHODS = ["client_secret_post", "client_secret_basic", "private_key_jwt"]


def metadata_document(settings: Settings) -> dict[str, Any]:
    issuer = settings.auth_issuer
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + paths.AUTHORIZE,
        "token_endpoint": issuer + paths.TOKEN,
        "registration_endpoint": issuer + paths.REGISTER,
        "jwks_uri": issuer + paths.JWKS,
        "revocation_endpoint": issuer + paths.REVOKE,
        "introspection_endpoint": issuer + paths.INTROSPECT,
        "scopes_supported": list(ALL_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
        "introspection_endpoint_auth_methods_supported": INTROSPECTION_AUTH_METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
        "client_id_metadata_document_supported": True,
        "authorization_response_iss_parameter_supported": True,
    }


@router.get(paths.METADATA)
@router.get(paths.OPENID_CONFIGURATION)
async def metadata(request: Request) -> JSONResponse:
    return JSONResponse(
        metadata_document(context_of(request).settings), headers={"Cache-Control": "no-store"}
    )
