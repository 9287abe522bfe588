"""MCP requests as the load generator (:mod:`bench.loadgen`) sends them: stateless JSON-RPC POSTs."""

from __future__ import annotations

import json
from typing import Any

from mcp_oauth_demo import oauth_client as oc
from mcp_oauth_demo.constants import MCP_HEADERS as MCP_BASE_HEADERS
from mcp_oauth_demo.constants import PROTOCOL_VERSION

MCP_HEADERS = {**MCP_BASE_HEADERS, "MCP-Protocol-Version": PROTOCOL_VERSION}


def mcp_request(
    method: str, params: dict[str, Any] | None, *, token: str | None, id: int | None = 1
) -> dict[str, Any]:
    """A loadgen request spec: one JSON-RPC message POSTed to /mcp as a stateless client sends it."""
    headers = dict(MCP_HEADERS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return {
        "method": "POST",
        "path": "/mcp",
        "headers": headers,
        "body": json.dumps(oc.rpc(method, params, id)),
    }


def tool_call(
    tool: str, *, token: str | None = None, arguments: dict[str, Any] | None = None
) -> dict[str, Any]:
    return mcp_request("tools/call", {"name": tool, "arguments": arguments or {}}, token=token)


def mcp_setup(token: str | None) -> list[dict[str, Any]]:
    """What a client sends once per connection before its calls: ``initialize`` + ``initialized``."""
    return [
        mcp_request("initialize", oc.initialize_params("bench-loadgen"), token=token),
        mcp_request("notifications/initialized", None, token=token, id=None),
    ]
