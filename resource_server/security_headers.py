"""Response headers that keep browsers from misusing what the RS serves (framing, MIME sniffing).

Threats, and the answer to each:

* **Clickjacking.** A foreign page could load the RS's own HTML pages — ``/`` and the widget
  preview at ``/widget``, which calls ``/mcp`` — in an invisible ``<iframe>`` and trick a visitor
  into clicking through them. Every ``text/html`` response of this app therefore says it may not
  be framed by anyone: ``X-Frame-Options: DENY`` (RFC 7034) for older browsers and
  ``Content-Security-Policy: frame-ancestors 'none'`` (CSP Level 2) for current ones. Keying
  on the media type, not on two routes, covers any HTML page added later.
* **MIME sniffing.** A browser that second-guesses ``Content-Type`` may run a JSON answer that
  echoes caller-supplied text as HTML or script. Every response — ``/mcp``, the
  ``/.well-known/*`` metadata, errors — carries ``X-Content-Type-Options: nosniff``.

What this does **not** touch: the widget that ChatGPT and MCP Apps hosts render. They fetch it
through ``resources/read`` as text inside a JSON-RPC answer and frame it themselves, in their
own sandbox under the CSP of the resource's ``_meta`` (:mod:`resource_server.widget`); HTTP
headers of this server never reach that frame, so they cannot break it. A header an endpoint
sets itself is left as it is.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NO_SNIFF = {"X-Content-Type-Options": "nosniff"}
NO_FRAMING = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}


class SecurityHeaders:
    """ASGI middleware adding :data:`NO_SNIFF` to every response and :data:`NO_FRAMING` to HTML."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                added = dict(NO_SNIFF)
                if headers.get("content-type", "").lower().startswith("text/html"):
                    added |= NO_FRAMING
                for name, value in added.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
