"""Signing keys, persistence across restarts, rotation, algorithms and storage modes."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

from auth_server.app import create_app
from auth_server.keys import main as keys_main
from auth_server.store import DATABASE_NAME
from shared.settings import ConfigError
from tests.auth_server.as_flow_helpers import get_tokens, introspect_with, refresh, register_client
from tests.auth_server.as_support import make_settings


def kids(as_client: TestClient) -> list[str]:
    response = as_client.get("/oauth2/jwks")
    assert response.headers["cache-control"].startswith("public, max-age=")
    return [key["kid"] for key in response.json()["keys"]]


def header_kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def test_jwks_publishes_the_current_key(as_client: TestClient) -> None:
    keys = as_client.get("/oauth2/jwks").json()["keys"]
    assert len(keys) == 1
    assert keys[0]["alg"] == "ES256" and keys[0]["kty"] == "EC" and keys[0]["use"] == "sig"
    assert "d" not in keys[0]  # never the private part
    assert header_kid(get_tokens(as_client).access_token) == keys[0]["kid"]


def test_restart_keeps_clients_refresh_tokens_and_keys(make_client: Any, tmp_path: Path) -> None:
    first = make_client()
    tokens = get_tokens(first)
    confidential = register_client(first, token_endpoint_auth_method="client_secret_post")
    its_tokens = get_tokens(first, confidential)
    kid = kids(first)
    first.__exit__(None, None, None)  # shut the first instance down before the restart

    second = make_client()  # a new app instance on the same DATA_DIR
    assert kids(second) == kid
    refreshed = refresh(second, tokens.client_id, tokens.refresh_token)
    assert refreshed.status_code == 200, refreshed.text
    assert header_kid(refreshed.json()["access_token"]) == kid[0]
    # The confidential client's secret still works, and it can introspect its pre-restart token.
    info = introspect_with(second, confidential, its_tokens.access_token)
    assert info["active"] is True


def test_data_files_are_private(as_client: TestClient, tmp_path: Path) -> None:
    assert stat.S_IMODE(os.stat(tmp_path / DATABASE_NAME).st_mode) == 0o600
    # The session secret is in the database, which every worker shares: no file of its own.
    assert not (tmp_path / "session_secret").exists()


def test_a_session_secret_file_of_an_older_version_is_kept(make_client: Any, tmp_path: Path) -> None:
    """Upgrading keeps the browser sessions signed with the secret an older version wrote to DATA_DIR."""
    (tmp_path / "session_secret").write_text("k" * 43)
    first = make_client()
    assert first.app.state.context.sessions.secret == b"k" * 43  # type: ignore[attr-defined]
    first.__exit__(None, None, None)
    (tmp_path / "session_secret").unlink()
    assert make_client().app.state.context.sessions.secret == b"k" * 43  # type: ignore[attr-defined]


def test_database_stores_only_hashes(as_client: TestClient, tmp_path: Path) -> None:
    tokens = get_tokens(as_client)
    confidential = register_client(as_client, token_endpoint_auth_method="client_secret_basic")
    as_client.app.state.context.store._conn.execute("PRAGMA wal_checkpoint(FULL)")  # type: ignore[attr-defined]
    raw = b"".join(path.read_bytes() for path in tmp_path.glob(DATABASE_NAME + "*"))
    for secret in (
        tokens.refresh_token,
        tokens.code,
        confidential["client_secret"],
        confidential["registration_access_token"],
        tokens.client["registration_access_token"],
    ):
        assert secret.encode() not in raw


def test_rotation_keeps_the_old_key_published(
    make_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_client = make_client()
    client = register_client(as_client, token_endpoint_auth_method="client_secret_post")
    old_token = get_tokens(as_client, client).access_token
    old_kid = header_kid(old_token)

    # The command-line tool works on the same DATA_DIR while the server runs.
    monkeypatch.chdir(tmp_path)  # no developer .env file
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AUTH_ISSUER", "http://localhost:4000")
    assert keys_main(["rotate"]) == 0

    published = kids(as_client)
    assert len(published) == 2 and old_kid in published
    new_token = get_tokens(as_client, client).access_token
    assert header_kid(new_token) != old_kid
    assert header_kid(new_token) in published
    # Both tokens verify: the resource server can still check tokens signed before the rotation.
    for token in (old_token, new_token):
        info = introspect_with(as_client, client, token)
        assert info["active"] is True


def test_retired_keys_leave_the_jwks(as_client: TestClient) -> None:
    store = as_client.app.state.context.store  # type: ignore[attr-defined]
    old_kid = kids(as_client)[0]
    as_client.portal.call(as_client.app.state.context.keys.rotate)  # type: ignore[attr-defined]
    as_client.portal.call(store.retire_signing_key, old_kid, 1)  # pretend the retirement time has passed
    store._conn.execute("UPDATE signing_keys SET retire_at = 1 WHERE kid = ?", (old_kid,))
    assert old_kid not in kids(as_client) and len(kids(as_client)) == 1


def test_unreadable_key_stops_startup_with_one_line(tmp_path: Path) -> None:
    TestClient(create_app(make_settings(tmp_path))).__enter__().__exit__(None, None, None)
    with sqlite3.connect(tmp_path / DATABASE_NAME) as conn:
        conn.execute("UPDATE signing_keys SET pem = 'garbage'")
    with pytest.raises(ConfigError) as info, TestClient(create_app(make_settings(tmp_path))):
        pass
    message = str(info.value)
    assert "\n" not in message
    assert f"DATA_DIR={tmp_path}" in message and "cannot be read" in message


def test_corrupt_database_stops_startup_with_one_line(tmp_path: Path) -> None:
    (tmp_path / DATABASE_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError) as info, TestClient(create_app(make_settings(tmp_path))):
        pass
    assert f"DATA_DIR={tmp_path}" in str(info.value) and "\n" not in str(info.value)


def test_rs256(make_client: Any) -> None:
    as_client = make_client(jwt_alg="RS256")
    keys = as_client.get("/oauth2/jwks").json()["keys"]
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256"
    token = get_tokens(as_client).access_token
    assert jwt.get_unverified_header(token)["alg"] == "RS256"


def test_switching_algorithm_creates_a_key_for_it(make_client: Any) -> None:
    es = make_client()
    es_kid = kids(es)[0]
    es.__exit__(None, None, None)
    rs = make_client(jwt_alg="RS256")
    assert es_kid in kids(rs) and len(kids(rs)) == 2  # the ES256 key stays until its tokens expire
    assert jwt.get_unverified_header(get_tokens(rs).access_token)["alg"] == "RS256"


def test_hs256_demo_mode_publishes_nothing(make_client: Any) -> None:
    as_client = make_client(jwt_alg="HS256", jwt_secret="x" * 32)
    assert as_client.get("/oauth2/jwks").json() == {"keys": []}
    token = get_tokens(as_client).access_token
    assert (
        jwt.decode(token, "x" * 32, algorithms=["HS256"], audience="http://localhost:3000/mcp")["sub"]
        == "user_alex"
    )


def test_memory_store_writes_nothing(make_client: Any, tmp_path: Path) -> None:
    data_dir = tmp_path / "unused"
    as_client = make_client(data_dir=data_dir, store="memory")
    assert refresh(as_client, get_tokens(as_client).client_id, "x").json()["error"] == "invalid_grant"
    assert not data_dir.exists()


def test_session_secret_from_the_environment(make_client: Any, tmp_path: Path) -> None:
    as_client = make_client(session_secret="s" * 40)
    get_tokens(as_client)
    assert not (tmp_path / "session_secret").exists()


def test_tokens_of_another_server_are_inactive(make_client: Any, tmp_path: Path) -> None:
    other = make_client(data_dir=tmp_path / "other")
    metadata = {"token_endpoint_auth_method": "client_secret_post"}
    foreign = get_tokens(other, register_client(other, **metadata))
    as_client = make_client()
    mine = register_client(as_client, **metadata)
    assert introspect_with(as_client, mine, foreign.access_token) == {"active": False}
    # The same client's own token is active, so the answer above is about the foreign signature.
    assert introspect_with(as_client, mine, get_tokens(as_client, mine).access_token)["active"] is True


def test_keys_command_refuses_memory_store(
    monkeypatch: pytest.MonkeyPatch, capsys: Any, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STORE", "memory")
    assert keys_main(["list"]) == 2
    assert "STORE=memory" in capsys.readouterr().err
