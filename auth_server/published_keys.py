"""The JWK Set endpoint (RFC 7517 §5): ``GET /oauth2/jwks``, named by ``jwks_uri`` (RFC 8414 §2).

It lists the public half of every signing key that is not yet retired (``keys.KeyRing``), so
a token signed just before a rotation keeps verifying. The resource server caches the set
for :data:`JWKS_CACHE_CONTROL`'s five minutes and refetches it once when a token names an
unknown ``kid``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from auth_server import paths
from auth_server.context import context_of
from shared.jwks import jwks_document

JWKS_CACHE_CONTROL = "public, max-age=300"

router = APIRouter()


@router.get(paths.JWKS)
async def jwks(request: Request) -> JSONResponse:
    """The JWK Set (RFC 7517 §5) named by ``jwks_uri`` in the metadata."""
    published = await context_of(request).keys.published()
    return JSONResponse(jwks_document(published), headers={"Cache-Control": JWKS_CACHE_CONTROL})
