"""Regressions for the outside review of the resource server, one test per attack.

* **Signed claims of the wrong type** — a token with a genuine signature whose ``scope`` is a
  list, whose ``exp`` is a string, whose ``sub`` is a number… Each must be HTTP 401
  ``invalid_token`` naming the claim, never a 500, with nothing written; the AS's
  introspection, which shares :mod:`shared.tokens`, must call it inactive.
* **An overlong or future-dated token** — ``exp - iat`` beyond ``MAX_TOKEN_LIFETIME_SEC``, or
  ``iat`` in the future beyond the leeway.

The other attacks of the review (framing, session termination by a stranger, a retried
``notes_add``) have their regressions further down this file.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.auth_server.as_flow_helpers import introspect_with, register_client
from tests.resource_server.rs_support import (
    ISSUER,
    RESOURCE,
    SESSION_PROTOCOL,
    AppFactory,
    RunningRS,
    mint,
    open_session,
    sign_claims,
    signed_token,
    tool_result,
)

ALL = "profile:read notes:read notes:write"

# (malformed claim, what the token carries instead of a good value)
MALFORMED_CLAIMS: list[tuple[str, Any]] = [
    ("scope", ["profile:read", "notes:read", "notes:write"]),
    ("scope", 7),
    ("scope", None),
    ("scope", {"notes:write": True}),
    ("scope", 'notes:write "quoted"'),
    ("exp", "9999999999"),
    ("exp", "1.9e9"),
    ("exp", True),
    ("exp", 10**30),
    ("exp", float("inf")),
    ("exp", -1),
    ("exp", [9999999999]),
    ("iat", "0"),
    ("iat", False),
    ("iat", 10**30),
    ("nbf", "0"),
    ("nbf", None),
    ("sub", 42),
    ("sub", ""),
    ("sub", {"id": "user-alex"}),
    ("sub", None),
    ("sub", ["user-alex", "user-victim"]),
    ("client_id", ["client-1"]),
    ("client_id", 1),
    ("iss", [ISSUER]),
    ("iss", 0),
    ("jti", 123),
    ("jti", ["a"]),
    ("aud", [RESOURCE, 42]),
    ("aud", [RESOURCE, None]),
    ("aud", [RESOURCE, ""]),
    ("aud", []),
    ("aud", {"resource": RESOURCE}),
    ("aud", 3),
]


def _ids(rows: list[tuple[str, Any]]) -> list[str]:
    return [f"{claim}={value!r}"[:40] for claim, value in rows]


@pytest.mark.parametrize(("claim", "value"), MALFORMED_CLAIMS, ids=_ids(MALFORMED_CLAIMS))
def test_signed_token_with_a_malformed_claim_is_401_invalid_token(
    rs: RunningRS, claim: str, value: Any
) -> None:
    token = signed_token({claim: value})
    for tool, arguments in [("notes_add", {"text": "written with a malformed claim"}), ("auth_whoami", {})]:
        response = rs.rpc.call(tool, arguments, token=token)
        assert response.status_code == 401, response.text
        challenge = response.headers["www-authenticate"]
        assert 'error="invalid_token"' in challenge
        assert f"'{claim}' claim is malformed" in challenge, challenge
        assert "Traceback" not in response.text
        assert tool_result(response)["isError"] is True
    # The optional tool must not quietly treat the broken token as anonymous either.
    assert rs.rpc.call("notes_teaser", token=token).status_code == 401
    listing = rs.rpc.call("notes_list", token=mint("notes:read"))
    assert tool_result(listing)["structuredContent"]["count"] == 0


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"])
def test_signed_token_without_a_required_claim_is_401(rs: RunningRS, claim: str) -> None:
    response = rs.rpc.call("notes_add", {"text": "x"}, token=signed_token(drop=(claim,)))
    assert response.status_code == 401
    assert f"lacks the '{claim}' claim" in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    ("claim", "value"),
    [("scope", ["notes:write"]), ("exp", "9999999999"), ("sub", 42), ("aud", [RESOURCE, 42]), ("jti", [1])],
    ids=["scope-list", "exp-string", "sub-number", "aud-junk", "jti-list"],
)
def test_as_introspection_calls_a_token_with_a_malformed_claim_inactive(
    as_client: TestClient, claim: str, value: Any
) -> None:
    """Signed by the AS's own current key: only the claim's type is wrong."""
    context = as_client.app.state.context  # type: ignore[attr-defined]
    key = as_client.portal.call(context.keys.ensure_current)
    settings = context.settings
    now = int(time.time())
    claims = {
        "iss": settings.auth_issuer,
        "sub": "user-alex",
        "aud": settings.mcp_resource,
        "iat": now,
        "exp": now + 600,
        "jti": "malformed",
        "client_id": "client-1",
        "scope": ALL,
        claim: value,
    }
    token = sign_claims(claims, key)
    introspector = register_client(as_client, token_endpoint_auth_method="client_secret_post")
    assert introspect_with(as_client, introspector, token) == {"active": False}


# ----- Token lifetime -----


def test_token_living_longer_than_max_token_lifetime_is_refused(rs: RunningRS) -> None:
    now = int(time.time())
    year = signed_token({"iat": now, "exp": now + 365 * 86400})
    response = rs.rpc.call("notes_add", {"text": "x"}, token=year)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge and "MAX_TOKEN_LIFETIME_SEC" in challenge
    # An iat far in the past does not make a long-lived token acceptable either.
    backdated = signed_token({"iat": now - 30 * 86400, "exp": now + 60})
    assert rs.rpc.call("notes_add", {"text": "x"}, token=backdated).status_code == 401
    listing = rs.rpc.call("notes_list", token=mint("notes:read"))
    assert tool_result(listing)["structuredContent"]["count"] == 0


def test_token_issued_in_the_future_is_refused(rs: RunningRS) -> None:
    now = int(time.time())
    future = signed_token({"iat": now + 3600, "nbf": now, "exp": now + 4200})
    response = rs.rpc.call("notes_list", token=future)
    assert response.status_code == 401
    assert "issued in the future" in response.headers["www-authenticate"]


def test_max_token_lifetime_follows_the_setting(start_rs: AppFactory) -> None:
    rs = start_rs(access_token_ttl_sec=600, max_token_lifetime_sec=3600)
    now = int(time.time())
    assert rs.rpc.call("notes_list", token=signed_token({"iat": now, "exp": now + 3600})).status_code == 200
    assert rs.rpc.call("notes_list", token=signed_token({"iat": now, "exp": now + 3601})).status_code == 401


# ----- Clickjacking and MIME sniffing -----


@pytest.mark.parametrize("path", ["/", "/widget"])
def test_clickjacking_a_foreign_page_cannot_frame_the_rs_pages(rs: RunningRS, path: str) -> None:
    response = rs.client.get(path, headers={"Sec-Fetch-Dest": "iframe", "Origin": "https://evil.example"})
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_mime_sniffing_json_answers_say_nosniff(rs: RunningRS) -> None:
    for response in (rs.client.get("/.well-known/oauth-protected-resource/mcp"), rs.rpc.post("ping")):
        assert response.headers["x-content-type-options"] == "nosniff"


# ----- Ending or hijacking someone else's MCP session -----


def test_session_termination_by_a_stranger_holding_the_session_id_is_refused(rs: RunningRS) -> None:
    session = open_session(rs, token=mint(subject="user-alex"))
    for headers, status in [
        ({}, 401),
        ({"Authorization": f"Bearer {mint(subject='user-mallory')}"}, 403),
        ({"Authorization": f"Bearer {signed_token({'sub': 'user-alex', 'scope': ['x']})}"}, 401),
    ]:
        assert rs.client.delete("/mcp", headers={**session, **headers}).status_code == status
    still_there = rs.rpc.post("tools/list", headers=session, version=SESSION_PROTOCOL)
    assert still_there.status_code == 200
    ended = rs.client.delete(
        "/mcp", headers={**session, "Authorization": f"Bearer {mint(subject='user-alex')}"}
    )
    assert ended.status_code == 200


def test_session_stream_hijack_by_a_stranger_is_refused(rs: RunningRS) -> None:
    session = open_session(rs, token=mint(subject="user-alex"))
    stranger = {"Accept": "text/event-stream", "Authorization": f"Bearer {mint(subject='user-mallory')}"}
    assert rs.client.get("/mcp", headers={**session, **stranger}).status_code == 403
    joined = rs.rpc.call(
        "notes_list", token=mint(subject="user-mallory"), headers=session, version=SESSION_PROTOCOL
    )
    assert joined.status_code == 403


# ----- A retried notes_add stores the note twice -----


def test_retried_notes_add_after_a_lost_answer_stores_once(rs: RunningRS) -> None:
    token = mint(ALL)
    arguments = {"text": "pay rent", "request_id": "0d6c1c9e-retry"}
    answers = [tool_result(rs.rpc.call("notes_add", arguments, token=token)) for _ in range(3)]
    assert len({answer["structuredContent"]["id"] for answer in answers}) == 1
    listing = tool_result(rs.rpc.call("notes_list", token=token))["structuredContent"]
    assert listing["count"] == 1
    # Another user replaying the same request_id neither sees nor blocks the note.
    other = tool_result(rs.rpc.call("notes_add", arguments, token=mint(ALL, subject="user-mallory")))
    assert other["structuredContent"]["id"] != answers[0]["structuredContent"]["id"]
