"""The demo users (``DEMO_USERS``): two by default, each with a subject of its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
from starlette.testclient import TestClient

from shared.config_error import ConfigError
from shared.pkce import make_pair
from tests.auth_server.as_flow_helpers import (
    authorize_params,
    get_tokens,
    hidden_fields,
    login,
    refresh,
    register_client,
    start_authorization,
)
from tests.auth_server.as_support import make_settings


def _claims(token: str) -> dict:
    # Which user a token names; its signature is checked by test_as_flow.py's tests.
    return jwt.decode(token, options={"verify_signature": False})


def _login_page(as_client: TestClient) -> str:
    client = register_client(as_client)
    _, challenge = make_pair()
    location = start_authorization(as_client, authorize_params(client["client_id"], challenge))
    return location.headers["location"]


def test_alex_and_sam_get_tokens_for_themselves(as_client: TestClient) -> None:
    alex = _claims(get_tokens(as_client).access_token)
    as_client.cookies.clear()  # another browser
    sam_tokens = get_tokens(as_client, username="sam", password="password")
    sam = _claims(sam_tokens.access_token)
    assert (alex["sub"], alex["email"]) == ("user_alex", "alex@example.com")
    assert (sam["sub"], sam["email"], sam["name"]) == ("user_sam", "sam@example.com", "Sam Demo")
    refreshed = refresh(as_client, sam_tokens.client_id, sam_tokens.refresh_token)
    assert _claims(refreshed.json()["access_token"])["sub"] == "user_sam"


def test_login_page_names_the_default_accounts_and_their_password(as_client: TestClient) -> None:
    page = as_client.get(_login_page(as_client)).text
    assert "<code>alex</code> / <code>password</code>" in page
    assert "<code>sam</code> / <code>password</code>" in page


def test_configured_users_replace_the_defaults_and_their_passwords_stay_off_the_page(
    make_client: Callable[..., TestClient],
) -> None:
    as_client = make_client(demo_users="kim:s3cret-pass, lee:other")
    url = _login_page(as_client)
    page = as_client.get(url).text
    assert "<code>kim</code>" in page and "<code>lee</code>" in page and "DEMO_USERS" in page
    assert "s3cret-pass" not in page and "alex" not in page
    refused = login(as_client, url, username="alex", password="password")
    assert refused.status_code == 200 and "Wrong username or password." in refused.text
    fresh = as_client.get(url)
    signed_in = as_client.post(
        "/oauth2/login",
        data=hidden_fields(fresh.text) | {"username": "Kim", "password": "s3cret-pass"},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303 and signed_in.headers["location"].startswith("/oauth2/consent")


def test_a_user_removed_from_demo_users_cannot_refresh(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    first = make_client(tmp_path)
    tokens = get_tokens(first, username="sam", password="password")
    first.close()
    restarted = make_client(tmp_path, demo_users="alex:password")
    response = refresh(restarted, tokens.client_id, tokens.refresh_token)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "no longer exists" in response.json()["error_description"]


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("", "DEMO_USERS is empty"),
        ("alex", "write username:password"),
        ("alex:", "write username:password"),
        ("Alex Smith:pw", "lower case"),
        ("alex:a,alex:b", "twice"),
    ],
)
def test_bad_demo_users_stop_startup_with_the_fix(tmp_path: Path, value: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named) as raised:
        make_settings(tmp_path, demo_users=value)
    assert "DEMO_USERS" in str(raised.value)
