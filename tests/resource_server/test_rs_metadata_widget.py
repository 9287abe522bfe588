"""RFC 9728 metadata at both URLs, and the widget as MCP resources (both hosts) and as a web page."""

from __future__ import annotations

import json
import re

import pytest

from tests.resource_server.rs_support import AppFactory, RunningRS, tool_result
from widget import SELF_CALLABLE_TOOLS, render_widget

EXPECTED_METADATA = {
    "resource": "http://localhost:3000/mcp",
    "authorization_servers": ["http://localhost:4000"],
    "scopes_supported": ["profile:read", "notes:read", "notes:write"],
    "bearer_methods_supported": ["header"],
    "resource_name": "Auth Demo (MCP OAuth demo notes)",
    "resource_documentation": "http://localhost:3000/",
}


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]
)
def test_protected_resource_metadata(rs: RunningRS, path: str) -> None:
    response = rs.client.get(path, headers={"Origin": "http://localhost:6274"})
    assert response.status_code == 200
    assert response.json() == EXPECTED_METADATA
    assert response.headers["access-control-allow-origin"] == "*"


def test_metadata_keeps_the_resource_literal(start_rs: AppFactory) -> None:
    rs = start_rs(
        rs_base_url="https://demo.example.org",
        mcp_resource="https://demo.example.org/mcp",
        auth_issuer="https://auth.example.org",
        base_url="https://demo.example.org",
    )
    document = rs.client.get("/.well-known/oauth-protected-resource/mcp").json()
    assert document["resource"] == "https://demo.example.org/mcp"
    assert document["authorization_servers"] == ["https://auth.example.org"]


# ----- The widget -----


def _read(rs: RunningRS, uri: str) -> dict:
    contents = tool_result(rs.rpc.post("resources/read", {"uri": uri}))["contents"]
    assert len(contents) == 1
    return contents[0]


def test_resources_list_names_both_widgets(rs: RunningRS) -> None:
    resources = {r["uri"]: r for r in tool_result(rs.rpc.post("resources/list"))["resources"]}
    assert resources["ui://widget/auth-demo.html"]["mimeType"] == "text/html+skybridge"
    assert resources["ui://widget/auth-demo-app.html"]["mimeType"] == "text/html;profile=mcp-app"


def test_chatgpt_widget_resource(rs: RunningRS) -> None:
    content = _read(rs, "ui://widget/auth-demo.html")
    assert content["mimeType"] == "text/html+skybridge"
    assert content["text"].startswith("<!doctype html>")
    assert '"host": "openai"' in content["text"]
    meta = content["_meta"]
    assert meta["openai/widgetCSP"] == {"connect_domains": [], "resource_domains": []}
    assert meta["openai/widgetDescription"]


def test_mcp_apps_widget_resource(rs: RunningRS) -> None:
    content = _read(rs, "ui://widget/auth-demo-app.html")
    assert content["mimeType"] == "text/html;profile=mcp-app"
    assert '"host": "mcp-app"' in content["text"]
    assert content["_meta"]["ui"]["csp"] == {"connectDomains": [], "resourceDomains": []}


def test_tool_descriptor_points_at_both_widgets(rs: RunningRS) -> None:
    tools = {tool["name"]: tool for tool in tool_result(rs.rpc.post("tools/list"))["tools"]}
    meta = tools["auth_show"]["_meta"]
    assert meta["openai/outputTemplate"] == "ui://widget/auth-demo.html"
    assert meta["openai/widgetAccessible"] is True
    assert meta["openai/toolInvocation/invoking"] and meta["openai/toolInvocation/invoked"]
    assert meta["ui"] == {"resourceUri": "ui://widget/auth-demo-app.html"}


def test_widget_preview_page(rs: RunningRS) -> None:
    response = rs.client.get("/widget", headers={"Origin": "http://localhost:6274"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["access-control-allow-origin"] == "*"
    assert '"host": "preview"' in response.text and '"mcpPath": "/mcp"' in response.text
    assert "<h1>Auth Demo</h1>" in response.text


def test_widget_calls_only_public_or_optional_tools(rs: RunningRS) -> None:
    policies = dict(rs.app.state.policies)
    assert {policies[name].kind for name in SELF_CALLABLE_TOOLS} <= {"public", "optional"}
    page = render_widget(host="preview")
    called = set(re.findall(r'callTool\("([a-z_]+)"', page))
    assert called and called <= set(SELF_CALLABLE_TOOLS)


def test_widget_config_is_escaped_for_a_script_tag() -> None:
    page = render_widget(host="preview", mcp_path="/mcp</script><script>alert(1)</script>")
    assert "</script><script>alert(1)" not in page
    config = re.search(r"const CONFIG = (.*);", page)
    assert config is not None
    assert json.loads(config.group(1))["mcpPath"].endswith("alert(1)</script>")
