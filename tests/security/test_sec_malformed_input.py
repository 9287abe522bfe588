"""Oversized bodies and malformed JSON / form data on every endpoint of both servers: 4xx, never 500.

The endpoints are read from the apps' routing tables, so a route added later is covered
without editing this file. Each gets every body below with the methods it serves (and POST,
to see the 405 path too); the answer must be a 4xx — or a 2xx/3xx where garbage is simply
irrelevant, such as a GET of a discovery document — and never a 5xx or a stack trace.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.auth_server.as_flow_helpers import register_client
from tests.resource_server.rs_support import RunningRS, mint

MB = 1024 * 1024
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
BODIES: list[tuple[str, bytes, str]] = [
    ("oversized form", b"a=" + b"x" * (2 * MB), FORM),
    ("oversized JSON", b'{"x": "' + b"y" * (2 * MB) + b'"}', JSON),
    ("truncated JSON", b'{"redirect_uris": ["http://127.0.0.1/cb"', JSON),
    ("JSON array", b"[1, 2, 3]", JSON),
    ("deeply nested JSON", b"[" * 5000 + b"]" * 5000, JSON),
    ("huge number", b'{"jsonrpc": "2.0", "id": 1e999999, "method": "ping"}', JSON),
    ("invalid UTF-8", b'{"a": "\xff\xfe"}', JSON),
    ("NUL bytes form", b"grant_type=\x00&code=%00%ff", FORM),
    ("bad percent-encoding", b"%zz=%%%&&==", FORM),
    ("thousands of fields", b"&".join(b"f%d=v" % i for i in range(5000)), FORM),
    ("multipart without boundary", b"--x\r\n", "multipart/form-data"),
    ("form labelled JSON", b"grant_type=refresh_token", JSON),
    ("JSON labelled form", b'{"grant_type": "refresh_token"}', FORM),
    ("empty", b"", JSON),
]


def _endpoints(app: object) -> Iterator[tuple[str, set[str]]]:
    def walk(routes: list[object]) -> Iterator[tuple[str, set[str]]]:
        for route in routes:
            if isinstance(route, Route):
                yield route.path, set(route.methods or {"GET"}) - {"HEAD"}
            elif hasattr(route, "original_router"):  # FastAPI's include_router wrapper (no prefix here)
                yield from walk(route.original_router.routes)

    return walk(app.routes)  # type: ignore[attr-defined]


def _concrete(path: str) -> str:
    return path.replace("{client_id}", "no-such-client").replace("{path:path}", "x")


def _assert_no_5xx(response: httpx.Response, what: str) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:300])
    assert "Traceback" not in response.text and 'File "' not in response.text, what


def test_every_as_endpoint_survives_malformed_bodies(as_client: TestClient) -> None:
    register_client(as_client)  # a store with something in it
    tried = 0
    for path, methods in _endpoints(as_client.app):
        for method in methods | {"POST"}:
            for name, body, content_type in BODIES:
                response = as_client.request(
                    method,
                    _concrete(path),
                    content=body,
                    headers={"Content-Type": content_type},
                    follow_redirects=False,
                )
                _assert_no_5xx(response, f"{method} {path} with {name}")
                if body and method == "POST" and "POST" in methods:
                    assert 400 <= response.status_code < 500, (method, path, name, response.status_code)
                tried += 1
    assert tried > 100
    assert getattr(as_client.app.state, "unexpected_errors", 0) == 0  # type: ignore[attr-defined]


MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2025-06-18"}


@pytest.mark.parametrize("authenticated", [False, True])
def test_every_rs_endpoint_survives_malformed_bodies(rs: RunningRS, authenticated: bool) -> None:
    headers = dict(MCP_HEADERS)
    if authenticated:
        headers["Authorization"] = f"Bearer {mint()}"
    tried = 0
    for path, methods in _endpoints(rs.app):
        for method in methods | {"POST"}:
            for name, body, content_type in BODIES:
                extra = {"Content-Type": content_type}
                if method == "GET":
                    # GET /mcp with text/event-stream is the transport's standing SSE stream: it
                    # stays open by design, so ask for JSON (the body is irrelevant to a GET anyway).
                    extra["Accept"] = JSON
                response = rs.client.request(method, path, content=body, headers=headers | extra)
                _assert_no_5xx(response, f"{method} {path} with {name}")
                if path == "/mcp" and method == "POST":
                    # id 1e999999 parses as a float infinity; the SDK treats a message whose id is
                    # not a string or integer as a notification (202, nothing executed).
                    expected = {202} if name == "huge number" else set(range(400, 500))
                    assert response.status_code in expected, (name, response.status_code, response.text[:200])
                tried += 1
    assert tried > 50


@pytest.mark.parametrize(
    "header",
    [
        {"Authorization": "Bearer " + "A" * 100_000},
        {"Authorization": "Bearer a.b.c"},
        {"Authorization": "Bearer \x7f\x7f"},
        {"Authorization": "Bearer eyJhbGciOiJFUzI1NiJ9.e30.AAAA"},
        {"Mcp-Protocol-Version": "9999-99-99"},
        {"Mcp-Session-Id": "\u0000" * 3},
    ],
    ids=["huge", "dots", "del", "no-typ", "version", "session"],
)
def test_rs_malformed_headers_are_4xx(rs: RunningRS, header: dict[str, str]) -> None:
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "notes_list"}}'
    try:
        response = rs.client.post("/mcp", content=body, headers=MCP_HEADERS | {"Content-Type": JSON} | header)
    except (httpx.LocalProtocolError, UnicodeEncodeError):
        pytest.skip("httpx refuses to send this header at all")
    _assert_no_5xx(response, str(header)[:50])
    assert response.status_code in (400, 401, 404), response.text[:300]
