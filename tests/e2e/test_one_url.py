"""One-URL mode end to end: ``python -m mcp_oauth_demo.one_url`` as a real process.

The process serves both servers on one free 127.0.0.1 port with
``PUBLIC_URL=http://127.0.0.1:<port>`` (:func:`mcp_oauth_demo.launcher.running_one_url`), the
way ``ngrok http 8000`` would forward to it. The ``mcp`` SDK's own OAuth client goes through the
whole flow — 401, RFC 9728 discovery, RFC 8414 metadata, sign-in, token, tool calls and the SSE
answers of streamable HTTP — against that one origin; so does the project's httpx client, and
the doctor, which must pass every check including its one-URL one.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mcp.shared.auth import OAuthClientInformationFull

from mcp_oauth_demo import doctor
from mcp_oauth_demo import oauth_client as oc
from mcp_oauth_demo.console import Console
from mcp_oauth_demo.launcher import Pair, free_port, running_one_url
from tests.e2e.oauth_flow import registration, token_via_flow, verified_claims
from tests.e2e.test_sdk_oauth_client import PlayedUser, sdk_session

pytestmark = pytest.mark.e2e

NOTE = "written through one URL"


@pytest.fixture(scope="module")
def one_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with running_one_url(tmp_path_factory.mktemp("one-url")) as pair:
        yield pair


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_one_process_serves_both_documents_at_the_one_url(one_url: Pair) -> None:
    public_url = one_url.env["PUBLIC_URL"]
    assert one_url.issuer == one_url.rs_base_url == public_url
    prm = httpx.get(public_url + "/.well-known/oauth-protected-resource/mcp", timeout=10).json()
    metadata = httpx.get(public_url + "/.well-known/oauth-authorization-server", timeout=10).json()
    assert prm["resource"] == public_url + "/mcp"
    assert prm["authorization_servers"] == [metadata["issuer"]] == [public_url]
    # The banner says what to paste into ChatGPT or Claude.
    assert f"MCP server URL           {public_url}/mcp" in one_url.rs.log


@pytest.fixture
def registered_client(one_url: Pair) -> OAuthClientInformationFull:
    """A client registered (RFC 7591) for every scope, so no sign-in needs a new registration."""
    registered = registration(one_url, client_name="mcp SDK one-URL test")
    return OAuthClientInformationFull.model_validate(registered)


@pytest.mark.anyio
async def test_sdk_client_signs_in_and_calls_tools_through_one_url(
    one_url: Pair, registered_client: OAuthClientInformationFull
) -> None:
    """The SDK discovers everything from the 401 and never leaves the one origin."""
    client_info = registered_client
    async with sdk_session(one_url, PlayedUser(), client_info) as (session, client):
        added = await session.call_tool("notes_add", {"text": NOTE})
        assert not added.is_error, added.content
        listed = await session.call_tool("notes_list", {})
        assert not listed.is_error, listed.content
        assert listed.structured_content is not None
        assert NOTE in [note["text"] for note in listed.structured_content["notes"]]
        whoami = await session.call_tool("auth_whoami", {})
        assert not whoami.is_error, whoami.content
        assert whoami.structured_content is not None
        assert whoami.structured_content["client_id"] == client_info.client_id

        origins = {f"{request.url.scheme}://{request.url.netloc.decode()}" for request in client.sent}
        assert origins == {one_url.env["PUBLIC_URL"]}, "discovery, sign-in, tokens and MCP: one origin"
        paths = {request.url.path for request in client.sent}
        assert {
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-authorization-server",
        } <= paths
        assert "authorization_code" in client.token_grants()


def test_project_client_flow_and_tool_call(one_url: Pair) -> None:
    token = token_via_flow(one_url, scope="profile:read notes:read", client_name="one-URL e2e client")
    claims = verified_claims(one_url, token)  # signature against the JWKS at the one URL
    assert claims["iss"] == one_url.issuer
    with httpx.Client(timeout=10) as http:
        session = oc.McpSession(http, one_url.mcp_url, access_token=token)
        session.initialize("one-URL e2e client")
        response, message = session.call_tool("auth_whoami", {})
        session.close()
    assert response.status_code == 200, response.text
    assert message["result"]["structuredContent"]["sub"] == claims["sub"]


def test_doctor_passes_on_a_one_url_setup(one_url: Pair, tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("mcp-oauth-demo")
    started = time.monotonic()
    result = subprocess.run(
        [str(script), "doctor"], env=one_url.env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    print(result.stdout, f"\ndoctor wall time: {time.monotonic() - started:.2f}s")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✖" not in result.stdout
    assert "all checks passed" in result.stdout
    public_url = one_url.env["PUBLIC_URL"]
    assert f"one URL for both servers: issuer and authorization_servers are {public_url}" in result.stdout
    assert "the RS accepts it: auth_whoami works" in result.stdout


def test_doctor_names_the_one_url_fix_when_nothing_answers_there(
    one_url: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = f"http://127.0.0.1:{free_port()}"
    env = {**one_url.env, "PUBLIC_URL": wrong, "AUTH_ISSUER": wrong, "RS_BASE_URL": wrong}
    for name in set(os.environ) - set(env):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no .env here
    output = io.StringIO()
    code = doctor.run(argparse.Namespace(no_sign_in=True, timeout=5.0, table=False), out=Console(output))
    print(output.getvalue())
    assert code == 1
    assert f"PUBLIC_URL={wrong} does not serve both documents" in output.getvalue()
    assert doctor.PROBLEM["one-url"].fix in output.getvalue()
    assert "`.venv/bin/mcp-oauth-demo one-url`" in doctor.PROBLEM["rs-reachable"].fix


def test_event_stream_on_mcp_passes_through_unbuffered(one_url: Pair) -> None:
    """GET /mcp opens the session's SSE stream (MCP streamable HTTP): its headers arrive at once.

    A router that buffered answers would hold them until the stream ended — never, here.
    """
    with httpx.Client(timeout=httpx.Timeout(10, read=5)) as http:
        session = oc.McpSession(http, one_url.mcp_url)
        session.initialize("one-URL SSE test")
        assert session.session_id, "one process: the RS issues sessions"
        headers = {
            "Accept": "text/event-stream",
            "Mcp-Session-Id": session.session_id,
            "MCP-Protocol-Version": str(session.protocol_version),
        }
        started = time.monotonic()
        with http.stream("GET", one_url.mcp_url, headers=headers) as stream:
            waited = time.monotonic() - started
            assert stream.status_code == 200, stream.read()
            assert stream.headers["content-type"].startswith("text/event-stream")
        session.close()
    assert waited < 5, f"the stream's headers took {waited:.1f}s"
