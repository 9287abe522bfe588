"""The authorization decision on its own: :func:`resource_server.authorization.decide`, table-driven.

Every policy kind the tools use meets every kind of token state: none sent, one that failed
verification, a valid one without the tool's scope, a valid one with it. The policies are the
real ones (:func:`resource_server.tools.build_mcp_server`); the HTTP side of the same rules is
``test_rs_tool_policy.py``.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest

from resource_server.authorization import Allow, TokenState, challenge_mode, decide
from resource_server.challenges import Challenge
from resource_server.mcp_requests import McpRequest, ToolCall
from resource_server.tool_policies import ToolPolicies
from resource_server.tools import ServerState, build_mcp_server
from resource_server.verified_tokens import VerifiedToken
from shared.tokens import InvalidToken
from tests.resource_server.rs_support import make_settings

ALL_SCOPES = frozenset({"profile:read", "notes:read", "notes:write"})


def _token(*scopes: str) -> VerifiedToken:
    return VerifiedToken(
        subject="user-alex",
        client_id="client-1",
        scopes=frozenset(scopes),
        expires_at=2_000_000_000,
        claims=MappingProxyType({}),
    )


WITHOUT_SCOPE = _token("profile:read", "offline_access")  # none of the notes tools' scopes
WITH_SCOPE = _token("notes:read", "notes:write", "profile:read")
TOKENS: dict[str, TokenState] = {
    "none": None,
    "invalid": InvalidToken("the access token has expired"),
    "valid without scope": WITHOUT_SCOPE,
    "valid with scope": WITH_SCOPE,
}

# (tool, token kind) -> Allow(caller), or (status, error, scopes the challenge names)
EXPECTED: dict[tuple[str, str], Allow | tuple[int, str | None, frozenset[str]]] = {
    ("auth_show", "none"): Allow(),
    ("auth_show", "invalid"): Allow(),  # public: the token is not even looked at
    ("auth_show", "valid without scope"): Allow(),
    ("auth_show", "valid with scope"): Allow(),
    ("notes_teaser", "none"): Allow(),
    ("notes_teaser", "invalid"): (401, "invalid_token", ALL_SCOPES),  # never quietly anonymous
    ("notes_teaser", "valid without scope"): Allow(WITHOUT_SCOPE),
    ("notes_teaser", "valid with scope"): Allow(WITH_SCOPE),
    ("notes_list", "none"): (401, None, ALL_SCOPES),
    ("notes_list", "invalid"): (401, "invalid_token", ALL_SCOPES),
    # granted scopes this resource knows, plus the missing one; offline_access stays out
    ("notes_list", "valid without scope"): (
        403,
        "insufficient_scope",
        frozenset({"profile:read", "notes:read"}),
    ),
    ("notes_list", "valid with scope"): Allow(WITH_SCOPE),
}


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> ToolPolicies:
    settings = make_settings(Path(tmp_path_factory.mktemp("authz")))
    _, policies = build_mcp_server(settings, ServerState(settings))
    return policies


def test_the_table_covers_every_policy_kind_and_token_kind(policies: ToolPolicies) -> None:
    kinds = {policies.get(tool).kind for tool, _ in EXPECTED}  # type: ignore[union-attr]
    assert kinds == {"public", "optional", "oauth2"}
    assert {token for _, token in EXPECTED} == set(TOKENS)
    assert len(EXPECTED) == len(kinds) * len(TOKENS)


@pytest.mark.parametrize(("tool", "token_kind"), list(EXPECTED))
def test_decide(policies: ToolPolicies, tool: str, token_kind: str) -> None:
    policy = policies.get(tool)
    assert policy is not None
    decision = decide(tool, policy, TOKENS[token_kind], policies)
    expected = EXPECTED[tool, token_kind]
    if isinstance(expected, Allow):
        assert decision == expected
        return
    assert isinstance(decision, Challenge)
    assert (decision.status, decision.error, frozenset(decision.scopes)) == expected
    assert tool in decision.message  # the person in the conversation learns which tool asked


def test_an_invalid_token_challenge_says_why(policies: ToolPolicies) -> None:
    policy = policies.get("notes_list")
    assert policy is not None
    decision = decide("notes_list", policy, InvalidToken("the access token has expired"), policies)
    assert isinstance(decision, Challenge) and decision.description == "the access token has expired"


def _request(user_agent: str | None = None, client_name: str | None = None) -> McpRequest:
    return McpRequest(
        bearer_token=None,
        session_id=None,
        protocol_version="2026-07-28",
        user_agent=user_agent,
        method="tools/call",
        tool_call=ToolCall("notes_list", 1, client_name),
    )


@pytest.mark.parametrize(
    ("setting", "request_", "mode"),
    [
        ("http", _request(user_agent="openai-mcp/1.0.0"), "http"),
        ("result", _request(user_agent="mcp-remote"), "result"),
        ("auto", _request(user_agent="openai-mcp/1.0.0"), "result"),
        ("auto", _request(client_name="OpenAI-MCP"), "result"),
        ("auto", _request(user_agent="node", client_name="claude-ai"), "http"),
        ("auto", _request(), "http"),
    ],
)
def test_challenge_mode(setting: str, request_: McpRequest, mode: str) -> None:
    assert challenge_mode(setting, request_) == mode  # type: ignore[arg-type]
