"""The front door of ``/mcp``: DNS-rebinding protection and tolerance for sloppy clients.

MCP's streamable HTTP transport (2025-06-18+, "Security Warning") requires a server to check
the ``Origin`` header, and a local server to guard against DNS rebinding: a web page whose
host name suddenly resolves to 127.0.0.1 must not reach this server. The SDK does both
through :class:`TransportSecuritySettings`; this module derives them from ``RS_BASE_URL``:

* allowed ``Host`` values: the host of ``RS_BASE_URL`` (so an ngrok URL works with no extra
  setting) and ``localhost``/``127.0.0.1``/``[::1]`` on ``RS_PORT``; anything else gets 421;
* allowed ``Origin`` values: the origin of ``RS_BASE_URL`` and any loopback origin, on any
  port — MCP Inspector runs in the browser at ``http://localhost:6274``. Requests without
  ``Origin`` (every server-side client: ChatGPT, Claude, the SDKs) are not affected. CORS
  (see :mod:`resource_server.app`) lets any page *read* answers, but a page on a foreign
  origin is still refused here: CORS relaxes the browser's rules, this check is the server's.

The SDK is strict about media types, and real clients are not: ChatGPT's tool scanner has
been seen posting JSON with ``Accept: */*`` and ``Content-Type: application/octet-stream``.
:class:`McpFrontDoor` rewrites such headers to what the body is — JSON — before the SDK
sees them; a body that is not JSON still gets the SDK's parse error (-32700). That is safe
only because the ``Origin`` check above, not the media type, is what keeps browsers out.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mcp.server.streamable_http import check_accept_headers
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.settings import Settings

from .mcp_requests import request_header

_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """The SDK's DNS-rebinding settings for this deployment."""
    base = urlsplit(settings.rs_base_url)
    hostname = base.hostname or "localhost"
    host = f"[{hostname}]" if ":" in hostname else hostname
    port = base.port or _DEFAULT_PORTS[base.scheme]
    allowed_hosts = [f"{host}:{port}"]
    if base.port is None:
        allowed_hosts.append(host)  # clients leave the default port out of Host
    allowed_hosts += [f"{loopback}:{settings.rs_port}" for loopback in _LOOPBACK_HOSTS]
    origin = f"{base.scheme}://{host}" + (f":{base.port}" if base.port else "")
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(dict.fromkeys(allowed_hosts)),
        allowed_origins=[origin, *(f"http://{loopback}:*" for loopback in _LOOPBACK_HOSTS)],
    )


class McpFrontDoor:
    """Refuses foreign ``Host``/``Origin`` first, then normalizes media-type headers for the SDK."""

    def __init__(self, app: ASGIApp, security: TransportSecuritySettings) -> None:
        self.app = app
        self.security = TransportSecurityMiddleware(security)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Checked here as well as inside the SDK so a rebinding page is refused before any
        # token work or auth challenge happens.
        refusal = await self.security.validate_request(Request(scope), is_post=False)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if scope["method"] == "POST":
            scope = {**scope, "headers": _json_media_types(scope)}
        await self.app(scope, receive, send)


def _json_media_types(scope: Scope) -> list[tuple[bytes, bytes]]:
    headers = [(name, value) for name, value in scope["headers"] if name != b"content-type"]
    content_type = request_header(scope, b"content-type") or ""
    if not content_type.lower().startswith("application/json"):
        content_type = "application/json"
    headers.append((b"content-type", content_type.encode("latin-1")))
    accepts_json, _ = check_accept_headers(Request(scope))
    if not accepts_json:
        headers = [(name, value) for name, value in headers if name != b"accept"]
        headers.append((b"accept", b"application/json, text/event-stream"))
    return headers
