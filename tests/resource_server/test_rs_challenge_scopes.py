"""The RS's scope strategy: what a 401 and a 403 ask for (MCP authorization, "Scope Selection
Strategy" and "Scope Challenge Handling"), and the ``MCP_CHALLENGE_SCOPES`` setting.

Each test plays a client that does what the challenges say — asks for exactly the ``scope`` it
was given, as mcp-remote, MCP Inspector and the TypeScript SDK do — by minting a token with that
scope, so "one sign-in" here means one token covers the calls.
"""

from __future__ import annotations

from typing import Any

import pytest

from mcp_oauth_demo.oauth_client import parse_www_authenticate
from shared.scopes import RESOURCE_SCOPES, format_scope
from shared.settings import ConfigError
from tests.resource_server.rs_support import AppFactory, RunningRS, make_settings, mint, tool_result

ALL = format_scope(RESOURCE_SCOPES)
TOOL_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("auth_show", {}),
    ("auth_whoami", {}),
    ("notes_list", {}),
    ("notes_add", {"text": "one sign-in"}),
    ("notes_teaser", {}),
]


def challenged_scope(response: Any) -> str:
    _, params = parse_www_authenticate(response.headers["www-authenticate"])
    return params["scope"]


def test_the_first_401_asks_for_every_tool_scope(rs: RunningRS) -> None:
    for tool in ("auth_whoami", "notes_list", "notes_add"):
        response = rs.rpc.call(tool, {"text": "x"} if tool == "notes_add" else {})
        assert response.status_code == 401
        assert challenged_scope(response) == ALL, tool


def test_one_token_for_the_401_scope_calls_all_five_tools(rs: RunningRS) -> None:
    """Whichever tool a client calls first, the token its 401 leads to serves every tool."""
    for first, args in TOOL_CALLS:
        response = rs.rpc.call(first, args)
        if response.status_code != 401:
            continue  # public and optional tools answer anonymously
        token = mint(challenged_scope(response))
        for tool, tool_args in TOOL_CALLS:
            answered = rs.rpc.call(tool, tool_args, token=token)
            assert answered.status_code == 200, (first, tool, answered.text)
            assert tool_result(answered)["isError"] is False, (first, tool)


def test_the_sign_in_set_is_the_union_of_the_tools_scopes_and_scopes_supported(rs: RunningRS) -> None:
    policies = rs.app.state.policies
    used = {scope for _, policy in policies for scope in policy.scopes}
    assert policies.sign_in_scopes == used == set(RESOURCE_SCOPES)
    metadata = rs.client.get("/.well-known/oauth-protected-resource/mcp").json()
    assert set(metadata["scopes_supported"]) == set(policies.sign_in_scopes)
    assert "offline_access" not in metadata["scopes_supported"]


def test_403_names_the_granted_scopes_plus_the_missing_one(rs: RunningRS) -> None:
    """A token narrowed on purpose (notes:read only) steps up by just what notes_add needs."""
    narrow = mint("notes:read")
    response = rs.rpc.call("notes_add", {"text": "x"}, token=narrow)
    assert response.status_code == 403
    _, params = parse_www_authenticate(response.headers["www-authenticate"])
    assert params["error"] == "insufficient_scope"
    assert params["scope"] == "notes:read notes:write"  # not profile:read: the client chose less
    assert params["error_description"] == "notes_add needs the scope notes:write"

    # A client that *replaces* its scopes with the challenged set still has what it had.
    stepped_up = mint(params["scope"])
    for tool, args in (("notes_list", {}), ("notes_add", {"text": "after step-up"})):
        answered = rs.rpc.call(tool, args, token=stepped_up)
        assert tool_result(answered)["isError"] is False, tool


def test_403_leaves_out_scopes_that_are_not_the_resources(rs: RunningRS) -> None:
    response = rs.rpc.call("auth_whoami", token=mint("notes:read offline_access other:scope"))
    assert response.status_code == 403
    assert challenged_scope(response) == "profile:read notes:read"


def test_configured_sign_in_set_plus_the_called_tools_scope(start_rs: AppFactory) -> None:
    rs = start_rs(mcp_challenge_scopes="notes:read")
    assert challenged_scope(rs.rpc.call("notes_list")) == "notes:read"
    # The call at hand must always be satisfiable by the sign-in the 401 leads to.
    assert challenged_scope(rs.rpc.call("auth_whoami")) == "profile:read notes:read"
    assert challenged_scope(rs.rpc.call("notes_list", token="not-a-jwt")) == "notes:read"


def test_configured_set_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("MCP_CHALLENGE_SCOPES", "notes:write  profile:read")
    settings = make_settings(tmp_path)
    assert settings.mcp_challenge_scopes == "profile:read notes:write"  # normalized order
    assert settings.challenge_scopes == ("profile:read", "notes:write")
    monkeypatch.setenv("MCP_CHALLENGE_SCOPES", "")
    assert make_settings(tmp_path).challenge_scopes is None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("notes:read admin", "unknown scope(s) 'admin'"),
        ("notes:read offline_access", "must not contain offline_access"),
        ('notes:read "quoted"', "invalid scope token"),
    ],
)
def test_bad_challenge_scopes_stop_startup_with_one_clear_line(tmp_path: Any, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_settings(tmp_path, mcp_challenge_scopes=value)
    message = str(info.value)
    assert message.startswith("MCP_CHALLENGE_SCOPES"), message
    assert says in message and "\n" not in message
