"""What every client in this repository says the same way: the demo user, the scopes, MCP's headers.

The walkthrough, the doctor, the benchmarks and the tests all play the same MCP client and
the same person, so the values live here once:

* the demo user the authorization server knows (:mod:`auth_server.users`);
* the scope a client asks for (RFC 6749 §3.3), built from :mod:`shared.scopes`;
* the streamable HTTP transport's request headers (MCP "Transports") and the protocol
  revision the client offers in ``initialize`` (MCP "Lifecycle").
"""

from __future__ import annotations

from shared.scopes import ALL_SCOPES, RESOURCE_SCOPES, format_scope

DEMO_USERNAME = "alex"
DEMO_PASSWORD = "password"

# Every tool scope, plus a refresh token (offline_access, see shared.scopes).
DEMO_SCOPE = format_scope(ALL_SCOPES)
# Every tool scope and no refresh token: what a client that never refreshes asks for.
RESOURCE_SCOPE = format_scope(RESOURCE_SCOPES)

# The revision the SDK's ClientSession asks for in `initialize` (mcp_types.version.LATEST_HANDSHAKE_VERSION;
# a test keeps the two equal). Spelled out because importing mcp_types costs seconds at startup.
PROTOCOL_VERSION = "2025-11-25"
# A streamable HTTP client accepts both answers a server may choose: one JSON body or an SSE stream.
MCP_ACCEPT = "application/json, text/event-stream"
MCP_HEADERS: dict[str, str] = {"Accept": MCP_ACCEPT, "Content-Type": "application/json"}
