"""The RS as a real process (``python -m resource_server``), talked to by the ``mcp`` SDK's own client.

No raw JSON here: ``ClientSession`` over the SDK's streamable-HTTP client (``httpx2``) does the
``initialize`` handshake (or ``server/discover``), lists tools and calls them with a bearer
token. The RS runs with two uvicorn workers (``WEB_CONCURRENCY=2``): it is stateless, so any
worker can answer any request. Its keys come from a tiny stand-in AS on another port.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from mcp_oauth_demo.launcher import ServerProcess, free_port, wait_ready
from shared.jwks import jwks_document
from shared.tokens import mint_access_token
from tests.resource_server.rs_support import SIGNING_KEY


@pytest.fixture(scope="module")
def stand_in_as() -> Iterator[str]:
    """Serves only what the RS needs from an AS: RFC 8414 metadata and the JWKS."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    documents = {
        "/.well-known/oauth-authorization-server": {"issuer": issuer, "jwks_uri": issuer + "/jwks"},
        "/jwks": jwks_document([SIGNING_KEY]),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            document = documents.get(self.path)
            body = json.dumps(document).encode()
            self.send_response(200 if document else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield issuer
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def rs_process(stand_in_as: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    port = free_port()
    data_dir: Path = tmp_path_factory.mktemp("rs-process")
    env = {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in {"MCP_RESOURCE", "JWT_ALG", "JWT_SECRET", "STORE", "TOOL_AUTH_CHALLENGE"}
    }
    env.update(
        RS_PORT=str(port),
        RS_BASE_URL=f"http://127.0.0.1:{port}",
        AUTH_ISSUER=stand_in_as,
        DATA_DIR=str(data_dir),
        WEB_CONCURRENCY="2",
        PYTHONUNBUFFERED="1",
    )
    log_path = data_dir / "rs.log"
    with log_path.open("ab") as log:
        command = [sys.executable, "-m", "resource_server"]  # our own interpreter and module
        popen = subprocess.Popen(command, env=env, cwd=data_dir, stdout=log, stderr=subprocess.STDOUT)
    ready_url = f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp"
    process = ServerProcess(name="rs", process=popen, ready_url=ready_url, log_path=log_path)
    try:
        # Generous: two workers each import the SDK, which takes a while on a busy CI machine.
        wait_ready(process, timeout=120)
        yield process
    finally:
        process.stop()


def _mcp_url(process: ServerProcess) -> str:
    return process.ready_url.replace("/.well-known/oauth-protected-resource/mcp", "/mcp")


def _token(issuer: str, mcp_url: str, scope: str) -> str:
    token, _ = mint_access_token(
        SIGNING_KEY,
        issuer=issuer,
        subject="user-sdk",
        audience=mcp_url,
        client_id="sdk-test",
        scope=scope,
        ttl_sec=300,
        extra_claims={"name": "Sam SDK"},
    )
    return token


async def _with_session(url: str, token: str | None, *, modern: bool = False) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    seen: dict[str, Any] = {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=20) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        if modern:
            seen["handshake"] = (await session.discover()).supported_versions
        else:
            seen["handshake"] = (await session.initialize()).protocol_version
        seen["tools"] = {tool.name for tool in (await session.list_tools()).tools}
        teaser = await session.call_tool("notes_teaser", {})
        seen["teaser"] = teaser.structured_content
        if token:
            added = await session.call_tool("notes_add", {"text": f"from the SDK client (modern={modern})"})
            assert added.is_error is False, added
            listed = await session.call_tool("notes_list", {})
            seen["notes"] = [note["text"] for note in listed.structured_content["notes"]]
            too_long = await session.call_tool("notes_add", {"text": "x" * 2001})
            seen["too_long"] = (too_long.is_error, too_long.content[0].text)
        else:
            try:
                await session.call_tool("notes_list", {})
            except MCPError as exc:
                seen["refused"] = str(exc)
            else:
                seen["refused"] = None
    return seen


def test_sdk_client_session_with_a_bearer_token(rs_process: ServerProcess, stand_in_as: str) -> None:
    url = _mcp_url(rs_process)
    token = _token(stand_in_as, url, "notes:read notes:write")
    seen = anyio.run(_with_session, url, token)
    assert seen["handshake"] == "2025-11-25"
    assert seen["tools"] == {"auth_show", "auth_whoami", "notes_list", "notes_add", "notes_teaser"}
    assert seen["teaser"]["signed_in"] is True and seen["teaser"]["subject"] == "user-sdk"
    assert "from the SDK client (modern=False)" in seen["notes"]
    assert seen["too_long"][0] is True and "at most 2,000" in seen["too_long"][1]


def test_sdk_client_on_2026_with_server_discover(rs_process: ServerProcess, stand_in_as: str) -> None:
    url = _mcp_url(rs_process)
    token = _token(stand_in_as, url, "notes:read notes:write")
    seen = anyio.run(lambda: _with_session(url, token, modern=True))
    assert "2026-07-28" in seen["handshake"]
    assert "from the SDK client (modern=True)" in seen["notes"]


def test_sdk_client_without_token_is_challenged(rs_process: ServerProcess) -> None:
    seen = anyio.run(_with_session, _mcp_url(rs_process), None)
    assert seen["teaser"]["signed_in"] is False
    assert seen["refused"] is not None  # the 401 surfaces as an error, not as a result
    assert "eyJ" not in rs_process.log and "Traceback" not in rs_process.log  # tokens are never logged
