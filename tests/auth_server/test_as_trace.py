"""The trace through the real AS app: what it records of a whole flow, and who may read it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from shared.trace.middleware import recorder_for
from shared.trace.store import TRACE_FILE
from tests.auth_server.as_flow_helpers import exchange_code, get_tokens, refresh, register_client

KEY = "as-trace-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


def events(http: TestClient, **params: str) -> list[dict]:
    response = http.get("/trace/events", headers=AUTH, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_whole_flow_is_recorded_step_by_step_without_any_secret(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    http = make_client(trace_key=KEY)
    client = register_client(http, token_endpoint_auth_method="client_secret_basic")
    tokens = get_tokens(http, client)
    refreshed = refresh(http, tokens.client_id, tokens.refresh_token, client_secret=client["client_secret"])
    assert refreshed.status_code == 200
    recorded = events(http)
    steps = [event["step"] for event in recorded]
    assert steps[:1] == ["register"] and "authorize" in steps and "login" in steps
    assert steps[-2:] == ["token-code", "token-refresh"], steps
    by_step = {event["step"]: event for event in recorded}
    code_exchange = by_step["token-code"]
    assert code_exchange["client_id"] == tokens.client_id
    assert code_exchange["params"]["client_auth"] == "client_secret_post"
    assert code_exchange["params"]["pkce_verifier"] == "sent"
    assert by_step["authorize"]["params"]["pkce_method"] == "S256"
    consent = [event for event in recorded if event["step"] == "consent" and "code" in event["links"]]
    assert consent and consent[-1]["links"]["code"] == code_exchange["links"]["code"]

    http.get("/trace/events", headers=AUTH)  # flushes the recorder
    recorder_for(http.app.state.context.settings).flush()
    stored = b"".join(path.read_bytes() for path in tmp_path.glob(TRACE_FILE + "*"))
    assert stored, "the trace lives in DATA_DIR"
    secrets = {
        "access token": tokens.access_token,
        "refresh token": tokens.refresh_token,
        "new refresh token": refreshed.json()["refresh_token"],
        "code": tokens.code,
        "verifier": tokens.verifier,
        "client secret": client["client_secret"],
        "password": "password",
    }
    for name, secret in secrets.items():
        assert secret.encode() not in stored, f"the {name} reached the trace"
        assert secret not in str(recorded), f"the {name} is served by /trace/events"


def test_a_code_redeemed_twice_is_diagnosed(make_client: Callable[..., TestClient]) -> None:
    http = make_client(trace_key=KEY)
    tokens = get_tokens(http)
    again = exchange_code(http, tokens.client_id, tokens.code, tokens.verifier)
    assert again.status_code == 400
    connections = http.get("/trace/connections", headers=AUTH).json()["connections"]
    mine = next(c for c in connections if c["client"] == tokens.client_id)
    assert "code-reused" in [d["key"] for d in mine["diagnoses"]]
    assert [e["step"] for e in mine["events"]][-2:] == ["token-code", "token-code"]


@pytest.mark.parametrize(
    ("path", "how"),
    [
        ("/trace", {}),
        ("/trace/events", {}),
        ("/trace/connections", {"params": {"key": "not-the-key-at-all"}}),
        (
            "/trace/events",
            {"headers": {"Authorization": "Bearer not-the-key", "X-Forwarded-For": "198.51.100.4"}},
        ),
    ],
)
def test_without_the_key_the_trace_is_401(
    make_client: Callable[..., TestClient], path: str, how: dict
) -> None:
    http = make_client(trace_key=KEY)
    response = http.get(path, **how)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert "TRACE_KEY" in response.json()["error_description"]


def test_the_page_opens_with_the_key_and_since_filters(make_client: Callable[..., TestClient]) -> None:
    http = make_client(trace_key=KEY)
    page = http.get("/trace", params={"key": KEY})
    assert page.status_code == 200 and "What the client really did" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert http.get("/trace/static/trace.js").status_code == 200
    http.get("/.well-known/oauth-authorization-server")
    first = events(http)
    assert [event["step"] for event in first] == ["as-metadata"]
    assert events(http, since=str(first[-1]["time"])) == []
    bad = http.get("/trace/events", headers=AUTH, params={"since": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"


def test_trace_off_records_nothing(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    http = make_client(trace=False, trace_key=KEY)
    register_client(http)
    time.sleep(0.3)
    assert not list(tmp_path.glob(TRACE_FILE + "*"))
    assert http.get("/trace/events", headers=AUTH).status_code == 404


def test_a_short_trace_key_is_a_config_error() -> None:
    from shared.settings import ConfigError, load_settings

    with pytest.raises(ConfigError, match="TRACE_KEY"):
        load_settings(_env_file=None, trace_key="short")


def test_the_trace_knows_every_protocol_path_of_the_as() -> None:
    """``shared`` cannot import the AS, so the trace spells the AS's paths; they must stay the same."""
    from auth_server import paths
    from shared.trace.events import AS_PATHS

    protocol_paths = {
        paths.METADATA,
        paths.OPENID_CONFIGURATION,
        paths.REGISTER,
        paths.AUTHORIZE,
        paths.LOGIN,
        paths.LOGOUT,
        paths.CONSENT,
        paths.TOKEN,
        paths.JWKS,
        paths.REVOKE,
        paths.INTROSPECT,
    }
    assert set(AS_PATHS) == protocol_paths
