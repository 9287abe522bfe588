"""Per-tool OAuth policy: status codes, WWW-Authenticate challenges and ``_meta`` in every mode.

The scope a challenge names follows :mod:`resource_server.tool_policies`: a 401 asks for the app's
whole sign-in set (here every scope), a 403 for the token's scopes plus the missing ones;
``tests/resource_server/test_rs_challenge_scopes.py`` covers that strategy on its own.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from shared.jwks import jwks_document
from tests.resource_server.rs_support import (
    ISSUER,
    METADATA_URL,
    OTHER_KEY,
    SIGNING_KEY,
    AppFactory,
    RunningRS,
    forged_token,
    mint,
    modern_request,
    tool_result,
)

# tool -> (policy, scope it needs, arguments)
TOOLS: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "auth_show": ("public", None, {}),
    "auth_whoami": ("oauth2", "profile:read", {}),
    "notes_list": ("oauth2", "notes:read", {}),
    "notes_add": ("oauth2", "notes:write", {"text": "hello"}),
    "notes_teaser": ("optional", "notes:read", {}),
}
ALL_SCOPES = "profile:read notes:read notes:write"


NO_TOKEN_IN_BAND = ("invalid_request", "No access token was provided")  # what ChatGPT's form adds


def challenge(scope: str, error: str | None = None, description: str | None = None) -> str:
    value = f'Bearer resource_metadata="{METADATA_URL}", scope="{scope}"'
    if error:
        value += f', error="{error}"'
    if description:
        value += f', error_description="{description}"'
    return value


def assert_challenge_body(response: Any, header: str) -> None:
    result = tool_result(response)
    assert result["isError"] is True
    assert result["_meta"]["mcp/www_authenticate"] == [header]
    assert "sign in" in result["content"][0]["text"].lower()


# ----- The matrix: every tool, anonymous / right scope / missing scope (TOOL_AUTH_CHALLENGE=http) -----


@pytest.mark.parametrize("tool", list(TOOLS))
def test_anonymous_call(rs: RunningRS, tool: str) -> None:
    policy, _, args = TOOLS[tool]
    response = rs.rpc.call(tool, args)
    if policy == "oauth2":
        assert response.status_code == 401
        # No error code without a token (RFC 6750 §3.1); the scope is the whole sign-in set.
        assert response.headers["www-authenticate"] == challenge(ALL_SCOPES)
        assert_challenge_body(response, challenge(ALL_SCOPES))
    else:
        assert response.status_code == 200
        assert tool_result(response)["isError"] is False
        assert "www-authenticate" not in response.headers


@pytest.mark.parametrize("tool", list(TOOLS))
def test_call_with_the_right_scope(rs: RunningRS, tool: str) -> None:
    _, scope, args = TOOLS[tool]
    response = rs.rpc.call(tool, args, token=mint(scope or "profile:read"))
    assert response.status_code == 200
    result = tool_result(response)
    assert result["isError"] is False, result
    assert result["structuredContent"]


@pytest.mark.parametrize("tool", list(TOOLS))
def test_call_with_a_missing_scope(rs: RunningRS, tool: str) -> None:
    policy, scope, args = TOOLS[tool]
    others = " ".join(s for s in ALL_SCOPES.split() if s != scope)
    response = rs.rpc.call(tool, args, token=mint(others))
    if policy == "oauth2":
        assert response.status_code == 403
        # The token's scopes plus the missing one: here that is every scope.
        expected = challenge(ALL_SCOPES, "insufficient_scope", f"{tool} needs the scope {scope}")
        assert response.headers["www-authenticate"] == expected
        assert_challenge_body(response, expected)
    else:
        assert response.status_code == 200
        assert tool_result(response)["isError"] is False


def test_optional_tool_without_its_scope_gives_teaser_and_hint(rs: RunningRS) -> None:
    result = tool_result(rs.rpc.call("notes_teaser", token=mint("profile:read")))
    data = result["structuredContent"]
    assert data["signed_in"] is True and data["subject"] == "user-alex"
    assert data["notes"] is None and data["teaser"] and "notes:read" in data["hint"]


# ----- Tokens that must be refused -----

_now = int(time.time())
BAD_TOKENS: dict[str, tuple[Any, str]] = {
    "expired": (lambda: mint(ALL_SCOPES, now=_now - 3600, ttl_sec=60), "the access token has expired"),
    "wrong audience": (lambda: mint(ALL_SCOPES, audience="http://localhost:3000/x"), "not issued for this"),
    "wrong issuer": (lambda: mint(ALL_SCOPES, issuer="http://localhost:4001"), "not issued by"),
    "alg none": (
        lambda: forged_token({"alg": "none", "typ": "at+jwt", "kid": SIGNING_KEY.kid}),
        "must be signed with ES256, not 'none'",
    ),
    "HS256 with the public key": (
        # The key-confusion attack: HMAC keyed with the AS's *public* key, which anyone can fetch.
        lambda: forged_token(
            {"alg": "HS256", "typ": "at+jwt", "kid": SIGNING_KEY.kid},
            secret=jwt.algorithms.ECAlgorithm.to_jwk(SIGNING_KEY.private.public_key()).encode(),
        ),
        "must be signed with ES256, not 'HS256'",
    ),
    "unknown kid": (lambda: mint(ALL_SCOPES, key=OTHER_KEY), "does not publish"),
    "not a JWT": (lambda: "not-a-jwt", "not a well-formed JWT"),
    "id token typ": (
        lambda: jwt.encode(
            {"iss": ISSUER, "sub": "x", "aud": "http://localhost:3000/mcp", "exp": _now + 600},
            SIGNING_KEY.private,
            algorithm="ES256",
            headers={"kid": SIGNING_KEY.kid, "typ": "JWT"},
        ),
        "typ 'at+jwt'",
    ),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
@pytest.mark.parametrize("tool", ["notes_list", "notes_teaser"])
def test_bad_token_is_401_invalid_token(rs: RunningRS, case: str, tool: str) -> None:
    make_token, description = BAD_TOKENS[case]
    response = rs.rpc.call(tool, token=make_token())
    assert response.status_code == 401, response.text  # also for the optional tool: never silently anonymous
    header = response.headers["www-authenticate"]
    assert header.startswith(challenge(ALL_SCOPES, "invalid_token") + ', error_description="')
    assert description in header
    assert_challenge_body(response, header)


def test_exact_invalid_token_challenge(rs: RunningRS) -> None:
    response = rs.rpc.call("auth_whoami", token=mint(ALL_SCOPES, now=_now - 3600, ttl_sec=60))
    assert response.headers["www-authenticate"] == challenge(
        ALL_SCOPES, "invalid_token", "the access token has expired; refresh it or sign in again"
    )


@pytest.mark.parametrize("case", ["expired", "alg none", "not a JWT"])
def test_public_methods_ignore_a_bad_token(rs: RunningRS, case: str) -> None:
    token = BAD_TOKENS[case][0]()
    assert tool_result(rs.rpc.call("auth_show", token=token))["isError"] is False
    assert rs.rpc.post("tools/list", token=token).status_code == 200
    assert rs.rpc.post("resources/list", token=token).status_code == 200
    assert rs.rpc.post("ping", token=token).status_code == 200
    assert rs.fake_as.requests == []  # public methods never even look the token up


# ----- TOOL_AUTH_CHALLENGE modes -----


def test_result_mode_answers_200_with_the_challenge_in_meta(start_rs: AppFactory) -> None:
    rs = start_rs(tool_auth_challenge="result")
    response = rs.rpc.call("notes_list")
    assert response.status_code == 200
    assert "www-authenticate" not in response.headers
    # ChatGPT opens its sign-in UI only for a challenge with error and error_description (Apps SDK,
    # "Triggering authentication UI"), so the in-band form names them even without a token.
    assert_challenge_body(response, challenge(ALL_SCOPES, *NO_TOKEN_IN_BAND))

    response = rs.rpc.call("notes_add", {"text": "x"}, token=mint("notes:read"))
    assert response.status_code == 200
    expected = challenge(
        "notes:read notes:write", "insufficient_scope", "notes_add needs the scope notes:write"
    )
    assert_challenge_body(response, expected)

    response = rs.rpc.call("notes_list", token="not-a-jwt")
    assert response.status_code == 200
    (in_band,) = tool_result(response)["_meta"]["mcp/www_authenticate"]
    assert in_band.startswith(challenge(ALL_SCOPES, "invalid_token") + ', error_description="')


@pytest.mark.parametrize(
    ("user_agent", "status"),
    [("openai-mcp/1.0.0", 200), ("Mozilla/5.0 (compatible; openai-mcp)", 200), ("python-httpx/0.28", 401)],
)
def test_auto_mode_picks_result_for_chatgpt(start_rs: AppFactory, user_agent: str, status: int) -> None:
    rs = start_rs(tool_auth_challenge="auto")
    response = rs.rpc.call("auth_whoami", headers={"User-Agent": user_agent})
    assert response.status_code == status
    if status == 200:  # ChatGPT: in band, with the error ChatGPT needs
        assert "www-authenticate" not in response.headers
        assert_challenge_body(response, challenge(ALL_SCOPES, *NO_TOKEN_IN_BAND))
    else:  # everyone else: the HTTP challenge, without an error code (RFC 6750 §3.1)
        assert response.headers["www-authenticate"] == challenge(ALL_SCOPES)
        assert_challenge_body(response, challenge(ALL_SCOPES))


def test_auto_mode_reads_client_info_of_a_2026_request(start_rs: AppFactory) -> None:
    rs = start_rs(tool_auth_challenge="auto")
    call = {"name": "notes_list", "arguments": {}}
    response = modern_request(rs.rpc, "tools/call", call, client_name="openai-mcp")
    assert response.status_code == 200
    result = tool_result(response)
    assert result["resultType"] == "complete" and result["isError"] is True
    response = modern_request(rs.rpc, "tools/call", call)
    assert response.status_code == 401


# ----- Bearer tokens travel in the Authorization header only -----


@pytest.mark.parametrize("method", ["tools/list", "tools/call"])
def test_token_in_the_query_string_is_refused(rs: RunningRS, method: str) -> None:
    response = rs.client.post(
        f"/mcp?access_token={mint()}",
        json={"jsonrpc": "2.0", "id": 1, "method": method, "params": {"name": "notes_list", "arguments": {}}},
        headers={"Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2025-06-18"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


def test_non_bearer_authorization_counts_as_no_token(rs: RunningRS) -> None:
    response = rs.rpc.call("notes_list", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == challenge(ALL_SCOPES)


def test_batches_are_refused_clearly(rs: RunningRS) -> None:
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "notes_add"}}
    response = rs.client.post(
        "/mcp", json=[call], headers={"Accept": "application/json", "Mcp-Protocol-Version": "2025-06-18"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32600
    assert "batch" in response.json()["error"]["message"]


# ----- The descriptors carry the policy where the Apps SDK reads it -----

SCHEMES = {
    "auth_show": [{"type": "noauth"}],
    "auth_whoami": [{"type": "oauth2", "scopes": ["profile:read"]}],
    "notes_list": [{"type": "oauth2", "scopes": ["notes:read"]}],
    "notes_add": [{"type": "oauth2", "scopes": ["notes:write"]}],
    "notes_teaser": [{"type": "noauth"}, {"type": "oauth2", "scopes": ["notes:read"]}],
}


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25", "2026-07-28"])
def test_tools_list_shows_security_schemes(rs: RunningRS, version: str) -> None:
    if version == "2026-07-28":
        response = modern_request(rs.rpc, "tools/list")
    else:
        response = rs.rpc.post("tools/list", version=version)
    tools = {tool["name"]: tool for tool in tool_result(response)["tools"]}
    assert set(tools) == set(SCHEMES)
    for name, schemes in SCHEMES.items():
        assert tools[name]["securitySchemes"] == schemes
        assert tools[name]["_meta"]["securitySchemes"] == schemes


def test_jwks_with_a_key_for_another_algorithm_is_ignored(rs: RunningRS) -> None:
    from shared.jwks import generate_signing_key

    rsa = generate_signing_key("RS256")
    rs.fake_as.keys = [rsa, SIGNING_KEY]
    assert jwks_document(rs.fake_as.keys)["keys"][0]["kty"] == "RSA"
    assert rs.rpc.call("notes_list", token=mint("notes:read")).status_code == 200
    assert rs.rpc.call("notes_list", token=mint("notes:read", key=rsa)).status_code == 401
