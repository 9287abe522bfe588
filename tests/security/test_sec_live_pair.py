"""Against real processes: the attacks that matter end to end, load, ``kill -9`` and key rotation.

One AS + RS pair (``live_pair``, SQLite store under a temporary DATA_DIR) for the module; the
tests run in file order and build on each other's data on purpose: the crash tests check that
what the earlier tests stored survives.

* attacks: code replay revokes the first tokens, refresh-token reuse revokes the family, no open
  redirect, a token in the query string, ``alg=none`` — as seen by real HTTP clients;
* load: ``Bounds.registrations`` concurrent registrations and ``Bounds.notes`` concurrent
  ``notes_add`` calls (loopback, at most ``Bounds.concurrency`` in flight): each stored exactly once;
* faults: ``kill -9`` of the AS, then of the RS, in the middle of that load; restart on the
  same DATA_DIR; nothing acknowledged is lost, ``PRAGMA integrity_check`` is ok, earlier clients
  and refresh tokens keep working, and the RS serves authenticated calls while the AS is down;
* rotation: ``python -m auth_server.keys rotate`` while both run; a token signed with the new
  key is accepted by the RS after one JWKS refetch.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time

import httpx
import jwt
import pytest

from mcp_oauth_demo.launcher import Pair, start_auth, start_rs
from shared.pkce import make_pair
from tests.auth_server.as_flow_helpers import (
    authorize_in_browser,
    authorize_params,
    exchange_code,
    introspect_with,
    refresh,
    register_client,
    start_authorization,
)
from tests.security.sec_live import (
    add_notes,
    as_http,
    call_tool,
    integrity,
    live_tokens,
    query,
    read_registration,
    register_many,
    tool_ok,
)

pytestmark = pytest.mark.e2e
AS_DB = "auth_server.sqlite3"
NOTES_DB = "notes.sqlite3"
# Shared between the tests of this module (they run in order).
STATE: dict[str, object] = {}


# -- attacks, end to end ---------------------------------------------------------------------
def test_live_code_replay_is_refused_and_a_retry_does_not_sign_the_user_out(live_pair: Pair) -> None:
    """A second POST of the same code (ChatGPT does this): refused, the first tokens live on."""
    with as_http(live_pair) as http:
        client = register_client(http, token_endpoint_auth_method="client_secret_post")
        secret = client["client_secret"]
        verifier, challenge = make_pair()
        query_ = authorize_in_browser(
            http, authorize_params(client["client_id"], challenge, resource=live_pair.mcp_url)
        )
        first = exchange_code(http, client["client_id"], query_["code"], verifier, client_secret=secret)
        assert first.status_code == 200
        access = first.json()["access_token"]
        assert call_tool(live_pair, access, "auth_whoami").status_code == 200

        replay = exchange_code(http, client["client_id"], query_["code"], verifier, client_secret=secret)
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
        assert "access_token" not in replay.json()
        assert introspect_with(http, client, access)["active"] is True
        again = refresh(http, client["client_id"], first.json()["refresh_token"], client_secret=secret)
        assert again.status_code == 200, again.text


def test_live_concurrent_double_post_of_a_code_has_one_winner_whose_tokens_live(live_pair: Pair) -> None:
    """Two simultaneous POSTs of one code with its verifier, on two connections to the real AS."""
    with as_http(live_pair) as http:
        client = register_client(http)
        verifier, challenge = make_pair()
        code = authorize_in_browser(
            http, authorize_params(client["client_id"], challenge, resource=live_pair.mcp_url)
        )["code"]
    barrier, answers = threading.Barrier(2), []

    def post() -> None:
        with as_http(live_pair) as own:
            barrier.wait()
            answers.append(exchange_code(own, client["client_id"], code, verifier))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer.status_code for answer in answers) == [200, 400]
    winner = next(answer for answer in answers if answer.status_code == 200).json()
    loser = next(answer for answer in answers if answer.status_code == 400).json()
    assert loser["error"] == "invalid_grant"
    assert call_tool(live_pair, winner["access_token"], "auth_whoami").status_code == 200
    with as_http(live_pair) as http:
        assert refresh(http, client["client_id"], winner["refresh_token"]).status_code == 200


def test_live_refresh_reuse_revokes_the_family(live_pair: Pair) -> None:
    tokens = live_tokens(live_pair)
    with as_http(live_pair) as http:
        rotated = refresh(http, tokens.client_id, tokens.refresh_token)
        assert rotated.status_code == 200
        newest = refresh(http, tokens.client_id, rotated.json()["refresh_token"])
        assert newest.status_code == 200
        # Its successor was used, so the first token again is reuse, not a retry: the family dies.
        assert refresh(http, tokens.client_id, tokens.refresh_token).json()["error"] == "invalid_grant"
        assert (
            refresh(http, tokens.client_id, newest.json()["refresh_token"]).json()["error"] == "invalid_grant"
        )


def test_live_refresh_retried_after_a_lost_response_keeps_the_user_signed_in(live_pair: Pair) -> None:
    """The refresh answer is lost; the client presents its old token again within the window."""
    tokens = live_tokens(live_pair)
    with as_http(live_pair) as http:
        lost = refresh(http, tokens.client_id, tokens.refresh_token)
        assert lost.status_code == 200
        retried = refresh(http, tokens.client_id, tokens.refresh_token)
        assert retried.status_code == 200, retried.text
        assert call_tool(live_pair, retried.json()["access_token"], "auth_whoami").status_code == 200
        onward = refresh(http, tokens.client_id, retried.json()["refresh_token"])
        assert onward.status_code == 200, onward.text
        # The lost token was superseded: it showing up now is reuse, and ends the family.
        assert (
            refresh(http, tokens.client_id, lost.json()["refresh_token"]).json()["error"] == "invalid_grant"
        )
        assert (
            refresh(http, tokens.client_id, onward.json()["refresh_token"]).json()["error"] == "invalid_grant"
        )


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/cb",
        "https://claude.ai/api/mcp/auth_callback/extra",
        "https://claude.ai/api/mcp/auth_callback?x=1",
        "https://claude.ai:444/api/mcp/auth_callback",
    ],
)
def test_live_no_open_redirect(live_pair: Pair, redirect_uri: str) -> None:
    with as_http(live_pair) as http:
        client = register_client(
            http, redirect_uris=["https://claude.ai/api/mcp/auth_callback"], application_type="web"
        )
        _, challenge = make_pair()
        response = start_authorization(
            http, authorize_params(client["client_id"], challenge, redirect_uri=redirect_uri)
        )
        assert response.status_code == 400 and "location" not in response.headers
        assert response.headers["content-type"].startswith("text/html")


def test_live_rs_refuses_query_tokens_and_alg_none(live_pair: Pair) -> None:
    tokens = live_tokens(live_pair)
    STATE["tokens"] = tokens  # used by the crash tests below
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "notes_list"}}
    in_query = httpx.post(
        f"{live_pair.mcp_url}?access_token={tokens.access_token}",
        json=message,
        headers={"Accept": "application/json, text/event-stream"},
    )
    assert in_query.status_code == 400
    _, payload, _ = tokens.access_token.split(".")
    none_header = base64.urlsafe_b64encode(
        json.dumps(jwt.get_unverified_header(tokens.access_token) | {"alg": "none"}).encode()
    ).rstrip(b"=")
    assert call_tool(live_pair, f"{none_header.decode()}.{payload}.", "notes_list").status_code == 401
    assert call_tool(live_pair, tokens.access_token, "notes_list").status_code == 200


# -- load ---------------------------------------------------------------------------------------
def test_concurrent_registrations_are_each_stored_exactly_once(live_pair: Pair, bounds: object) -> None:
    total, concurrency = bounds.registrations, bounds.concurrency  # type: ignore[attr-defined]
    db = live_pair.data_dir / AS_DB
    before = query(db, "SELECT count(*) FROM clients")[0][0]
    started = time.monotonic()
    result = register_many(live_pair, total, concurrency)
    elapsed = time.monotonic() - started
    assert result.failed == 0 and result.count == total
    ids = list(result.acked)
    assert len(set(ids)) == total  # distinct client_ids
    assert query(db, "SELECT count(*) FROM clients")[0][0] - before == total  # no phantom, no duplicate
    stored = {row[0] for row in query(db, "SELECT client_id FROM clients")}
    assert set(ids) <= stored
    with as_http(live_pair) as http:
        sample = ids[:: max(1, total // 100)]  # RFC 7592 reads of every 1/100th: the API view agrees
        for client_id in sample:
            read = read_registration(http, result.acked[client_id])
            assert read.status_code == 200 and read.json()["client_id"] == client_id
    print(f"\n{total} registrations, {concurrency} in flight: {elapsed:.1f} s ({total / elapsed:.0f}/s)")


def test_concurrent_notes_are_each_stored_exactly_once(live_pair: Pair, bounds: object) -> None:
    total, concurrency = bounds.notes, bounds.concurrency  # type: ignore[attr-defined]
    tokens = STATE["tokens"]
    started = time.monotonic()
    result = add_notes(live_pair, tokens.access_token, "load", total, concurrency)  # type: ignore[attr-defined]
    elapsed = time.monotonic() - started
    assert result.failed == 0 and result.count == total
    rows = query(live_pair.data_dir / NOTES_DB, "SELECT text, id FROM notes WHERE text LIKE 'load-%'")
    assert len(rows) == total
    assert dict(rows) == result.acked  # each text once, with the id its response named
    listed = tool_ok(call_tool(live_pair, tokens.access_token, "notes_list"))  # type: ignore[attr-defined]
    assert {note["text"] for note in listed["notes"]} <= set(result.acked)
    print(f"\n{total} notes_add calls, {concurrency} in flight: {elapsed:.1f} s ({total / elapsed:.0f}/s)")


# -- faults ---------------------------------------------------------------------------------------
def test_as_kill9_mid_registrations_loses_nothing_acknowledged(live_pair: Pair, bounds: object) -> None:
    total, concurrency = bounds.registrations, bounds.concurrency  # type: ignore[attr-defined]
    tokens = STATE["tokens"]
    earlier = refresh_live(live_pair, tokens)  # a refresh token issued before the crash
    result = register_many(live_pair, total, concurrency, kill_after=total // 3, kill=live_pair.auth.kill)
    assert result.killed_after is not None and live_pair.auth.process.poll() is not None
    print(f"\nAS kill -9 after {result.killed_after} acks: {result.count} acked, {result.failed} failed")

    # The AS is down: the RS verifies locally with its cached JWKS and keeps serving.
    assert tool_ok(
        call_tool(live_pair, earlier["access_token"], "notes_add", {"text": "while the AS is down"})
    )

    live_pair.auth = start_auth(live_pair.env, live_pair.data_dir)
    db = live_pair.data_dir / AS_DB
    assert integrity(db) == "ok"
    stored = {row[0] for row in query(db, "SELECT client_id FROM clients")}
    assert set(result.acked) <= stored  # every acknowledged registration survived
    with as_http(live_pair) as http:
        for client_id in list(result.acked)[:: max(1, result.count // 50)]:
            assert read_registration(http, result.acked[client_id]).status_code == 200
        # Clients and refresh tokens from before the crash keep working.
        rotated = refresh(http, tokens.client_id, earlier["refresh_token"])  # type: ignore[attr-defined]
        assert rotated.status_code == 200, rotated.text
        STATE["refresh_token"] = rotated.json()["refresh_token"]
    assert tool_ok(call_tool(live_pair, rotated.json()["access_token"], "auth_whoami"))["sub"]


def test_rs_kill9_mid_notes_loses_nothing_acknowledged(live_pair: Pair, bounds: object) -> None:
    total, concurrency = bounds.notes, bounds.concurrency  # type: ignore[attr-defined]
    access = fresh_access_token(live_pair)
    db = live_pair.data_dir / NOTES_DB
    before = query(db, "SELECT count(*) FROM notes")[0][0]
    result = add_notes(
        live_pair, access, "crash", total, concurrency, kill_after=total // 3, kill=live_pair.rs.kill
    )
    assert result.killed_after is not None and live_pair.rs.process.poll() is not None
    print(f"\nRS kill -9 after {result.killed_after} acks: {result.count} acked, {result.failed} failed")

    live_pair.rs = start_rs(live_pair.env, live_pair.data_dir)
    assert integrity(db) == "ok"
    rows = dict(query(db, "SELECT text, id FROM notes WHERE text LIKE 'crash-%'"))
    for text, note_id in result.acked.items():
        assert rows.get(text) == note_id, text  # acknowledged → stored, with the acknowledged id
    assert query(db, "SELECT count(*) FROM notes")[0][0] >= before + result.count
    assert query(db, "SELECT count(*) FROM (SELECT text FROM notes GROUP BY text HAVING count(*) > 1)") == [
        (0,)
    ]
    # The restarted RS serves the same data with the same token.
    listed = tool_ok(call_tool(live_pair, access, "notes_list"))
    assert listed["count"] > 0


def test_key_rotation_while_running_is_picked_up_by_the_rs(live_pair: Pair) -> None:
    old_access = fresh_access_token(live_pair)
    old_kid = jwt.get_unverified_header(old_access)["kid"]
    rotation = subprocess.run(
        [sys.executable, "-m", "auth_server.keys", "rotate"],
        env=live_pair.env,
        cwd=live_pair.data_dir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert rotation.returncode == 0, rotation.stderr
    new_access = fresh_access_token(live_pair)
    assert jwt.get_unverified_header(new_access)["kid"] != old_kid  # minted with the new key
    assert tool_ok(call_tool(live_pair, new_access, "auth_whoami"))["sub"]
    assert tool_ok(call_tool(live_pair, old_access, "auth_whoami"))["sub"]  # old key still published


# -- helpers of this module ---------------------------------------------------------------------
def refresh_live(pair: Pair, tokens: object) -> dict[str, str]:
    with as_http(pair) as http:
        response = refresh(http, tokens.client_id, STATE.get("refresh_token") or tokens.refresh_token)  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    STATE["refresh_token"] = response.json()["refresh_token"]
    return dict(response.json())


def fresh_access_token(pair: Pair) -> str:
    return refresh_live(pair, STATE["tokens"])["access_token"]
