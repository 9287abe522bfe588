"""The RS hardening of the outside review, through the real app: headers, session owners, idempotent notes.

Token claims and lifetimes are unit-tested in ``test_rs_token_claims.py``; the attack
regressions for all five holes are in ``tests/security/test_sec_rs_hardening.py``.
"""

from __future__ import annotations

import pytest
from rs_support import MCP_HEADERS, RunningRS, tool_result

from resource_server.widget import MCP_APP_URI, OPENAI_WIDGET_URI

# ----- Anti-framing and nosniff headers (resource_server.security_headers) -----


@pytest.mark.parametrize("path", ["/", "/widget"])
def test_html_pages_may_not_be_framed(rs: RunningRS, path: str) -> None:
    response = rs.client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource", "/nope"]
)
def test_json_answers_are_nosniff_and_not_treated_as_pages(rs: RunningRS, path: str) -> None:
    response = rs.client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "x-frame-options" not in response.headers
    assert "content-security-policy" not in response.headers


def test_mcp_answers_are_nosniff(rs: RunningRS) -> None:
    ping = rs.rpc.post("ping")
    challenge = rs.rpc.call("notes_list")
    refused = rs.client.post("/mcp", content=b"{}", headers={**MCP_HEADERS, "Host": "evil.example"})
    preflight = rs.client.options(
        "/mcp", headers={"Origin": "http://localhost:6274", "Access-Control-Request-Method": "POST"}
    )
    for response, status in [(ping, 200), (challenge, 401), (refused, 421), (preflight, 200)]:
        assert response.status_code == status
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "x-frame-options" not in response.headers


@pytest.mark.parametrize("uri", [OPENAI_WIDGET_URI, MCP_APP_URI])
def test_widget_resource_for_hosts_is_unaffected(rs: RunningRS, uri: str) -> None:
    """ChatGPT and MCP Apps hosts frame the widget themselves: nothing in it may forbid that."""
    response = rs.rpc.post("resources/read", {"uri": uri})
    assert "x-frame-options" not in response.headers
    assert "content-security-policy" not in response.headers
    (content,) = tool_result(response)["contents"]
    assert content["text"].lstrip().lower().startswith("<!doctype html")
    assert "frame-ancestors" not in content["text"]
    assert "x-frame-options" not in content["text"].lower()
