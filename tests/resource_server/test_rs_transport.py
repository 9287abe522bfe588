"""``/mcp`` as a transport: protocol revisions, DNS-rebinding protection, CORS, sloppy clients, bad input."""

from __future__ import annotations

import pytest
from mcp_types import HEADER_MISMATCH

from tests.resource_server.rs_support import (
    MCP_HEADERS,
    METADATA_URL,
    AppFactory,
    RunningRS,
    mint,
    modern_request,
    tool_result,
)

INITIALIZE = {"capabilities": {}, "clientInfo": {"name": "test", "version": "1.0.0"}}
PING = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'


# ----- Every protocol revision the SDK speaks -----


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
def test_initialize_opens_a_session_that_later_requests_use(rs: RunningRS, version: str) -> None:
    response = rs.rpc.post("initialize", {**INITIALIZE, "protocolVersion": version}, version=None)
    assert response.status_code == 200
    result = tool_result(response)
    assert result["protocolVersion"] == version
    assert result["serverInfo"]["name"] == "mcp-oauth-demo"
    session = {"Mcp-Session-Id": response.headers["mcp-session-id"]}
    notified = rs.client.post(
        "/mcp",
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        headers={**MCP_HEADERS, "Mcp-Protocol-Version": version, **session},
    )
    assert notified.status_code == 202
    assert tool_result(rs.rpc.post("tools/list", version=version, headers=session))["tools"]
    listed = rs.rpc.call("notes_list", token=mint("notes:read"), version=version, headers=session)
    assert tool_result(listed)["isError"] is False
    # The per-tool policy guards session traffic too.
    assert rs.rpc.call("notes_list", version=version, headers=session).status_code == 401
    # A session id this process never issued (e.g. from before a restart) is 404: re-initialize.
    unknown = rs.rpc.post("tools/list", version=version, headers={"Mcp-Session-Id": "0" * 32})
    assert unknown.status_code == 404


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
def test_requests_without_a_session_are_served_statelessly(rs: RunningRS, version: str) -> None:
    """ChatGPT's scanner, scripts and benchmarks post tools/call with no session at all."""
    assert tool_result(rs.rpc.post("tools/list", version=version))["tools"]
    response = rs.rpc.call("notes_list", token=mint("notes:read"), version=version)
    assert tool_result(response)["isError"] is False
    assert "mcp-session-id" not in response.headers


@pytest.mark.parametrize("overrides", [{"mcp_stateless": True}, {"web_concurrency": 2}])
def test_no_sessions_with_several_workers_or_when_disabled(start_rs: AppFactory, overrides: dict) -> None:
    """A session lives in one process, so with several workers none is issued."""
    rs = start_rs(**overrides)
    response = rs.rpc.post("initialize", {**INITIALIZE, "protocolVersion": "2025-11-25"}, version=None)
    assert tool_result(response)["protocolVersion"] == "2025-11-25"
    assert "mcp-session-id" not in response.headers
    assert tool_result(rs.rpc.call("notes_teaser", version="2025-11-25"))["isError"] is False


def test_server_discover_2026(rs: RunningRS) -> None:
    response = modern_request(rs.rpc, "server/discover")
    assert response.status_code == 200
    result = tool_result(response)
    assert "2026-07-28" in result["supportedVersions"]
    assert "io.modelcontextprotocol/ui" in result["capabilities"]["extensions"]  # MCP Apps advertised
    call = {"name": "notes_teaser", "arguments": {}}
    assert (
        tool_result(modern_request(rs.rpc, "tools/call", call, token=mint("notes:read")))["isError"] is False
    )


def test_2026_challenge_keeps_the_2026_result_shape(rs: RunningRS) -> None:
    response = modern_request(rs.rpc, "tools/call", {"name": "auth_whoami", "arguments": {}})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{METADATA_URL}", scope="profile:read notes:read notes:write"'
    )
    result = tool_result(response)
    assert result["resultType"] == "complete" and result["isError"] is True


def test_2026_headers_cannot_smuggle_a_call_past_the_auth_layer(rs: RunningRS) -> None:
    # The auth layer decides on the body, which is what the SDK executes...
    lying = modern_request(rs.rpc, "tools/call", {"name": "notes_list"}, headers={"Mcp-Name": "auth_show"})
    assert lying.status_code == 401
    # ...and the SDK refuses a header that disagrees with the body.
    lying = modern_request(rs.rpc, "tools/call", {"name": "auth_show"}, headers={"Mcp-Name": "notes_list"})
    assert lying.status_code == 400
    assert lying.json()["error"]["code"] == HEADER_MISMATCH


# ----- DNS rebinding (Host / Origin) -----


def test_foreign_host_is_421(rs: RunningRS) -> None:
    for method in ("ping", "tools/call"):
        response = rs.rpc.post(method, {"name": "notes_list"}, headers={"Host": "evil.example"})
        assert response.status_code == 421  # before any auth challenge


@pytest.mark.parametrize("host", ["localhost:3000", "127.0.0.1:3000", "[::1]:3000"])
def test_loopback_hosts_are_allowed(rs: RunningRS, host: str) -> None:
    assert rs.client.post("/mcp", content=PING, headers={**MCP_HEADERS, "Host": host}).status_code == 200


def test_public_base_url_host_is_allowed_with_no_extra_setting(start_rs: AppFactory) -> None:
    rs = start_rs(rs_base_url="https://demo-1234.ngrok-free.app", base_url="https://demo-1234.ngrok-free.app")
    assert rs.client.post("/mcp", content=PING, headers=MCP_HEADERS).status_code == 200
    response = rs.client.post(
        "/mcp", content=PING, headers={**MCP_HEADERS, "Origin": "https://demo-1234.ngrok-free.app"}
    )
    assert response.status_code == 200
    assert (
        rs.client.post(
            "/mcp", content=PING, headers={**MCP_HEADERS, "Host": "other.ngrok-free.app"}
        ).status_code
        == 421
    )
    response = rs.rpc.call("notes_list")
    assert (
        'resource_metadata="https://demo-1234.ngrok-free.app/.well-known/oauth-protected-resource/mcp"'
        in (response.headers["www-authenticate"])
    )


@pytest.mark.parametrize(
    ("origin", "status"),
    [("http://evil.example", 403), ("http://localhost:6274", 200), ("http://127.0.0.1:6274", 200)],
)
def test_origin_check(rs: RunningRS, origin: str, status: int) -> None:
    response = rs.client.post("/mcp", content=PING, headers={**MCP_HEADERS, "Origin": origin})
    assert response.status_code == status
    assert response.headers["access-control-allow-origin"] == "*"


# ----- CORS for browser clients (MCP Inspector) -----


def test_cors_preflight_and_exposed_headers(rs: RunningRS) -> None:
    preflight = rs.client.options(
        "/mcp",
        headers={
            "Origin": "http://localhost:6274",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version, mcp-method",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    allowed = preflight.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "mcp-session-id", "mcp-protocol-version", "last-event-id", "mcp-method"):
        assert header in allowed
    challenge = rs.rpc.call("notes_list", headers={"Origin": "http://localhost:6274"})
    assert challenge.status_code == 401
    exposed = challenge.headers["access-control-expose-headers"].lower()
    assert "www-authenticate" in exposed and "mcp-session-id" in exposed
    assert "access-control-allow-credentials" not in challenge.headers


# ----- Sloppy clients and bad input -----


@pytest.mark.parametrize(
    "headers",
    [
        {"Accept": "*/*", "Content-Type": "application/octet-stream", "User-Agent": "openai-mcp/1.0.0"},
        {"Accept": "*/*"},
        {},
        {"Accept": "text/event-stream", "Content-Type": "text/plain"},
    ],
)
def test_sloppy_headers_are_served_as_json(rs: RunningRS, headers: dict[str, str]) -> None:
    for body in (
        b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
        b'"capabilities":{},"clientInfo":{"name":"openai-mcp","version":"1"}}}',
        b'{"jsonrpc":"2.0","id":2,"method":"tools/list"}',
        b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"notes_teaser","arguments":{}}}',
    ):
        response = rs.client.post("/mcp", content=body, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        assert "result" in response.json()


def test_chatgpt_scanner_gets_its_challenge_as_a_result(start_rs: AppFactory) -> None:
    rs = start_rs(tool_auth_challenge="auto")
    response = rs.client.post(
        "/mcp",
        content=b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"notes_list","arguments":{}}}',
        headers={
            "Accept": "*/*",
            "Content-Type": "application/octet-stream",
            "User-Agent": "openai-mcp/1.0.0",
        },
    )
    assert response.status_code == 200
    assert response.json()["id"] == 7
    assert response.json()["result"]["_meta"]["mcp/www_authenticate"]


@pytest.mark.parametrize("version", [None, "2025-06-18", "2026-07-28"])
def test_malformed_json_is_a_parse_error(rs: RunningRS, version: str | None) -> None:
    headers = dict(MCP_HEADERS, **({"Mcp-Protocol-Version": version} if version else {}))
    response = rs.client.post("/mcp", content=b'{"jsonrpc": "2.0", "id": 1, "method": ', headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    "body",
    [
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}',
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}',
        b'{"jsonrpc":"2.0","id":{"a":1},"method":"tools/call","params":{"name":"notes_list"}}',
        b'"just a string"',
        b"null",
    ],
)
def test_wrong_types_are_json_rpc_errors(rs: RunningRS, body: bytes) -> None:
    response = rs.client.post(
        "/mcp", content=body, headers={**MCP_HEADERS, "Mcp-Protocol-Version": "2025-06-18"}
    )
    assert response.status_code != 500 and "Traceback" not in response.text
    if response.status_code == 202:
        # The SDK reads an object-valued id as a notification: acknowledged, and no tool runs.
        assert response.content == b""
    else:
        assert 400 <= response.status_code < 500 or "error" in response.json()


def test_unknown_method_and_tool(rs: RunningRS) -> None:
    assert rs.rpc.post("no/such/method").json()["error"]["code"] == -32601
    result = tool_result(rs.rpc.call("no_such_tool"))
    assert result["isError"] is True


def test_oversized_body_is_413(rs: RunningRS) -> None:
    huge = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"notes_add","arguments":{"text":"'
    huge += b"x" * (5 * 1024 * 1024) + b'"}}}'
    response = rs.client.post(
        "/mcp", content=huge, headers={**MCP_HEADERS, "Authorization": f"Bearer {mint()}"}
    )
    assert response.status_code == 413


def test_get_and_delete_follow_the_transport(rs: RunningRS) -> None:
    # Stateless mode: no session to terminate.
    assert rs.client.delete("/mcp", headers={"Mcp-Protocol-Version": "2025-06-18"}).status_code == 405
    # A 2026-07-28 endpoint answers POST only.
    response = rs.client.get(
        "/mcp", headers={"Accept": "text/event-stream", "Mcp-Protocol-Version": "2026-07-28"}
    )
    assert response.status_code == 405


def test_trailing_slash_and_other_paths(rs: RunningRS) -> None:
    assert rs.client.get("/nope").status_code == 404
    assert rs.client.get("/").status_code == 200
