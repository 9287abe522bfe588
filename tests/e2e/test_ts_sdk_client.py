"""The official TypeScript SDK 1.x as an OAuth client (``tests/e2e/ts_sdk_client.mjs``).

The script connects with the SDK's ``StreamableHTTPClientTransport`` and an in-memory
``OAuthClientProvider`` whose ``redirectToAuthorization`` prints the URL instead of opening a
browser; the test signs in on it (:class:`node_oauth_clients.BrowserUser`) and the browser comes
back to the script's loopback callback. The SDK does discovery, DCR, PKCE and ``resource``, and
takes its scope from the 401.

From a fresh start, all five tools take exactly one sign-in. Before, the 401 named only the called
tool's scope, and the SDK 1.x could not get past the second tool: on the 403
``insufficient_scope`` it refreshes its token without asking for more scope, gets the same narrow
token back and gives up ("Server returned 403 after trying upscoping", typescript-sdk #2255).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcp_oauth_demo.launcher import Pair
from shared.scopes import RESOURCE_SCOPES as ALL_RESOURCE_SCOPES
from tests.e2e.node_oauth_clients import BrowserUser, NodeProcess, no_browser_environment, query_param
from tests.e2e.node_tools import NodeTools
from tests.e2e.oauth_flow import every_tool

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]  # may include a first-time npm install

SCRIPT = Path(__file__).with_name("ts_sdk_client.mjs")
RESOURCE_SCOPES = set(ALL_RESOURCE_SCOPES)
NOTE = "written by the TypeScript SDK client"
FIVE_TOOLS = every_tool(NOTE)
RUN_TIMEOUT_SEC = 120.0


def test_ts_sdk_signs_in_once_for_all_five_tools(
    shared_pair: Pair, node_tools: NodeTools, tmp_path: Path
) -> None:
    pair = shared_pair
    env, _ = no_browser_environment(tmp_path)
    user = BrowserUser(pair)
    client = NodeProcess(
        [
            str(node_tools.node22),
            str(SCRIPT),
            str(node_tools.ts_sdk),
            pair.mcp_url,
            json.dumps(FIVE_TOOLS),
        ],
        user=user,
        env=env,
        cwd=tmp_path,
    )
    try:
        lines = [client.next_json(RUN_TIMEOUT_SEC) for _ in FIVE_TOOLS]
        summary = client.next_json(RUN_TIMEOUT_SEC)
        exit_code = client.wait(30)
    finally:
        client.stop()

    assert user.failures == [], user.failures
    results = {}
    for (tool, _), line in zip(FIVE_TOOLS, lines, strict=True):
        assert line.get("tool") == tool and "error" not in line, (line, client.describe())
        assert line["result"].get("isError") is not True, (line, client.describe())
        results[tool] = line["result"]
    assert summary.get("done") is True and exit_code == 0, client.describe()

    # One sign-in for all five tools, asking for every scope the tools use.
    assert summary["authorizations"] == user.authorization_urls, client.describe()
    assert len(user.authorization_urls) == 1, user.authorization_urls
    assert user.scopes(0) == RESOURCE_SCOPES, user.authorization_urls[0]
    assert query_param(user.authorization_urls[0], "resource") == pair.mcp_url
    assert query_param(user.authorization_urls[0], "code_challenge_method") == "S256"
    assert set(summary["scope"].split()) >= RESOURCE_SCOPES
    # It registered itself (RFC 7591) as a public client with the loopback callback.
    registered = summary["client"]
    assert registered["client_id"] and registered["token_endpoint_auth_method"] == "none", registered
    assert registered["redirect_uris"][0].startswith("http://127.0.0.1:"), registered
    assert results["auth_whoami"]["structuredContent"]["client_id"] == registered["client_id"]
    assert NOTE in [note["text"] for note in results["notes_list"]["structuredContent"]["notes"]]
