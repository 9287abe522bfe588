"""MCP Inspector's command-line client (``@modelcontextprotocol/inspector-cli``) against the live RS.

The Inspector is the tool the README tells people to connect first, and it speaks streamable
HTTP through the official TypeScript SDK, so these tests prove the RS works for a real
third-party client:

* anonymously, ``tools/list`` shows all five demo tools (listing needs no sign-in);
* with a bearer token obtained through the whole OAuth flow (DCR, PKCE, login, consent, code
  exchange), ``auth_whoami`` answers with the demo user's identity — the same ``sub``, name,
  email and client as the token;
* without a token, and with a token the RS cannot verify, the call fails with the RS's
  challenge: ``Bearer resource_metadata="…/.well-known/oauth-protected-resource/mcp"`` and the
  app's whole sign-in scope set (plus ``error="invalid_token"`` for the bad token), and no
  identity leaks.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcp_oauth_demo.launcher import Pair
from tests.e2e.node_tools import NodeRun, NodeTools, run_node_tool
from tests.e2e.oauth_flow import token_via_flow, verified_claims

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]  # may include a first-time npm install

DEMO_TOOLS = {"auth_show", "auth_whoami", "notes_list", "notes_add", "notes_teaser"}
CALL_TIMEOUT_SEC = 60.0


def inspector(node_tools: NodeTools, pair: Pair, *args: str, token: str | None = None) -> NodeRun:
    """``mcp-inspector-cli <mcp url> --transport http …`` (with ``Authorization: Bearer`` if given)."""
    headers = ["--header", f"Authorization: Bearer {token}"] if token is not None else []
    return run_node_tool(
        node_tools.node22,
        node_tools.inspector_cli,
        [pair.mcp_url, "--transport", "http", *args, *headers],
        timeout=CALL_TIMEOUT_SEC,
    )


def whoami(node_tools: NodeTools, pair: Pair, token: str | None) -> NodeRun:
    return inspector(node_tools, pair, "--method", "tools/call", "--tool-name", "auth_whoami", token=token)


def refused_body(run: NodeRun) -> dict[str, Any]:
    """The JSON-RPC body the SDK quotes in its error when the RS refused the HTTP request."""
    assert run.returncode == 1, run.describe()
    start = run.stderr.find("{")
    assert start >= 0, run.describe()
    body, _ = json.JSONDecoder().raw_decode(run.stderr[start:])
    return body


def assert_challenge(run: NodeRun, pair: Pair, *, error: str | None) -> None:
    body = refused_body(run)
    result = body["result"]
    assert result["isError"] is True, body
    (challenge,) = result["_meta"]["mcp/www_authenticate"]
    assert challenge.startswith("Bearer "), challenge
    assert f'resource_metadata="{pair.rs_base_url}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert 'scope="profile:read notes:read notes:write"' in challenge  # one sign-in for every tool
    if error is None:
        assert "error=" not in challenge
    else:
        assert f'error="{error}"' in challenge
    assert "alex" not in run.output.lower()


@pytest.fixture(scope="module")
def access_token(shared_pair: Pair) -> str:
    return token_via_flow(shared_pair, scope="profile:read notes:read", client_name="MCP Inspector CLI e2e")


def test_lists_the_demo_tools_anonymously(shared_pair: Pair, node_tools: NodeTools) -> None:
    run = inspector(node_tools, shared_pair, "--method", "tools/list")
    assert run.returncode == 0, run.describe()
    names = {tool["name"] for tool in json.loads(run.stdout)["tools"]}
    assert names >= DEMO_TOOLS, run.describe()


def test_whoami_with_a_token_from_the_flow(
    shared_pair: Pair, node_tools: NodeTools, access_token: str
) -> None:
    run = whoami(node_tools, shared_pair, access_token)
    assert run.returncode == 0, run.describe()
    result = json.loads(run.stdout)
    assert result.get("isError") is not True, run.describe()
    claims = verified_claims(shared_pair, access_token)
    shown = json.dumps(result)
    for claim in ("sub", "name", "email", "client_id"):
        assert claims[claim] and json.dumps(claims[claim]) in shown, f"{claim}={claims[claim]!r}: {shown}"
    assert claims["email"] == "alex@example.com"


def test_whoami_without_a_token_is_challenged(shared_pair: Pair, node_tools: NodeTools) -> None:
    assert_challenge(whoami(node_tools, shared_pair, None), shared_pair, error=None)


def test_whoami_with_an_unverifiable_token_is_challenged(shared_pair: Pair, node_tools: NodeTools) -> None:
    assert_challenge(whoami(node_tools, shared_pair, "not-a-jwt"), shared_pair, error="invalid_token")
