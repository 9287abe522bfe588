"""Fuzzing both servers with hypothesis: 0 responses ≥ 500 and 0 status codes outside each endpoint's set.

Why hypothesis rather than schemathesis over OpenAPI: the AS reads its parameters itself (RFC 6749
§3.1's duplicate and empty-value rules) so its routes declare no typed parameters, and ``/mcp``
is JSON-RPC — neither has an OpenAPI description schemathesis could generate from. The
generators below know each endpoint's parameter names and mix well-formed values, junk and
wrong media types. ``DOCUMENTED`` is the contract: the statuses the module docstrings and
the RFCs they cite (RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 6750 §3.1) promise for each endpoint.

Bounds: ``Bounds.fuzz_examples`` cases per endpoint (12 by default, 200 with ``--full-load``
or ``SECURITY_FULL=1``); the number tried and the codes seen are printed with ``-s``.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.auth_server.as_flow_helpers import LOOPBACK_REDIRECT, get_tokens
from tests.resource_server.rs_support import RunningRS, mint

COMMON_4XX = {400, 401, 403, 405, 413, 415, 429}
DOCUMENTED: dict[tuple[str, str], set[int]] = {
    ("POST", "/oauth2/token"): {200} | COMMON_4XX,
    ("POST", "/oauth2/revoke"): {200} | COMMON_4XX,
    ("POST", "/oauth2/introspect"): {200} | COMMON_4XX,
    ("POST", "/oauth2/register"): {201} | COMMON_4XX,
    ("POST", "/oauth2/login"): {200, 303} | COMMON_4XX,
    ("POST", "/oauth2/consent"): {303} | COMMON_4XX,
    ("POST", "/oauth2/logout"): {303} | COMMON_4XX,
    ("GET", "/oauth2/authorize"): {303} | COMMON_4XX,
    ("GET", "/oauth2/register/{client_id}"): {200, 401, 404},
}
MCP_DOCUMENTED = {200, 202, 400, 401, 403, 404, 405, 406, 413, 415, 421}

FIELDS = [
    "grant_type", "code", "code_verifier", "redirect_uri", "client_id", "client_secret", "refresh_token",
    "scope", "resource", "token", "token_type_hint", "response_type", "code_challenge",
    "code_challenge_method", "state", "username", "password", "csrf_token", "request_id", "action",
    "redirect_uris", "client_name", "token_endpoint_auth_method", "grant_types", "application_type",
]  # fmt: skip
INTERESTING = [
    "authorization_code", "refresh_token", "S256", "plain", "none", "code", "approve", "alex", "password",
    LOOPBACK_REDIRECT, "javascript:alert(1)", "http://localhost:3000/mcp", "client_secret_basic", "native",
    "offline_access notes:read", "", "\x00", "%ff", "a" * 3000,
]  # fmt: skip
values = st.one_of(st.sampled_from(INTERESTING), st.text(max_size=60))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | values,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=20,
)
form_pairs = st.lists(st.tuples(st.sampled_from(FIELDS) | st.text(max_size=10), values), max_size=12)
content_types = st.sampled_from(
    ["application/x-www-form-urlencoded", "application/json", "text/plain", "multipart/form-data", ""]
)


@st.composite
def as_requests(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    method, path = draw(st.sampled_from(sorted(DOCUMENTED)))
    client_id = draw(st.text(min_size=1, max_size=20))
    concrete = path.replace("{client_id}", quote(client_id, safe=""))
    kwargs: dict[str, Any] = {"headers": {}}
    if method == "GET":
        kwargs["params"] = draw(form_pairs)
    elif draw(st.booleans()):
        kwargs["data"] = dict(draw(form_pairs))
    else:
        kwargs["content"] = json.dumps(draw(json_values)).encode()
        kwargs["headers"]["Content-Type"] = draw(content_types)
    if draw(st.booleans()):
        kwargs["headers"]["Authorization"] = draw(
            st.sampled_from(["Basic Zm9vOmJhcg==", "Basic !!!", "Bearer x", "Basic " + "A" * 500])
        )
    return method, path, kwargs | {"url": concrete}


@pytest.mark.slow
def test_fuzz_the_authorization_server(as_client: TestClient, bounds: Any) -> None:
    tokens = get_tokens(as_client)  # a store with a client, a grant and tokens in it
    seen: Counter[int] = Counter()
    tried = 0

    @settings(
        max_examples=bounds.fuzz_examples * len(DOCUMENTED),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(as_requests(), st.booleans())
    def one(request: tuple[str, str, dict[str, Any]], known_client: bool) -> None:
        nonlocal tried
        method, path, kwargs = request
        if known_client and "data" in kwargs:
            kwargs["data"].setdefault("client_id", tokens.client_id)
        url = kwargs.pop("url")
        try:
            response = as_client.request(method, url, follow_redirects=False, **kwargs)
        except UnicodeEncodeError:
            return  # httpx will not put this in a header; nothing reached the server
        tried += 1
        seen[response.status_code] += 1
        assert response.status_code < 500, (method, url, kwargs, response.text[:300])
        assert response.status_code in DOCUMENTED[(method, path)], (
            method,
            url,
            response.status_code,
            response.text[:300],
        )

    one()
    print(f"\nAS fuzz: {tried} cases, status codes {dict(sorted(seen.items()))}")
    assert not [code for code in seen if code >= 500]
    assert getattr(as_client.app.state, "unexpected_errors", 0) == 0  # type: ignore[attr-defined]


METHODS = ["initialize", "ping", "tools/list", "tools/call", "resources/list", "resources/read",
           "server/discover", "notifications/initialized", "prompts/list", "no/such"]  # fmt: skip
TOOLS = ["auth_show", "auth_whoami", "notes_list", "notes_add", "notes_teaser", "nope"]


@st.composite
def mcp_requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    method = draw(st.sampled_from(METHODS) | st.text(max_size=20))
    params: Any = draw(json_values)
    if method == "tools/call" and draw(st.booleans()):
        params = {
            "name": draw(st.sampled_from(TOOLS)),
            "arguments": draw(st.dictionaries(st.sampled_from(["text", "x"]), json_values, max_size=2)),
        }
    message: Any = {
        "jsonrpc": draw(st.sampled_from(["2.0", "1.0", None])),
        "method": method,
        "params": params,
    }
    message["id"] = draw(st.one_of(st.integers(), st.text(max_size=5), st.none(), st.floats(allow_nan=False)))
    if draw(st.integers(0, 9)) == 0:
        message = draw(json_values)  # not even an object
    headers = {
        "Accept": draw(
            st.sampled_from(["application/json, text/event-stream", "*/*", "text/html", "application/json"])
        ),
        "Content-Type": draw(
            st.sampled_from(["application/json", "application/octet-stream", "text/plain", ""])
        ),
        "Mcp-Protocol-Version": draw(
            st.sampled_from(["2025-06-18", "2025-11-25", "2026-07-28", "1999-01-01", "x"])
        ),
    }
    if draw(st.booleans()):
        headers["Mcp-Method"] = draw(st.sampled_from(METHODS))
    auth = draw(st.sampled_from(["valid", "narrow", "junk", "none"]))
    if auth != "none":
        token = {"valid": mint(), "narrow": mint("profile:read"), "junk": "a.b.c"}[auth]
        headers["Authorization"] = f"Bearer {token}"
    return json.dumps(message).encode(), headers


@pytest.mark.slow
def test_fuzz_the_mcp_endpoint(rs: RunningRS, bounds: Any) -> None:
    seen: Counter[int] = Counter()
    tried = 0

    @settings(
        max_examples=bounds.fuzz_examples * 5,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(mcp_requests())
    def one(request: tuple[bytes, dict[str, str]]) -> None:
        nonlocal tried
        body, headers = request
        response = rs.client.post("/mcp", content=body, headers=headers)
        tried += 1
        seen[response.status_code] += 1
        assert response.status_code < 500, (body[:300], headers, response.text[:300])
        assert response.status_code in MCP_DOCUMENTED, (body[:300], headers, response.status_code)

    one()
    print(f"\nRS /mcp fuzz: {tried} cases, status codes {dict(sorted(seen.items()))}")
