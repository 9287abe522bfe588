"""The RS hardening of the outside review, through the real app: headers, session owners, idempotent notes.

Token claims and lifetimes are unit-tested in ``test_rs_token_claims.py``; the attack
regressions for all five holes are in ``tests/security/test_sec_rs_hardening.py``.
"""

from __future__ import annotations

import time

import httpx
import pytest
from rs_support import MCP_HEADERS, SESSION_PROTOCOL, RunningRS, mint, open_session, tool_result

from resource_server.widget import MCP_APP_URI, OPENAI_WIDGET_URI

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
