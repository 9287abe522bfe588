"""Both servers with two worker processes each on one PostgreSQL database, as real processes.

``DATABASE_URL`` points both at a database of the session's throw-away PostgreSQL server
(``tests/postgres_cluster.py``), ``WEB_CONCURRENCY=2`` gives each two uvicorn workers, and
every request may land on either worker. What must hold:

* the MCP SDK's own OAuth client signs in and calls every tool (the pending authorization
  request, the login and the consent are served by whichever worker the connection hits);
* under concurrent load, with one worker ``kill -9``-ed in the middle, every write that was
  acknowledged — a registered client, a saved note — is in the database exactly once; a note
  whose answer was lost is stored once when the client retries with its ``request_id``;
* 20 concurrent redemptions of one code: exactly one gets tokens;
* 20 concurrent refreshes of one refresh token (``auth_server/token.py``: a rotated token
  presented again within 60 s while its successor is unused is rotated again). Every
  presentation is served in turn, each superseding the previous successor, so all of them
  may answer 200; what is asserted is that at the end **exactly one refresh token of the
  family is live** (one winner per rotation step), and that presenting any other of the
  returned tokens is reuse and revokes the family, the live one included.

Sizes: 1,000 registrations and 1,000 notes locally, 300 each with ``CI=true`` (2 cores).
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import psycopg
import pytest

from mcp_oauth_demo import oauth_client
from mcp_oauth_demo.launcher import Pair, free_port, launch_server, pair_environment, running_pair, wait_ready
from mcp_oauth_demo.pg_cluster import Cluster
from mcp_oauth_demo.user_agent import sign_in
from shared.pkce import make_pair
from tests.auth_server.as_flow_helpers import hidden_fields, query_of
from tests.e2e.oauth_flow import authorization_request, code_from_redirect, exchange_code, register_client
from tests.e2e.test_sdk_oauth_client import FIVE_TOOLS, PlayedUser, sdk_session

LOAD = 300 if os.environ.get("CI") == "true" else 1_000
CONCURRENCY = 32
RACERS = 20
MCP_HEADERS = {
    "Accept": oauth_client.MCP_ACCEPT,
    "Content-Type": "application/json",
    "MCP-Protocol-Version": oauth_client.PROTOCOL_VERSION,
}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def pg_pair(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Pair]:
    with running_pair(
        tmp_path_factory.mktemp("pg-pair"), DATABASE_URL=postgres_url, WEB_CONCURRENCY="2"
    ) as pair:
        yield pair


def workers(server_pid: int) -> list[int]:
    """The worker processes uvicorn's supervisor spawned (not multiprocessing's resource tracker)."""
    children: list[int] = []
    for task in Path(f"/proc/{server_pid}/task").iterdir():
        children += [int(pid) for pid in (task / "children").read_text().split()]
    found = []
    for pid in children:
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:  # gone since
            continue
    return found


def wait_for_workers(server_pid: int, count: int, timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = workers(server_pid)
        if len(found) == count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"uvicorn {server_pid} has workers {workers(server_pid)}, expected {count}")


def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def sign_in_code(pair: Pair, client_id: str, redirect_uri: str, scope: str = "notes:read") -> tuple[Any, str]:
    request = authorization_request(pair, client_id=client_id, redirect_uri=redirect_uri, scope=scope)
    with httpx.Client(timeout=10) as user_agent:
        response = sign_in(user_agent, request.url)
    return request, code_from_redirect(request, response.redirect_url, pair.issuer)


def test_the_banners_name_postgresql_and_two_workers(pg_pair: Pair) -> None:
    for server in (pg_pair.auth, pg_pair.rs):
        assert "PostgreSQL 127.0.0.1:" in server.log and "2 workers" in server.log, server.log[:800]
    assert len(wait_for_workers(pg_pair.auth.process.pid, 2)) == 2
    assert len(wait_for_workers(pg_pair.rs.process.pid, 2)) == 2


@pytest.mark.anyio
async def test_the_sdk_client_signs_in_and_calls_every_tool(pg_pair: Pair) -> None:
    async with sdk_session(pg_pair, PlayedUser()) as (session, _client):
        for tool, arguments in FIVE_TOOLS:
            result = await session.call_tool(tool, arguments)
            assert not result.is_error, (tool, result.content)


async def _load(send: Any, count: int, kill_pid: int, *, kill_after: int) -> tuple[dict[int, Any], list[int]]:
    """``send(http, n)`` for n in range(count), CONCURRENCY at a time; ``kill -9`` once enough succeeded.

    Returns the acknowledged results by n and the ns whose answer never came (errors).
    """
    acknowledged: dict[int, Any] = {}
    lost: list[int] = []
    killed = anyio.Event()
    limiter = anyio.CapacityLimiter(CONCURRENCY)

    async def one(http: httpx.AsyncClient, n: int) -> None:
        async with limiter:
            try:
                result = await send(http, n)
            except httpx.HTTPError:
                lost.append(n)
                return
            if result is None:
                lost.append(n)
                return
            acknowledged[n] = result
            if len(acknowledged) >= kill_after and not killed.is_set():
                killed.set()
                os.kill(kill_pid, signal.SIGKILL)

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http, anyio.create_task_group() as group:
        for n in range(count):
            group.start_soon(one, http, n)
    assert killed.is_set()
    return acknowledged, lost


@pytest.mark.anyio
async def test_registrations_survive_a_killed_worker_exactly_once(pg_pair: Pair, postgres_url: str) -> None:
    victim = wait_for_workers(pg_pair.auth.process.pid, 2)[0]
    endpoint = pg_pair.issuer + "/oauth2/register"

    async def register(http: httpx.AsyncClient, n: int) -> str | None:
        response = await http.post(
            endpoint,
            json={
                "client_name": f"load client {n}",
                "redirect_uris": [f"http://127.0.0.1:9/cb/{n}"],
                "token_endpoint_auth_method": "none",
            },
        )
        return response.json()["client_id"] if response.status_code == 201 else None

    acknowledged, lost = await _load(register, LOAD, victim, kill_after=LOAD // 3)
    assert len(acknowledged) + len(lost) == LOAD
    assert len(acknowledged) >= LOAD // 2, f"only {len(acknowledged)} of {LOAD} registrations answered"
    ids = list(acknowledged.values())
    assert len(set(ids)) == len(ids)
    stored = query(postgres_url, "SELECT client_id, metadata FROM clients WHERE client_id = ANY(%s)", ids)
    assert len(stored) == len(ids), "an acknowledged registration is missing"
    names = {client_id: metadata for client_id, metadata in stored}
    for n, client_id in acknowledged.items():
        assert f'"load client {n}"' in names[client_id]
    # The server is still whole: the supervisor replaced the worker, and any worker serves.
    assert victim not in wait_for_workers(pg_pair.auth.process.pid, 2)


@pytest.mark.anyio
async def test_notes_survive_a_killed_worker_exactly_once(pg_pair: Pair, postgres_url: str) -> None:
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    client_id = register_client(pg_pair, client_name="notes load", redirect_uri=redirect_uri)
    request, code = sign_in_code(pg_pair, client_id, redirect_uri, scope="notes:write")
    token = exchange_code(pg_pair, request, code)["access_token"]
    headers = MCP_HEADERS | {"Authorization": f"Bearer {token}"}
    victim = wait_for_workers(pg_pair.rs.process.pid, 2)[0]
    run = os.urandom(4).hex()

    async def add(http: httpx.AsyncClient, n: int) -> str | None:
        arguments = {"text": f"load note {n}", "request_id": f"{run}-{n}"}
        message = oauth_client.rpc("tools/call", {"name": "notes_add", "arguments": arguments}, n + 1)
        response = await http.post(pg_pair.mcp_url, headers=headers, json=message)
        if response.status_code != 200:
            return None
        result = response.json()["result"]
        return None if result["isError"] else result["structuredContent"]["id"]

    acknowledged, lost = await _load(add, LOAD, victim, kill_after=LOAD // 3)
    assert len(acknowledged) >= LOAD // 2, f"only {len(acknowledged)} of {LOAD} notes answered"

    def stored() -> dict[str, tuple[str, int]]:
        rows = query(
            postgres_url,
            "SELECT request_id, MIN(id), COUNT(*) FROM notes WHERE request_id LIKE %s GROUP BY request_id",
            f"{run}-%",
        )
        return {request_id: (note_id, count) for request_id, note_id, count in rows}

    rows = stored()
    for n, note_id in acknowledged.items():
        assert rows[f"{run}-{n}"] == (note_id, 1)
    # The client retries what it never heard back about, with the same request_id: once each.
    async with httpx.AsyncClient(timeout=30) as http:
        for n in lost:
            assert await add(http, n) is not None
    rows = stored()
    assert len(rows) == LOAD and all(count == 1 for _, count in rows.values())
    for n, note_id in acknowledged.items():
        assert rows[f"{run}-{n}"][0] == note_id  # a retry answers with the note stored first


async def _post_all(url: str, forms: list[dict[str, str]]) -> list[httpx.Response]:
    """All forms POSTed at once, on separate connections (so both workers get some)."""
    responses: list[httpx.Response] = []

    async def one(form: dict[str, str]) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            responses.append(await http.post(url, data=form))

    async with anyio.create_task_group() as group:
        for form in forms:
            group.start_soon(one, form)
    return responses


@pytest.mark.anyio
async def test_concurrent_redemptions_of_one_code_have_one_winner(pg_pair: Pair) -> None:
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    client_id = register_client(pg_pair, client_name="code race", redirect_uri=redirect_uri)
    request, code = sign_in_code(pg_pair, client_id, redirect_uri)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "code_verifier": request.code_verifier,
        "resource": request.resource,
    }
    responses = await _post_all(pg_pair.issuer + "/oauth2/token", [form] * RACERS)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * (RACERS - 1), statuses
    for response in responses:
        if response.status_code == 400:
            assert response.json()["error"] == "invalid_grant"


@pytest.mark.anyio
async def test_concurrent_refreshes_leave_one_live_token_and_reuse_revokes(
    pg_pair: Pair, postgres_url: str
) -> None:
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    client_id = register_client(pg_pair, client_name="refresh race", redirect_uri=redirect_uri)
    request, code = sign_in_code(pg_pair, client_id, redirect_uri)
    tokens = exchange_code(pg_pair, request, code)
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": client_id}
    responses = await _post_all(pg_pair.issuer + "/oauth2/token", [form] * RACERS)
    winners = [r.json() for r in responses if r.status_code == 200]
    assert winners, [r.text for r in responses]
    for response in responses:
        if response.status_code != 200:
            assert response.json()["error"] == "invalid_grant", response.text
    returned = {hashlib.sha256(w["refresh_token"].encode()).hexdigest(): w["refresh_token"] for w in winners}
    (grant_id,) = query(
        postgres_url,
        "SELECT grant_id FROM refresh_tokens WHERE token_hash = %s",
        hashlib.sha256(tokens["refresh_token"].encode()).hexdigest(),
    )[0]
    live = query(
        postgres_url, "SELECT token_hash FROM refresh_tokens WHERE grant_id = %s AND NOT used", grant_id
    )
    assert len(live) == 1 and live[0][0] in returned, "exactly one refresh token of the family is live"
    # Any other returned token is dead: presenting it is reuse, and the whole family goes.
    live_token = returned[live[0][0]]
    dead = [token for token in returned.values() if token != live_token]
    async with httpx.AsyncClient(timeout=10) as http:
        token_url = pg_pair.issuer + "/oauth2/token"
        if dead:
            reuse = await http.post(token_url, data=form | {"refresh_token": dead[0]})
            assert reuse.status_code == 400 and "already used" in reuse.json()["error_description"]
            after = await http.post(token_url, data=form | {"refresh_token": live_token})
            assert after.status_code == 400 and after.json()["error"] == "invalid_grant"
        else:  # a single winner: it refreshes once more, and the old token is then reuse
            assert (await http.post(token_url, data=form | {"refresh_token": live_token})).status_code == 200
            assert (await http.post(token_url, data=form)).status_code == 400


def test_two_instances_started_at_once_share_one_key_one_secret_and_every_sign_in(
    postgres_cluster: Cluster, tmp_path: Path
) -> None:
    """Two AS instances (two workers each, DATA_DIRs of their own) on an empty database, started together.

    They must agree on what a first start creates — one signing key, one session secret — so a
    sign-in may hop between them at every step: authorize on A, login on B, consent on A, token on B.
    """
    url = postgres_cluster.new_database("two_instances")
    ports = [free_port(), free_port()]
    base = pair_environment(tmp_path / "a", auth_port=ports[0], rs_port=free_port())
    envs = [base | {"DATABASE_URL": url, "WEB_CONCURRENCY": "2"}]
    envs.append(envs[0] | {"AUTH_PORT": str(ports[1]), "DATA_DIR": str(tmp_path / "b")})
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    servers = []
    for name, env, origin in zip(("a", "b"), envs, urls, strict=True):
        (tmp_path / name).mkdir()
        ready = origin + "/.well-known/oauth-authorization-server"
        servers.append(launch_server(f"auth-{name}", "auth_server", env, ready, tmp_path / name))
    try:
        for server in servers:
            wait_ready(server)
        jwks = [httpx.get(origin + "/oauth2/jwks", timeout=10).json() for origin in urls]
        assert jwks[0] == jwks[1] and len(jwks[0]["keys"]) == 1
        assert query(url, "SELECT COUNT(*) FROM secrets WHERE name = 'session_secret'") == [(1,)]

        redirect_uri = "http://127.0.0.1:9/callback"
        registered = httpx.post(
            urls[1] + "/oauth2/register",
            json={"redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none"},
            timeout=10,
        )
        client_id = registered.json()["client_id"]
        verifier, challenge = make_pair()
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "s",
            "resource": envs[0]["RS_BASE_URL"] + "/mcp",
        }
        with httpx.Client(timeout=10) as browser:  # one cookie jar: cookies do not depend on the port
            login_path = browser.get(urls[0] + "/oauth2/authorize", params=params).headers["location"]
            page = browser.get(urls[1] + login_path)
            assert page.status_code == 200, page.text  # B knows A's pending request and A's cookie
            form = hidden_fields(page.text) | {"username": "alex", "password": "password"}
            consent_path = browser.post(urls[1] + "/oauth2/login", data=form).headers["location"]
            page = browser.get(urls[0] + consent_path)
            assert page.status_code == 200, page.text
            approved = browser.post(
                urls[0] + "/oauth2/consent", data=hidden_fields(page.text) | {"action": "approve"}
            )
        code = query_of(approved.headers["location"])["code"]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": verifier,
        }
        tokens = httpx.post(urls[1] + "/oauth2/token", data=form, timeout=10)
        assert tokens.status_code == 200, tokens.text
        assert (
            not (tmp_path / "a" / "session_secret").exists()
            and not (tmp_path / "b" / "session_secret").exists()
        )
    finally:
        for server in servers:
            server.stop()
