"""The RS hardening of the outside review, through the real app: headers, session owners, idempotent notes.

Token claims and lifetimes are unit-tested in ``test_rs_token_claims.py``; the attack
regressions for all five holes are in ``tests/security/test_sec_rs_hardening.py``.
"""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.testclient import TestClient

from resource_server.app import create_app
from resource_server.notes_store import DB_FILENAME, Note, NotesStore
from resource_server.notes_store import REQUEST_ID_PATTERN as NOTE_REQUEST_ID_PATTERN
from resource_server.widget import MCP_APP_URI, OPENAI_WIDGET_URI
from tests.resource_server.rs_support import (
    MCP_HEADERS,
    SESSION_PROTOCOL,
    FakeAuthServer,
    Rpc,
    RunningRS,
    make_settings,
    mint,
    open_session,
    tool_result,
)

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


# ----- Who may end or stream an MCP session (resource_server.mcp_sessions) -----


def _delete(rs: RunningRS, session: dict[str, str], token: str | None = None) -> httpx.Response:
    headers = dict(session)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return rs.client.delete("/mcp", headers=headers)


def _alive(rs: RunningRS, session: dict[str, str]) -> bool:
    status = rs.rpc.post("tools/list", headers=session, version=SESSION_PROTOCOL).status_code
    assert status in (200, 404)
    return status == 200


def _owner(rs: RunningRS, session: dict[str, str]) -> str | None:
    return rs.app.state.session_owners.owner_of(session["Mcp-Session-Id"])


def test_anonymous_session_is_ended_by_its_id_holder(rs: RunningRS) -> None:
    session = open_session(rs)
    assert tool_result(rs.rpc.call("notes_teaser", headers=session, version=SESSION_PROTOCOL))
    assert _owner(rs, session) is None
    assert _delete(rs, session).status_code == 200
    assert not _alive(rs, session)


def test_first_verified_tool_call_makes_the_session_its_users(rs: RunningRS) -> None:
    session = open_session(rs)
    listed = rs.rpc.call("notes_list", token=mint("notes:read"), headers=session, version=SESSION_PROTOCOL)
    assert tool_result(listed)["isError"] is False
    assert _owner(rs, session) == "user-alex"

    anonymous = _delete(rs, session)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith('Bearer resource_metadata="')
    assert "error=" not in anonymous.headers["www-authenticate"]  # no token sent (RFC 6750 §3.1)
    assert "send their access token" in anonymous.json()["error"]["message"]

    stranger = _delete(rs, session, mint("notes:read", subject="user-mallory"))
    assert stranger.status_code == 403
    assert stranger.json()["error"]["code"] == -32600
    assert "belongs to another user" in stranger.json()["error"]["message"]

    expired = _delete(rs, session, mint("notes:read", now=int(time.time()) - 3600))
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]
    assert "expired" in expired.json()["error"]["message"]

    assert _alive(rs, session)  # none of those ended it
    # The owner may end it with any valid token of theirs, whatever its scopes.
    assert _delete(rs, session, mint("profile:read")).status_code == 200
    assert not _alive(rs, session)
    assert _owner(rs, session) is None


def test_a_valid_token_on_initialize_owns_the_session_from_the_start(rs: RunningRS) -> None:
    session = open_session(rs, token=mint("profile:read", subject="user-bob"))
    assert _owner(rs, session) == "user-bob"
    assert _delete(rs, session, mint(subject="user-alex")).status_code == 403
    assert _delete(rs, session, mint(subject="user-bob")).status_code == 200


def test_an_invalid_token_on_initialize_is_ignored(rs: RunningRS) -> None:
    session = open_session(rs, token="not-a-jwt")
    assert _owner(rs, session) is None
    assert _delete(rs, session).status_code == 200


def test_another_users_tool_call_cannot_join_an_owned_session(rs: RunningRS) -> None:
    session = open_session(rs, token=mint(subject="user-alex"))
    other = rs.rpc.call(
        "notes_list", token=mint(subject="user-mallory"), headers=session, version=SESSION_PROTOCOL
    )
    assert other.status_code == 403
    assert "belongs to another user" in other.json()["error"]["message"]
    mine = rs.rpc.call(
        "notes_list", token=mint(subject="user-alex"), headers=session, version=SESSION_PROTOCOL
    )
    assert tool_result(mine)["isError"] is False
    # Token-less requests carry no authority and keep working (discovery, public tools).
    assert (
        tool_result(rs.rpc.call("auth_show", headers=session, version=SESSION_PROTOCOL))["isError"] is False
    )


@pytest.mark.parametrize(("token_subject", "status"), [(None, 401), ("user-mallory", 403)])
def test_get_stream_of_an_owned_session_needs_the_owner(
    rs: RunningRS, token_subject: str | None, status: int
) -> None:
    session = open_session(rs, token=mint(subject="user-alex"))
    headers = {**session, "Accept": "text/event-stream"}
    if token_subject is not None:
        headers["Authorization"] = f"Bearer {mint(subject=token_subject)}"
    assert rs.client.get("/mcp", headers=headers).status_code == status


# ----- notes_add with a request_id (resource_server.notes_store) -----

WRITER = mint("notes:read notes:write", subject="user-alex")
OTHER_WRITER = mint("notes:read notes:write", subject="user-bob")


def _add(rs: RunningRS, text: str, request_id: str | None = None, token: str = WRITER) -> dict[str, Any]:
    arguments: dict[str, Any] = {"text": text}
    if request_id is not None:
        arguments["request_id"] = request_id
    return tool_result(rs.rpc.call("notes_add", arguments, token=token))


def _texts(rs: RunningRS, token: str = WRITER) -> list[str]:
    notes = tool_result(rs.rpc.call("notes_list", token=token))["structuredContent"]["notes"]
    return [note["text"] for note in notes]


def test_retry_with_the_same_request_id_returns_the_stored_note(rs: RunningRS) -> None:
    first = _add(rs, "buy milk", "7b0e2f4c-3a51-4d8e-9c1a-0f6b2d9e8a77")
    retry = _add(rs, "  buy milk ", "7b0e2f4c-3a51-4d8e-9c1a-0f6b2d9e8a77")  # stored text is stripped
    assert first["isError"] is False and retry["isError"] is False
    assert retry["structuredContent"] == first["structuredContent"]
    assert "Already saved" in retry["content"][0]["text"]
    assert _texts(rs) == ["buy milk"]


def test_same_request_id_with_another_text_is_a_tool_error(rs: RunningRS) -> None:
    stored = _add(rs, "first", "key-1")["structuredContent"]
    clash = _add(rs, "second", "key-1")
    assert clash["isError"] is True
    message = clash["content"][0]["text"]
    assert "already saved a different note" in message and stored["id"] in message
    assert "use a new request_id" in message
    assert _texts(rs) == ["first"]


def test_request_ids_are_scoped_per_user(rs: RunningRS) -> None:
    alex = _add(rs, "alex's", "shared-key")["structuredContent"]
    bob = _add(rs, "bob's", "shared-key", token=OTHER_WRITER)
    assert bob["isError"] is False and bob["structuredContent"]["id"] != alex["id"]
    assert _texts(rs) == ["alex's"] and _texts(rs, OTHER_WRITER) == ["bob's"]


def test_without_request_id_every_call_stores(rs: RunningRS) -> None:
    _add(rs, "same")
    _add(rs, "same")
    assert _texts(rs) == ["same", "same"]


@pytest.mark.parametrize("request_id", ["", "x" * 129, "has space", "semi;colon", "ünïcode", "a/b"])
def test_malformed_request_id_is_a_clear_tool_error(rs: RunningRS, request_id: str) -> None:
    result = _add(rs, "note", request_id)
    assert result["isError"] is True
    assert "request_id must be 1-128 letters, digits or . _ : -" in result["content"][0]["text"]
    assert _texts(rs) == []


def test_request_id_is_advertised_as_optional_in_the_input_schema(rs: RunningRS) -> None:
    tools = {tool["name"]: tool for tool in tool_result(rs.rpc.post("tools/list"))["tools"]}
    schema = tools["notes_add"]["inputSchema"]
    assert schema["required"] == ["text"]
    request_id = schema["properties"]["request_id"]
    assert request_id["maxLength"] == 128 and request_id["pattern"] == NOTE_REQUEST_ID_PATTERN
    assert "request_id" in tools["notes_add"]["description"]
    assert _add(rs, "longest key", "x" * 128)["isError"] is False


def test_concurrent_duplicate_calls_store_once(rs: RunningRS) -> None:
    """Calls in flight together over HTTP, as a client that retries before the first answer."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: _add(rs, "only once", "race-1"), range(16)))
    assert all(result["isError"] is False for result in results)
    assert len({result["structuredContent"]["id"] for result in results}) == 1
    assert _texts(rs) == ["only once"]


def test_two_connections_to_one_database_store_once(tmp_path: Path) -> None:
    """Two worker processes have two connections: the unique index, not the in-process lock, decides."""
    stores = [NotesStore.open(store="sqlite", data_dir=tmp_path) for _ in range(2)]

    async def race() -> list[tuple[Note, bool]]:
        results: list[tuple[Note, bool]] = []

        async def one(store: NotesStore) -> None:
            results.append(await store.add("user-alex", "twice?", request_id="r-1"))

        async with anyio.create_task_group() as group:
            for index in range(20):
                group.start_soon(one, stores[index % 2])
        return results

    try:
        results = anyio.run(race)
        assert sum(created for _, created in results) == 1
        assert len({note.id for note, _ in results}) == 1
        assert [note.text for note in anyio.run(stores[0].list, "user-alex")] == ["twice?"]
    finally:
        for store in stores:
            store.close()


def test_request_id_survives_a_restart_and_old_databases_are_migrated(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, store="sqlite")
    database = settings.data_dir / DB_FILENAME
    database.parent.mkdir(parents=True)
    # A notes database as the RS wrote it before request_id existed, with one note in it.
    old = sqlite3.connect(database)
    old.executescript(
        """CREATE TABLE notes (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
        sub TEXT NOT NULL, text TEXT NOT NULL, created_at TEXT NOT NULL);
        CREATE INDEX notes_by_owner ON notes (sub, seq);
        INSERT INTO notes (id, sub, text, created_at)
        VALUES ('note_old', 'user-alex', 'from before', '2026-01-01T00:00:00.000Z');"""
    )
    old.close()

    def started() -> TestClient:
        return TestClient(
            create_app(settings, http_client=FakeAuthServer().client()), base_url=settings.rs_base_url
        )

    with started() as client:
        first = tool_result(Rpc(client).call("notes_add", {"text": "new", "request_id": "k"}, token=WRITER))
        listed = tool_result(Rpc(client).call("notes_list", token=WRITER))["structuredContent"]["notes"]
        assert [note["text"] for note in listed] == ["new", "from before"]
    with started() as client:
        retry = tool_result(Rpc(client).call("notes_add", {"text": "new", "request_id": "k"}, token=WRITER))
        listed = tool_result(Rpc(client).call("notes_list", token=WRITER))["structuredContent"]["notes"]
    assert retry["structuredContent"] == first["structuredContent"]
    assert [note["text"] for note in listed] == ["new", "from before"]
    columns = {row[1] for row in sqlite3.connect(database).execute("PRAGMA table_info(notes)")}
    assert "request_id" in columns
