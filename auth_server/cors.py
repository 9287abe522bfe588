"""CORS for the endpoints a browser-based client calls with ``fetch`` (MCP Inspector does).

Discovery, the JWKS, registration, token, revocation and introspection
(``paths.PUBLIC_ENDPOINTS``) answer any origin (``Access-Control-Allow-Origin: *``, no
cookies involved — they authenticate clients with credentials in the request, never with
ambient cookies), including their errors and the 404s under ``/.well-known/`` so a browser
client can tell "not found" from "blocked". The login and consent pages are navigations,
not fetches: they get no CORS headers.

The headers are Starlette's ``CORSMiddleware``; :class:`PublicCORS` applies it to those
paths only, so the pages never see it.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from auth_server import paths

ALLOWED_HEADERS = ("Authorization", "Content-Type", "MCP-Protocol-Version")
PUBLIC_PREFIXES = (
    "/.well-known/",
    *(path for path in paths.PUBLIC_ENDPOINTS if not path.startswith("/.well-known/")),
)
"""Discovery and any other ``/.well-known/`` path (its 404s too), and the public endpoints."""


class PublicCORS:
    """Starlette's ``CORSMiddleware`` for paths under :data:`PUBLIC_PREFIXES`; other paths pass by."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=ALLOWED_HEADERS,
            expose_headers=["WWW-Authenticate"],
            max_age=86400,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith(PUBLIC_PREFIXES):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
