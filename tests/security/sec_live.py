"""Helpers for the security suite's real-process tests: flows, MCP calls and bounded loopback load.

The OAuth steps are ``tests/auth_server/as_flow_helpers.py`` pointed at the live AS (an
``httpx.Client`` whose base URL is the issuer); this module adds what only the live tests need:
MCP calls to the live RS, concurrent registrations / ``notes_add`` calls with a bound on
concurrency, an optional ``kill -9`` in the middle, and reading the SQLite files directly.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mcp_oauth_demo.constants import MCP_HEADERS as BASE_MCP_HEADERS
from mcp_oauth_demo.launcher import Pair
from mcp_oauth_demo.oauth_client import rpc
from tests.auth_server.as_flow_helpers import LOOPBACK_REDIRECT, Tokens, get_tokens
from tests.resource_server.rs_support import PROTOCOL

MCP_HEADERS = BASE_MCP_HEADERS | {"Mcp-Protocol-Version": PROTOCOL}


@contextmanager
def as_http(pair: Pair) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pair.issuer, timeout=30) as client:
        yield client


def live_tokens(pair: Pair, **params: Any) -> Tokens:
    """The whole flow against the live AS for the live RS's resource."""
    with as_http(pair) as http:
        return get_tokens(http, resource=pair.mcp_url, **params)


def call_tool(
    pair: Pair, token: str | None, name: str, arguments: dict[str, Any] | None = None
) -> httpx.Response:
    headers = dict(MCP_HEADERS)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    message = rpc("tools/call", {"name": name, "arguments": arguments or {}}, 1)
    return httpx.post(pair.mcp_url, content=json.dumps(message), headers=headers, timeout=30)


def tool_ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text[:300]
    result = response.json()["result"]
    assert result["isError"] is False, result
    return dict(result["structuredContent"])


# -- bounded load with an optional crash in the middle -------------------------------------------
@dataclass
class LoadResult:
    acked: dict[str, Any] = field(default_factory=dict)  # key -> what the success response said
    failed: int = 0
    killed_after: int | None = None

    @property
    def count(self) -> int:
        return len(self.acked)


async def _run(
    total: int,
    concurrency: int,
    send: Callable[[httpx.AsyncClient, int], Any],
    *,
    kill_after: int | None,
    kill: Callable[[], None] | None,
) -> LoadResult:
    result = LoadResult()
    gate = asyncio.Semaphore(concurrency)
    killing: asyncio.Task[None] | None = None
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one(index: int) -> None:
            nonlocal killing
            async with gate:
                try:
                    acked = await send(client, index)
                except httpx.HTTPError:
                    acked = None
                if acked is None:
                    result.failed += 1
                    return
                key, value = acked
                result.acked[key] = value
                if (
                    kill is not None
                    and killing is None
                    and kill_after is not None
                    and result.count >= kill_after
                ):
                    result.killed_after = result.count
                    killing = asyncio.create_task(asyncio.to_thread(kill))

        await asyncio.gather(*(one(index) for index in range(total)))
        if killing is not None:
            await killing
    return result


def register_many(
    pair: Pair,
    total: int,
    concurrency: int,
    *,
    kill_after: int | None = None,
    kill: Callable[[], None] | None = None,
) -> LoadResult:
    """``total`` RFC 7591 registrations; acked = client_id -> registration response."""

    async def send(client: httpx.AsyncClient, index: int) -> tuple[str, Any] | None:
        response = await client.post(
            pair.issuer + "/oauth2/register",
            json={
                "client_name": f"load client {index}",
                "redirect_uris": [LOOPBACK_REDIRECT],
                "token_endpoint_auth_method": "none",
            },
        )
        if response.status_code != 201:
            return None
        body = response.json()
        return body["client_id"], body

    return asyncio.run(_run(total, concurrency, send, kill_after=kill_after, kill=kill))


def add_notes(
    pair: Pair,
    token: str,
    prefix: str,
    total: int,
    concurrency: int,
    *,
    kill_after: int | None = None,
    kill: Callable[[], None] | None = None,
) -> LoadResult:
    """``total`` ``notes_add`` calls with texts ``{prefix}-{i}``; acked = text -> note id."""
    headers = MCP_HEADERS | {"Authorization": f"Bearer {token}"}

    async def send(client: httpx.AsyncClient, index: int) -> tuple[str, Any] | None:
        text = f"{prefix}-{index}"
        message = rpc("tools/call", {"name": "notes_add", "arguments": {"text": text}}, index + 1)
        response = await client.post(pair.mcp_url, content=json.dumps(message), headers=headers)
        if response.status_code != 200:
            return None
        result = response.json().get("result") or {}
        if result.get("isError") is not False:
            return None
        return text, result["structuredContent"]["id"]

    return asyncio.run(_run(total, concurrency, send, kill_after=kill_after, kill=kill))


def read_registration(client: httpx.Client, registration: dict[str, Any]) -> httpx.Response:
    """RFC 7592 §2.1 read of one registration with its registration access token."""
    return client.get(
        registration["registration_client_uri"],
        headers={"Authorization": f"Bearer {registration['registration_access_token']}"},
    )


# -- the SQLite files ---------------------------------------------------------------------------
def query(path: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Run ``sql`` on a server's database, read-only, beside the running server (WAL allows it)."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as conn:
        return list(conn.execute(sql, args).fetchall())


def integrity(path: Path) -> str:
    return str(query(path, "PRAGMA integrity_check")[0][0])
