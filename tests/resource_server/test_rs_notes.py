"""The tools' results: private notes per ``sub``, persistence, validation, identity."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from resource_server.app import create_app
from tests.resource_server.rs_support import (
    AppFactory,
    FakeAuthServer,
    Rpc,
    RunningRS,
    make_settings,
    mint,
    tool_result,
)

ALEX = mint("notes:read notes:write", subject="user-alex")
BOB = mint("notes:read notes:write", subject="user-bob")


def add(rs: RunningRS, token: str, text: str) -> dict:
    result = tool_result(rs.rpc.call("notes_add", {"text": text}, token=token))
    assert result["isError"] is False, result
    return result["structuredContent"]


def listed(rs: RunningRS, token: str) -> list[str]:
    return [
        note["text"]
        for note in tool_result(rs.rpc.call("notes_list", token=token))["structuredContent"]["notes"]
    ]


def test_notes_are_private_per_user(rs: RunningRS) -> None:
    add(rs, ALEX, "alex 1")
    add(rs, ALEX, "alex 2")
    add(rs, BOB, "bob 1")
    assert listed(rs, ALEX) == ["alex 2", "alex 1"]  # newest first
    assert listed(rs, BOB) == ["bob 1"]
    teaser = tool_result(rs.rpc.call("notes_teaser", token=BOB))["structuredContent"]
    assert [note["text"] for note in teaser["notes"]] == ["bob 1"] and teaser["subject"] == "user-bob"


def test_added_note_has_id_and_time(rs: RunningRS) -> None:
    note = add(rs, ALEX, "  spaced out  ")
    assert note["text"] == "spaced out"
    assert note["id"].startswith("note_") and note["created_at"].endswith("Z")
    listed_note = tool_result(rs.rpc.call("notes_list", token=ALEX))["structuredContent"]["notes"][0]
    assert listed_note == note


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "cannot be empty"), ("   \n\t", "cannot be empty"), ("x" * 2001, "at most 2,000 characters")],
)
def test_invalid_note_text_is_a_clear_tool_error(rs: RunningRS, text: str, message: str) -> None:
    response = rs.rpc.call("notes_add", {"text": text}, token=ALEX)
    assert response.status_code == 200
    result = tool_result(response)
    assert result["isError"] is True and message in result["content"][0]["text"]
    assert listed(rs, ALEX) == []


def test_2000_characters_are_fine(rs: RunningRS) -> None:
    assert len(add(rs, ALEX, "y" * 2000)["text"]) == 2000


@pytest.mark.parametrize("arguments", [{}, {"text": 5}, {"text": None}])
def test_wrong_argument_types_are_tool_errors(rs: RunningRS, arguments: dict) -> None:
    response = rs.rpc.call("notes_add", arguments, token=ALEX)
    assert response.status_code in (200, 400)
    body = response.json()
    assert body.get("error") or body["result"]["isError"] is True


def test_notes_survive_a_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, store="sqlite")

    def started() -> TestClient:
        app = create_app(settings, http_client=FakeAuthServer().client())
        return TestClient(app, base_url=settings.rs_base_url)

    with started() as client:
        added = Rpc(client).call("notes_add", {"text": "before restart"}, token=ALEX)
        assert tool_result(added)["isError"] is False
    with started() as client:
        notes = tool_result(Rpc(client).call("notes_list", token=ALEX))["structuredContent"]["notes"]
    assert [note["text"] for note in notes] == ["before restart"]
    database = settings.data_dir / "notes.sqlite3"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_creating_the_app_touches_no_disk(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, store="sqlite")
    create_app(settings)
    assert not settings.data_dir.exists()


def test_whoami(rs: RunningRS) -> None:
    token = mint("profile:read notes:read", subject="user-alex")
    data = tool_result(rs.rpc.call("auth_whoami", token=token))["structuredContent"]
    assert (
        data["sub"] == "user-alex" and data["name"] == "Alex Example" and data["email"] == "alex@example.com"
    )
    assert data["client_id"] == "client-1" and data["scopes"] == ["profile:read", "notes:read"]
    assert data["expires_at"].endswith("Z") and isinstance(data["expires_at_epoch"], int)


def test_auth_show_points_at_the_widget(rs: RunningRS) -> None:
    result = tool_result(rs.rpc.call("auth_show"))
    assert result["_meta"]["openai/outputTemplate"] == "ui://widget/auth-demo.html"
    assert result["_meta"]["ui"]["resourceUri"] == "ui://widget/auth-demo-app.html"
    data = result["structuredContent"]
    assert data["resource_metadata"] == "http://localhost:3000/.well-known/oauth-protected-resource/mcp"
    assert {tool["name"]: tool["policy"] for tool in data["tools"]} == {
        "auth_show": "public",
        "auth_whoami": "oauth2",
        "notes_list": "oauth2",
        "notes_add": "oauth2",
        "notes_teaser": "optional",
    }


def test_anonymous_teaser(start_rs: AppFactory) -> None:
    rs = start_rs()
    data = tool_result(rs.rpc.call("notes_teaser"))["structuredContent"]
    assert data["signed_in"] is False and data["notes"] is None and "Sign in" in data["hint"]
