"""MCP sessions where they help, statelessness where they hurt (MCP transports, "Session Management").

The 2025-06-18 and 2025-11-25 revisions of streamable HTTP let a server hand out an
``Mcp-Session-Id`` on ``initialize``; a client then sends it on every request, and may open
``GET`` SSE streams for server-to-client messages. The 2026-07-28 revision drops the handshake:
every request stands alone. Real clients mix both: ChatGPT's tool scanner, benchmarks and
simple scripts post ``tools/call`` with no session at all.

So the RS runs the SDK's session manager twice over one MCP server:

* requests that carry ``Mcp-Session-Id``, and ``initialize`` requests, go to the **stateful**
  manager, which issues and tracks sessions (what MCP Inspector, Claude and the conformance
  suite's session scenarios expect);
* every other request goes to the **stateless** manager, which answers it on its own.

Sessions live in one process's memory. With several worker processes (``WEB_CONCURRENCY`` > 1)
a session opened in one worker is unknown to the next, so there — or with
``MCP_STATELESS=true`` — no sessions are issued at all and every request is stateless: clients
simply see an ``initialize`` answer without ``Mcp-Session-Id`` and carry on without one.
"""

from __future__ import annotations

from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import Receive, Scope, Send

from .tool_policy import JSONRPC_METHOD_SCOPE_KEY

_SESSION_HEADER = MCP_SESSION_ID_HEADER.lower().encode("ascii")


class SessionRouter:
    """ASGI app that hands each ``/mcp`` request to the stateful or the stateless manager."""

    def __init__(
        self, stateless: StreamableHTTPSessionManager, sessions: StreamableHTTPSessionManager | None
    ) -> None:
        self.stateless = stateless
        self.sessions = sessions

    def manager_for(self, scope: Scope) -> StreamableHTTPSessionManager:
        if self.sessions is None:
            return self.stateless
        has_session = any(key == _SESSION_HEADER for key, _ in scope["headers"])
        if has_session or scope.get(JSONRPC_METHOD_SCOPE_KEY) == "initialize":
            return self.sessions
        return self.stateless

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.manager_for(scope).asgi_app(scope, receive, send)
