"""CORS for the endpoints a browser-based client calls with ``fetch`` (MCP Inspector does).

Discovery, the JWKS, registration, token, revocation and introspection answer any origin
(``Access-Control-Allow-Origin: *``, no cookies involved — they authenticate clients with
credentials in the request, never with ambient cookies), including their errors and the 404s
under ``/.well-known/`` so a browser client can tell "not found" from "blocked". The login
and consent pages are navigations, not fetches: they get no CORS headers.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CORS_PREFIXES = (
    "/.well-known/",
    "/oauth2/jwks",
    "/oauth2/register",
    "/oauth2/token",
    "/oauth2/revoke",
    "/oauth2/introspect",
)
ALLOWED_HEADERS = "Authorization, Content-Type, MCP-Protocol-Version"


class PublicCORSMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(CORS_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        (b"access-control-allow-origin", b"*"),
                        (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                        (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
                        (b"access-control-max-age", b"86400"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers["Access-Control-Allow-Origin"] = "*"
                response_headers["Access-Control-Expose-Headers"] = "WWW-Authenticate"
            await send(message)

        await self.app(scope, receive, send_with_cors)
