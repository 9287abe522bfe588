"""The trace against real processes: a whole SDK flow, three broken setups, no secret anywhere.

Both servers run as processes (``mcp_oauth_demo.launcher``) with one ``DATA_DIR`` and
``LOG_FORMAT=json``, so the events reach the shared SQLite file and both logs; the AS serves
them at ``/trace/events`` behind ``TRACE_KEY``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import anyio
import httpx
import pytest
from mcp.client.auth.exceptions import OAuthFlowError

from mcp_oauth_demo import oauth_client
from mcp_oauth_demo.launcher import Pair, free_port, pair_environment, running_pair, start_auth, start_server
from tests.e2e.oauth_flow import token_via_flow
from tests.e2e.test_sdk_oauth_client import PlayedUser, SdkClient, sdk_session

pytestmark = pytest.mark.e2e

KEY = "e2e-trace-key-0123456789"


@pytest.fixture(scope="module")
def trace_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with running_pair(tmp_path_factory.mktemp("trace-pair"), TRACE_KEY=KEY, LOG_FORMAT="json") as pair:
        yield pair


def trace_events(pair: Pair, settle_sec: float = 0.6) -> list[dict]:
    time.sleep(settle_sec)  # the RS writes its batch every 0.2 s
    response = httpx.get(
        pair.issuer + "/trace/events", headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def diagnoses_of(pair: Pair, client_id: str) -> list[str]:
    response = httpx.get(pair.issuer + "/trace/connections", params={"key": KEY}, timeout=10)
    assert response.status_code == 200
    return [
        d["key"] for c in response.json()["connections"] if c["client"] == client_id for d in c["diagnoses"]
    ]


def is_subsequence(wanted: list[str], steps: list[str]) -> bool:
    remaining = iter(steps)
    return all(step in remaining for step in wanted)


async def sdk_client_calls_notes_list(pair: Pair) -> SdkClient:
    """The SDK's whole flow: initialize, the 401, discovery, registration, sign-in, the call again."""
    async with sdk_session(pair, PlayedUser()) as (session, client):
        result = await session.call_tool("notes_list", {})
        assert not result.is_error
    return client


def flattened(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in flattened(inner)]
    return [error]


def test_sdk_flow_is_traced_in_order_and_leaves_no_secret(trace_pair: Pair) -> None:
    client = anyio.run(sdk_client_calls_notes_list, trace_pair)
    events = trace_events(trace_pair)
    client_id = client.storage.client_info.client_id
    steps = [e["step"] for e in events]
    assert is_subsequence(
        [
            "mcp-initialize",
            "mcp-tool-call",
            "prm",
            "as-metadata",
            "register",
            "authorize",
            "login",
            "consent",
            "token-code",
            "mcp-tool-call",
        ],
        steps,
    ), steps
    first_call = next(e for e in events if e["step"] == "mcp-tool-call")
    assert first_call["status"] == 401 and first_call["params"]["tool"] == "notes_list"
    assert "resource_metadata=" in first_call["www_authenticate"]
    token = next(e for e in events if e["step"] == "token-code")
    assert token["client_id"] == client_id and token["params"]["grant_type"] == "authorization_code"
    last_call = [e for e in events if e["step"] == "mcp-tool-call"][-1]
    assert last_call["status"] == 200 and last_call["client_id"] == client_id
    assert last_call["links"]["bearer"] == token["links"]["access_token"]
    for event in events:
        assert {"time", "server", "client_id", "method", "path", "status", "step"} <= event.keys()
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)

    secrets = {
        "access token": client.storage.history[-1].access_token,
        "refresh token": client.storage.history[-1].refresh_token,
        "code": client.user.result.code,
        "verifier": next(
            dict(parse_qsl(request.content.decode())).get("code_verifier")
            for request in client.sent
            if b"code_verifier" in request.content
        ),
    }
    assert all(secrets.values()), secrets
    haystack = {path: path.read_bytes() for path in Path(trace_pair.data_dir).rglob("*") if path.is_file()}
    assert any(b'"trace"' in data for data in haystack.values()), "LOG_FORMAT=json writes trace lines"
    for name, secret in secrets.items():
        for path, data in haystack.items():
            assert secret.encode() not in data, f"the {name} is in {path}"
    for path, data in haystack.items():
        if path.name.startswith("trace.sqlite3"):
            assert b"password" not in data, f"the password is in {path}"


def test_without_the_key_the_trace_is_401(trace_pair: Pair) -> None:
    for path in ("/trace", "/trace/events", "/trace/connections"):
        assert httpx.get(trace_pair.issuer + path, timeout=10).status_code == 401
        assert httpx.get(trace_pair.issuer + path, params={"key": "wrong" * 5}, timeout=10).status_code == 401
        forwarded = {"X-Forwarded-For": "203.0.113.7", "Authorization": "Bearer nope"}
        assert httpx.get(trace_pair.issuer + path, headers=forwarded, timeout=10).status_code == 401


def test_a_client_that_never_sends_its_token_is_diagnosed(trace_pair: Pair) -> None:
    token_via_flow(trace_pair, client_name="forgetful client")
    with httpx.Client(timeout=10) as http:
        call = oauth_client.rpc("tools/call", {"name": "notes_list", "arguments": {}}, id=7)
        assert oauth_client.mcp_post(http, trace_pair.mcp_url, call).status_code == 401
    events = trace_events(trace_pair)
    client_id = next(e["client_id"] for e in events if e.get("client_name") == "forgetful client")
    assert "token-not-sent" in diagnoses_of(trace_pair, client_id)


def test_a_refused_metadata_document_is_diagnosed(trace_pair: Pair) -> None:
    document = "https://not-allowed.example/oauth/client.json"
    query = {
        "response_type": "code",
        "client_id": document,
        "redirect_uri": "https://not-allowed.example/callback",
        "code_challenge": "x" * 43,
        "code_challenge_method": "S256",
        "state": "s",
    }
    response = httpx.get(f"{trace_pair.issuer}/oauth2/authorize?{urlencode(query)}", timeout=10)
    assert response.status_code == 400
    trace_events(trace_pair, settle_sec=0.1)
    assert "metadata-document-refused" in diagnoses_of(trace_pair, document)


def test_a_wrong_mcp_resource_on_the_rs_is_diagnosed(tmp_path: Path) -> None:
    env = pair_environment(tmp_path, auth_port=free_port(), rs_port=free_port(), TRACE_KEY=KEY)
    auth = start_auth(env, tmp_path)
    wrong = env["RS_BASE_URL"] + "/mcp/elsewhere"
    rs_env = {**env, "MCP_RESOURCE": wrong}
    prm_url = wrong.replace("/mcp", "/.well-known/oauth-protected-resource/mcp", 1)
    rs = start_server("rs", "resource_server", rs_env, prm_url, tmp_path)
    pair = Pair(auth=auth, rs=rs, env=env, data_dir=tmp_path)
    try:
        with pytest.raises(BaseExceptionGroup) as refused:
            anyio.run(sdk_client_calls_notes_list, pair)
        # The SDK itself refuses a PRM that names another resource (RFC 9728 §3.3).
        assert any(isinstance(leaf, OAuthFlowError) for leaf in flattened(refused.value)), refused.value
        time.sleep(0.6)
        response = httpx.get(pair.issuer + "/trace/connections", params={"key": KEY}, timeout=10)
        keys = {d["key"] for c in response.json()["connections"] for d in c["diagnoses"]}
        events = [e for c in response.json()["connections"] for e in c["events"]]
        assert "prm-resource-mismatch" in keys, (keys, events)
    finally:
        rs.stop()
        auth.stop()


def test_the_terminal_trace_prints_the_same_story(trace_pair: Pair) -> None:
    token_via_flow(trace_pair, client_name="terminal client")
    with httpx.Client(timeout=10) as http:  # and then forgets its token
        call = oauth_client.rpc("tools/call", {"name": "notes_list", "arguments": {}}, id=8)
        assert oauth_client.mcp_post(http, trace_pair.mcp_url, call).status_code == 401
    time.sleep(0.6)
    cli = [sys.executable, "-m", "mcp_oauth_demo.cli", "trace"]
    env = {**os.environ, "DATA_DIR": str(trace_pair.data_dir), "NO_COLOR": "1"}
    printed = subprocess.run(
        cli, env=env, cwd=trace_pair.data_dir, capture_output=True, text=True, timeout=60
    )
    assert printed.returncode == 0, printed.stderr
    assert "terminal client" in printed.stdout and "(token-code;" in printed.stdout
    assert "A tool was called again without a token after sign-in" in printed.stdout
    with subprocess.Popen(
        [*cli, "--follow"], env=env, cwd=trace_pair.data_dir, stdout=subprocess.PIPE, text=True
    ) as follow:
        try:
            assert follow.stdout is not None
            first = follow.stdout.readline()
            assert " as " in first or " rs " in first, first
        finally:
            follow.send_signal(signal.SIGINT)
            follow.wait(timeout=10)
