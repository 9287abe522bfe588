"""OAuth 2.0 Protected Resource Metadata (RFC 9728): how a client learns where to sign in.

A client that meets ``401`` with ``WWW-Authenticate: Bearer resource_metadata="…"`` (or that
simply knows the MCP URL) fetches this document, reads ``authorization_servers``, and from
there the AS's own metadata (RFC 8414). It is served at two URLs with the same content:

* ``/.well-known/oauth-protected-resource/mcp`` — the path-aware URL (RFC 9728 §3.1: the
  well-known segment goes between host and the resource's path), which the challenges name
  and which MCP clients try first;
* ``/.well-known/oauth-protected-resource`` — the host-level URL older clients try.

``resource`` is ``MCP_RESOURCE`` byte for byte (§3.3 requires it to equal the resource the
client asked about, and the AS puts the same string in ``aud``).

``scopes_supported`` lists the resource scopes — exactly the scopes the tools use, which is
also the default set a 401 challenge asks for (:mod:`resource_server.tool_policies`). A client
that finds no ``scope`` in a challenge asks for all of ``scopes_supported`` (MCP authorization,
"Scope Selection Strategy"), so both routes lead to the same one sign-in. ``offline_access``
stays out: it is no resource requirement (MCP authorization, "Refresh Tokens").
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shared.scopes import RESOURCE_SCOPES
from shared.settings import Settings

from .paths import PROTECTED_RESOURCE_METADATA_PATH


def metadata_document(settings: Settings) -> dict[str, Any]:
    return {
        "resource": settings.mcp_resource,
        "authorization_servers": [settings.auth_issuer],
        "scopes_supported": list(RESOURCE_SCOPES),
        "bearer_methods_supported": ["header"],
        "resource_name": "Auth Demo (MCP OAuth demo notes)",
        "resource_documentation": f"{settings.rs_base_url}/",
    }


def metadata_routes(settings: Settings) -> list[Route]:
    document = metadata_document(settings)

    async def protected_resource_metadata(request: Request) -> JSONResponse:
        # Short caching: clients may keep it briefly, yet a changed AUTH_ISSUER shows up soon.
        return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})

    resource_path = urlsplit(settings.mcp_resource).path
    # The same path twice when MCP_RESOURCE has none: one route then.
    well_known = PROTECTED_RESOURCE_METADATA_PATH
    paths = dict.fromkeys([well_known + resource_path, well_known])
    return [Route(path, protected_resource_metadata, methods=["GET"]) for path in paths]
