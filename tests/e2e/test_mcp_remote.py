"""mcp-remote (npm ``mcp-remote``), the stdio proxy Claude Desktop and others run for remote servers.

The test is the stdio client (as Claude Desktop would be) and the person at the browser: it
starts ``mcp-remote <MCP URL> <callback port>`` with an empty token store, calls all five tools
over stdin, and whenever mcp-remote prints its "Please authorize this client by visiting" URL,
signs in and approves (:class:`node_oauth_clients.BrowserUser`). ``BROWSER`` points at a script
that only records the URL, so no real browser starts; the recorded URLs must be the printed ones.

What mcp-remote does on its own: DCR (RFC 7591) with a ``http://localhost:<port>/oauth/callback``
redirect, PKCE, ``resource``, the scope from the 401 (MCP "Scope Selection Strategy"), the code
exchange as a public client (``token_endpoint_auth_method: none``), and a retry of the call.

One browser sign-in covers all five tools, because the RS's 401 names every scope the tools use.
Before, the 401 named only the called tool's scope and mcp-remote needed three sign-ins (one per
oauth2 tool, each after a 403 ``insufficient_scope``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mcp_oauth_demo.launcher import Pair, free_port
from shared.scopes import RESOURCE_SCOPES as ALL_RESOURCE_SCOPES
from tests.e2e.node_oauth_clients import (
    BrowserUser,
    NodeProcess,
    no_browser_environment,
    opened_urls,
    query_param,
)
from tests.e2e.node_tools import NodeTools
from tests.e2e.oauth_flow import every_tool

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]  # may include a first-time npm install

RESOURCE_SCOPES = set(ALL_RESOURCE_SCOPES)
NOTE = "written through mcp-remote"
FIVE_TOOLS = every_tool(NOTE)
CALL_TIMEOUT_SEC = 90.0  # a call that triggers a sign-in includes discovery, DCR, login and consent


def test_mcp_remote_signs_in_once_for_all_five_tools(
    shared_pair: Pair, node_tools: NodeTools, tmp_path: Path
) -> None:
    pair = shared_pair
    env, opened = no_browser_environment(tmp_path)
    env["MCP_REMOTE_CONFIG_DIR"] = str(tmp_path / "mcp-auth")  # a fresh start: no tokens, no client
    user = BrowserUser(pair)
    proxy = NodeProcess(
        [str(node_tools.node22), str(node_tools.mcp_remote), pair.mcp_url, str(free_port())],
        user=user,
        env=env,
        cwd=tmp_path,
    )
    results: dict[str, dict[str, Any]] = {}
    try:
        initialized = proxy.request(
            1,
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "mcp-oauth-demo e2e (stdio side of mcp-remote)", "version": "1"},
            },
            timeout=CALL_TIMEOUT_SEC,
        )
        assert "result" in initialized, (initialized, proxy.describe())
        proxy.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        for request_id, (tool, arguments) in enumerate(FIVE_TOOLS, start=2):
            answer = proxy.request(
                request_id, "tools/call", {"name": tool, "arguments": arguments}, timeout=CALL_TIMEOUT_SEC
            )
            assert "result" in answer, (tool, answer, proxy.describe())
            assert answer["result"].get("isError") is not True, (tool, answer, proxy.describe())
            results[tool] = answer["result"]
    finally:
        proxy.stop()

    assert user.failures == [], user.failures
    # One browser sign-in for all five tools (the RS used to need three).
    assert len(user.authorization_urls) == 1, (user.authorization_urls, proxy.describe())
    assert RESOURCE_SCOPES <= user.scopes(0), user.authorization_urls[0]
    assert user.callback_statuses == [200], "mcp-remote's callback took the code"
    # What mcp-remote "opened" went to the recording script, and is the request it printed.
    (recorded,) = opened_urls(opened)
    assert query_param(recorded, "state") == query_param(user.authorization_urls[0], "state"), recorded
    assert results["auth_whoami"]["structuredContent"]["email"] == "alex@example.com"
    assert NOTE in [note["text"] for note in results["notes_list"]["structuredContent"]["notes"]]
