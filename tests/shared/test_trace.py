"""Unit tests of the trace: what an event may hold, the store's bounds, the diagnoses."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from mcp_oauth_demo.trace import line
from shared.settings import load_settings
from shared.sqlite import open_memory_database
from shared.trace.connections import connections
from shared.trace.diagnoses import PATIENCE_SEC, diagnose, token_check
from shared.trace.events import fingerprint
from shared.trace.extract import Exchange, jwt_summary, to_event
from shared.trace.middleware import TraceMiddleware
from shared.trace.store import SCHEMA, TraceRecorder, TraceStore, open_trace_store

SECRET_FORM = {
    "grant_type": "authorization_code",
    "code": "the-code-0123456789",
    "code_verifier": "the-verifier-0123456789abcdefghijklmnopqrstuvwxyz",
    "client_id": "client-7",
    "client_secret": "the-client-secret-0123456789",
    "client_assertion": "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJjIn0.the-assertion-signature",
    "password": "the-password",
    "resource": "http://localhost:3000/mcp",
}


def exchange(**overrides: Any) -> Exchange:
    values: dict[str, Any] = {
        "server": "as",
        "time": 1000.0,
        "duration": 0.001,
        "method": "POST",
        "path": "/oauth2/token",
        "query": b"",
        "headers": [(b"content-type", b"application/x-www-form-urlencoded"), (b"user-agent", b"ua/1")],
        "peer": "127.0.0.1",
        "status": 200,
        "response_headers": [(b"content-type", b"application/json")],
        "request_body": None,
        "response_body": None,
    }
    values.update(overrides)
    return Exchange(**values)


def b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


CLAIMS = {"iss": "i", "aud": "a", "exp": 5, "client_id": "client-7"}
ACCESS = f"{b64({'alg': 'ES256', 'kid': 'k1'})}.{b64(CLAIMS)}.sig"


def test_a_token_request_keeps_what_explains_it_and_no_secret() -> None:
    body = "&".join(f"{k}={v}" for k, v in SECRET_FORM.items()).encode()
    answer = json.dumps(
        {"access_token": ACCESS, "refresh_token": "the-refresh-0123456789", "expires_in": 600}
    )
    event = to_event(exchange(request_body=body, response_body=answer.encode()))
    assert event["step"] == "token-code" and event["client_id"] == "client-7"
    assert event["params"]["grant_type"] == "authorization_code"
    assert event["params"]["client_auth"] == "private_key_jwt"
    assert event["links"]["code"] == fingerprint(SECRET_FORM["code"])
    assert event["links"]["access_token"] == fingerprint(ACCESS)
    assert event["token"] == {"iss": "i", "aud": "a", "exp": 5, "client_id": "client-7", "kid": "k1"}
    text = json.dumps(event)
    for secret in [
        SECRET_FORM["code"],
        SECRET_FORM["code_verifier"],
        SECRET_FORM["client_secret"],
        SECRET_FORM["client_assertion"],
        SECRET_FORM["password"],
        "the-refresh-0123456789",
        ACCESS,
    ]:
        assert secret not in text, secret


def test_basic_client_authentication_keeps_the_id_and_drops_the_secret() -> None:
    basic = base64.b64encode(b"client-9:the-secret-xyz").decode()
    event = to_event(exchange(headers=[(b"authorization", f"Basic {basic}".encode())], status=400))
    assert event["client_id"] == "client-9" and event["params"]["client_auth"] == "client_secret_basic"
    assert "the-secret-xyz" not in json.dumps(event)


def test_a_consent_redirect_links_the_code_and_an_error_page_is_read() -> None:
    location = b"http://127.0.0.1:5/cb?code=abc123secret&state=s&iss=x"
    event = to_event(
        exchange(
            method="POST", path="/oauth2/consent", status=303, response_headers=[(b"location", location)]
        )
    )
    assert event["links"]["code"] == fingerprint("abc123secret")
    assert event["params"]["redirect_host"] == "http://127.0.0.1:5"
    assert "abc123secret" not in json.dumps(event)
    page = b'<h1>Client metadata document refused</h1><p class="error">host &#39;x&#39; not allowed</p>'
    refused = to_event(
        exchange(
            method="GET",
            path="/oauth2/authorize",
            query=b"client_id=https%3A%2F%2Fx%2Fc.json&code_challenge=c&code_challenge_method=S256",
            status=400,
            response_headers=[(b"content-type", b"text/html")],
            response_body=page,
        )
    )
    assert refused["error"] == "Client metadata document refused"
    assert refused["error_description"] == "host 'x' not allowed"
    assert refused["client_id"] == "https://x/c.json" and refused["params"]["pkce_method"] == "S256"


def test_the_rs_records_a_fingerprint_of_the_bearer_and_the_challenge() -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "notes_list"}})
    challenge = 'Bearer error="invalid_token", error_description="the access token has expired; refresh it"'
    event = to_event(
        exchange(
            server="rs",
            path="/mcp",
            headers=[
                (b"content-type", b"application/json"),
                (b"authorization", f"Bearer {ACCESS}".encode()),
                (b"x-forwarded-for", b"203.0.113.9, 10.0.0.1"),
            ],
            status=401,
            response_headers=[(b"www-authenticate", challenge.encode())],
            request_body=body.encode(),
        )
    )
    assert event["step"] == "mcp-tool-call" and event["params"]["tool"] == "notes_list"
    assert event["remote"] == "203.0.113.9"
    assert event["error"] == "invalid_token" and "expired" in event["error_description"]
    assert event["links"]["bearer"] == fingerprint(ACCESS) and ACCESS not in json.dumps(event)


def store(max_events: int = 100, max_age_sec: float = 3600) -> TraceStore:
    return TraceStore(open_memory_database(SCHEMA), max_events=max_events, max_age_sec=max_age_sec)


def test_the_store_keeps_the_newest_n_events_and_none_too_old() -> None:
    now = time.time()
    bounded = store(max_events=3, max_age_sec=60)
    bounded.add([{"time": now - 120, "server": "as", "n": 0}])
    bounded.add([{"time": now + i, "server": "rs", "n": i} for i in range(1, 6)])
    assert [event["n"] for event in bounded.events()] == [3, 4, 5]
    assert [event["n"] for event in bounded.events(since=now + 3.5)] == [4, 5]


def test_the_recorder_writes_in_the_background_and_logs_json_lines() -> None:
    log = io.StringIO()
    target = store()
    recorder = TraceRecorder(lambda: target, log_json=True, log_stream=log, interval_sec=0.05)
    recorder.record(exchange(time=time.time(), method="GET", path="/oauth2/jwks", response_headers=[]))
    deadline = time.time() + 5
    while not target.count() and time.time() < deadline:
        time.sleep(0.02)
    assert target.events()[0]["step"] == "jwks"
    assert json.loads(log.getvalue().splitlines()[0])["trace"]["path"] == "/oauth2/jwks"


def test_trace_settings() -> None:
    settings = load_settings(_env_file=None)
    assert settings.trace and len(settings.trace_key) >= 16
    assert load_settings(_env_file=None).trace_key != settings.trace_key, "random per start"
    assert not load_settings(_env_file=None, trace="off").trace


def ev(step: str, t: float, status: int = 200, **extra: Any) -> dict[str, Any]:
    event = {
        "time": t,
        "server": "rs" if step.startswith(("mcp", "prm")) else "as",
        "client_id": "c",
        "method": "POST",
        "path": "/x",
        "status": status,
        "step": step,
        "params": {},
        "links": {},
    }
    for key, value in extra.items():
        event[key] = value
    return event


ISSUED = dict(links={"access_token": "aaa", "issued_refresh_token": "rrr"}, token={"exp": 50, "aud": "r"})
CASES: dict[str, tuple[list[dict[str, Any]], str | None]] = {
    "healthy": (
        [ev("token-code", 1, **ISSUED), ev("mcp-tool-call", 2, links={"bearer": "aaa"})],
        None,
    ),
    "prm then nothing": (
        [ev("prm", 1, params={"authorization_servers": ["http://as"]})],
        "prm-no-as-metadata",
    ),
    "prm names another resource": (
        [
            ev("mcp-tool-call", 0, 401, host="rs:1", path="/mcp"),
            ev("prm", 1, params={"prm_resource": "http://rs:1/other"}),
        ],
        "prm-resource-mismatch",
    ),
    "metadata document refused": (
        [ev("authorize", 1, 400, error="Client metadata document refused", error_description="why")],
        "metadata-document-refused",
    ),
    "registration refused": (
        [ev("register", 1, 400, error="invalid_redirect_uri", params={"redirect_uris": ["https://x/cb"]})],
        "registration-refused",
    ),
    "authorization never completed": (
        [ev("authorize", 1, 303, links={"request": "q"}), ev("login", 2, links={"request": "q"})],
        "authorization-incomplete",
    ),
    "authorization refused": (
        [ev("authorize", 1, 303, error="invalid_target", params={"resource": "http://wrong"})],
        "authorization-refused",
    ),
    "code redeemed twice": (
        [
            ev("token-code", 1, links={"code": "k"}),
            ev("token-code", 2, 400, links={"code": "k"}, error="invalid_grant"),
        ],
        "code-reused",
    ),
    "token never used": ([ev("token-code", 1, **ISSUED)], "token-unused"),
    "token never sent": (
        [ev("token-code", 1, **ISSUED), ev("mcp-tool-call", 2, 401, www_authenticate="Bearer x")],
        "token-not-sent",
    ),
    "token refused: kid": (
        [
            ev("token-code", 1, **ISSUED),
            ev(
                "mcp-tool-call",
                2,
                401,
                links={"bearer": "aaa"},
                error="invalid_token",
                error_description="the access token names a key (kid) that the authorization server "
                "does not publish",
            ),
        ],
        "token-refused-kid",
    ),
    "step-up loop": (
        [
            ev(
                "mcp-tool-call",
                t,
                403,
                links={"bearer": f"b{t}"},
                error="insufficient_scope",
                params={"tool": "notes_add"},
            )
            for t in (1, 2, 3)
        ],
        "step-up-loop",
    ),
    "refresh never attempted": (
        [
            ev("token-code", 1, **ISSUED),
            ev("mcp-tool-call", 2, links={"bearer": "aaa"}),
            ev("authorize", 60, 303),
        ],
        "refresh-never-attempted",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_diagnoses(case: str) -> None:
    events, expected = CASES[case]
    found = [diagnosis.key for diagnosis in diagnose(events, now=events[-1]["time"] + PATIENCE_SEC + 1)]
    if expected is None:
        assert found == []
    else:
        assert expected in found, found
        assert all(d.fix for d in diagnose(events, now=events[-1]["time"] + PATIENCE_SEC + 1))


def test_nothing_is_missing_while_a_flow_is_still_running() -> None:
    events = [ev("authorize", 1, 303, links={"request": "q"}), ev("login", 2, links={"request": "q"})]
    assert diagnose(events, now=3) == []


@pytest.mark.parametrize(
    ("description", "check"),
    [
        ("the access token signature is invalid", "signature"),
        ("the access token was not issued by http://as", "iss"),
        ("the access token was not issued for this resource (http://rs/mcp)", "aud"),
        ("the access token has expired; refresh it or sign in again", "exp"),
        ("the access token is not valid yet (check the clocks of both servers)", "clock"),
    ],
)
def test_token_checks_are_named_from_the_rs_description(description: str, check: str) -> None:
    assert token_check(description)[0] == check


def test_connections_link_steps_by_fingerprint_and_origin() -> None:
    events = [
        {**ev("mcp-tool-call", 1, 401), "client_id": None, "remote": "1.2.3.4", "user_agent": "c/1"},
        {
            **ev("authorize", 2, 303),
            "client_id": "c",
            "remote": "1.2.3.4",
            "user_agent": "c/1",
            "links": {"request": "q"},
        },
        {
            **ev("login", 3),
            "client_id": None,
            "remote": "9.9.9.9",
            "user_agent": "browser",
            "links": {"request": "q"},
        },
        {**ev("mcp-tool-call", 4), "client_id": None, "remote": "5.5.5.5", "user_agent": "other"},
    ]
    grouped = connections(events)
    assert [(c.client, len(c.events)) for c in grouped] == [("c", 3), ("unidentified client from 5.5.5.5", 1)]


def test_a_senders_claims_are_kept_short() -> None:
    header = b64({"alg": "ES256", "kid": "k" * 500})
    token = f"{header}.{b64({'iss': 'i' * 5000, 'aud': ['a' * 5000] * 50, 'exp': True})}.sig"
    summary = jwt_summary(token)
    assert summary is not None
    assert len(summary["iss"]) == 300 and len(summary["aud"]) == 5 and len(summary["kid"]) == 64
    assert "exp" not in summary, "a boolean is no NumericDate"


def test_the_terminal_never_prints_control_characters() -> None:
    event = to_event(exchange(headers=[(b"user-agent", b"evil\x1b]0;owned\x07")], status=400))
    event["client"] = "evil \x1b[2J from 1.2.3.4"
    assert "\x1b" not in line(event) and "\x07" not in line(event)


class Captured:
    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def record(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)


def test_a_stream_passes_untouched_and_is_recorded_when_it_starts() -> None:
    recorder = Captured()
    seen_before_end: list[int] = []

    async def streaming_app(scope: dict, receive: Any, send: Any) -> None:
        await receive()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        seen_before_end.append(len(recorder.exchanges))
        for chunk in (b"event: message\n", b"data: {}\n\n"):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    middleware = TraceMiddleware(
        streaming_app,
        server="rs",
        settings=load_settings(_env_file=None),
        recorder=recorder,  # type: ignore[arg-type]
    )
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/mcp", "headers": [], "query_string": b""}
    asyncio.run(middleware(scope, receive, send))
    assert seen_before_end == [1], "recorded as the stream started"
    assert [m.get("body") for m in sent[1:]] == [b"event: message\n", b"data: {}\n\n", b""]
    assert len(recorder.exchanges) == 1 and recorder.exchanges[0].response_body is None


def open_files_under(folder: Path) -> list[str]:
    links = (os.readlink(fd) for fd in Path("/proc/self/fd").iterdir() if fd.is_symlink())
    return [link for link in links if link.startswith(str(folder))]


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to list open files")
def test_an_idle_recorder_holds_no_open_file(tmp_path: Path) -> None:
    settings = load_settings(_env_file=None, data_dir=tmp_path)
    recorder = TraceRecorder(lambda: open_trace_store(settings), interval_sec=0.01)
    recorder.record(exchange(time=time.time(), method="GET", path="/oauth2/jwks", response_headers=[]))
    deadline = time.time() + 5
    while recorder._thread is not None and time.time() < deadline:
        time.sleep(0.02)
    assert recorder._thread is None, "the writer ends when idle"
    assert open_files_under(tmp_path) == []
    assert recorder.store.count() == 1
