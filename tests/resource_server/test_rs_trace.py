"""The trace through the real RS app: the JSON-RPC method, the tool, the token's fate — no token."""

from __future__ import annotations

import time

from shared.trace.connections import connections
from shared.trace.diagnoses import diagnose
from shared.trace.middleware import recorder_for
from tests.resource_server.rs_support import RESOURCE, AppFactory, RunningRS, mint


def recorded(rs: RunningRS) -> list[dict]:
    recorder = recorder_for(rs.settings)
    recorder.flush()
    return recorder.store.events()


def test_an_authed_tool_call_is_recorded_with_its_tool_and_token_fingerprint(rs: RunningRS) -> None:
    token = mint("notes:read")
    assert rs.rpc.call("notes_list", token=token).status_code == 200
    event = recorded(rs)[-1]
    assert event["server"] == "rs" and event["step"] == "mcp-tool-call" and event["status"] == 200
    assert event["params"]["jsonrpc_method"] == "tools/call" and event["params"]["tool"] == "notes_list"
    assert event["params"]["protocol_version"] == "2025-06-18"
    assert event["client_id"] == "client-1" and event["token"]["aud"] == RESOURCE
    assert len(event["links"]["bearer"]) == 10
    assert token not in str(recorded(rs)) and token.split(".")[2] not in str(recorded(rs))


def test_a_refused_token_records_which_check_failed(rs: RunningRS) -> None:
    token = mint("notes:read", audience="https://elsewhere.example/mcp")
    response = rs.rpc.call("notes_list", token=token)
    assert response.status_code == 401
    event = recorded(rs)[-1]
    assert event["error"] == "invalid_token"
    assert "not issued for this resource" in event["error_description"]
    [connection] = [c for c in connections(recorded(rs)) if c.client == "client-1"]
    found = diagnose(connection.events, time.time())
    assert [d.key for d in found] == ["token-refused-aud"]
    assert found[0].doctor == "prm-resource"


def test_a_challenge_in_a_tool_result_is_recorded(start_rs: AppFactory) -> None:
    rs = start_rs(tool_auth_challenge="result")
    response = rs.rpc.call("notes_list")
    assert response.status_code == 200
    event = recorded(rs)[-1]
    assert event["params"]["challenge_in"] == "tool result"
    assert "resource_metadata=" in event["www_authenticate"]


def test_initialize_names_the_client_and_the_revision(rs: RunningRS) -> None:
    params = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "1"},
    }
    assert rs.rpc.post("initialize", params).status_code == 200
    event = recorded(rs)[-1]
    assert event["step"] == "mcp-initialize" and event["client_name"] == "probe"
    assert event["params"]["protocol_version"] == "2025-06-18"


def test_the_prm_fetch_records_what_it_announced(rs: RunningRS) -> None:
    assert rs.client.get("/.well-known/oauth-protected-resource/mcp").status_code == 200
    event = recorded(rs)[-1]
    assert event["step"] == "prm" and event["params"]["prm_resource"] == RESOURCE
