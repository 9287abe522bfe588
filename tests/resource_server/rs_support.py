"""Helpers for the resource-server tests: a fake AS, real signed tokens, a JSON-RPC caller.

The RS finds the AS's keys over HTTP (RFC 8414 metadata → ``jwks_uri``). Here that HTTP
goes to :class:`FakeAuthServer` through an injected ``httpx.AsyncClient`` with a
``MockTransport``, which counts requests and can be switched off or made to hang. Tokens
are minted with :func:`shared.tokens.mint_access_token` and a key from
:func:`shared.jwks.generate_signing_key`, exactly as the AS does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
from starlette.testclient import TestClient

from mcp_oauth_demo.constants import MCP_HEADERS
from resource_server.paths import MCP_PATH, PROTECTED_RESOURCE_METADATA_PATH
from shared.jwks import SigningKey, generate_signing_key, jwks_document
from shared.settings import Settings, load_settings
from shared.tokens import mint_access_token

ISSUER = "http://localhost:4000"
RS_BASE_URL = "http://localhost:3000"
RESOURCE = RS_BASE_URL + MCP_PATH
METADATA_URL = RS_BASE_URL + PROTECTED_RESOURCE_METADATA_PATH + MCP_PATH
JWKS_URI = ISSUER + "/oauth2/jwks"
# The revision most requests speak: the oldest with the MCP-Protocol-Version header and without
# batching (MCP 2025-06-18), which every older-client compatibility path of the RS must serve.
PROTOCOL = "2025-06-18"

SIGNING_KEY = generate_signing_key("ES256")  # one key for the whole run: key generation is slow-ish
OTHER_KEY = generate_signing_key("ES256")


@dataclass
class FakeAuthServer:
    """RFC 8414 metadata and a JWKS, served to the RS through ``httpx.MockTransport``."""

    keys: list[SigningKey] = field(default_factory=lambda: [SIGNING_KEY])
    issuer: str = ISSUER
    mode: str = "up"  # "up", "down" (connection refused), "hang" (never answers), "500"
    requests: list[str] = field(default_factory=list)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(str(request.url))
        if self.mode == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if self.mode == "hang":
            await asyncio.sleep(30)
        if self.mode == "500":
            return httpx.Response(500)
        if str(request.url) == ISSUER + "/.well-known/oauth-authorization-server":
            return httpx.Response(200, json={"issuer": self.issuer, "jwks_uri": JWKS_URI})
        if str(request.url) == JWKS_URI:
            return httpx.Response(200, json=jwks_document(self.keys))
        return httpx.Response(404)

    @property
    def jwks_fetches(self) -> int:
        return sum(url == JWKS_URI for url in self.requests)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,  # a developer's .env must not change the tests
        "rs_base_url": RS_BASE_URL,
        "auth_issuer": ISSUER,
        "mcp_resource": "",
        "rs_port": 3000,
        "tool_auth_challenge": "http",
        "jwt_alg": "ES256",
        "jwt_secret": None,
        "store": "memory",
        "data_dir": tmp_path / "data",
    }
    values.update(overrides)
    return load_settings(**values)


def mint(
    scope: str = "profile:read notes:read notes:write",
    *,
    key: SigningKey = SIGNING_KEY,
    subject: str = "user-alex",
    audience: str = RESOURCE,
    issuer: str = ISSUER,
    ttl_sec: int = 600,
    now: int | None = None,
) -> str:
    token, _ = mint_access_token(
        key,
        issuer=issuer,
        subject=subject,
        audience=audience,
        client_id="client-1",
        scope=scope,
        ttl_sec=ttl_sec,
        extra_claims={"name": "Alex Example", "email": "alex@example.com"},
        now=now,
    )
    return token


class Rpc:
    """A thin JSON-RPC-over-HTTP caller for one TestClient."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self._next_id = 0

    def post(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        version: str | None = PROTOCOL,
    ) -> httpx.Response:
        self._next_id += 1
        all_headers = dict(MCP_HEADERS)
        if version is not None:
            all_headers["Mcp-Protocol-Version"] = version
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            body["params"] = params
        return self.client.post(MCP_PATH, content=json.dumps(body), headers=all_headers)

    def call(self, tool: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        return self.post("tools/call", {"name": tool, "arguments": arguments or {}}, **kwargs)


@dataclass
class RunningRS:
    client: TestClient
    rpc: Rpc
    fake_as: FakeAuthServer
    settings: Settings

    @property
    def app(self) -> Any:
        return self.client.app

    @property
    def as_requests(self) -> int:
        return self.client.app.state.jwks.as_request_count  # type: ignore[attr-defined]


AppFactory = Callable[..., RunningRS]


def tool_result(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert "result" in body, body
    return body["result"]


MODERN = "2026-07-28"
SESSION_PROTOCOL = "2025-11-25"  # the newest revision with initialize and Mcp-Session-Id


def open_session(rs: RunningRS, token: str | None = None) -> dict[str, str]:
    """``initialize`` + ``notifications/initialized``; the headers that name the new session."""
    params = {
        "protocolVersion": SESSION_PROTOCOL,
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1.0.0"},
    }
    response = rs.rpc.post("initialize", params, token=token, version=None)
    assert response.status_code == 200, response.text
    session = {"Mcp-Session-Id": response.headers["mcp-session-id"], "Mcp-Protocol-Version": SESSION_PROTOCOL}
    notified = rs.client.post(
        MCP_PATH,
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        headers={**MCP_HEADERS, **session},
    )
    assert notified.status_code == 202
    return session


def modern_request(
    rpc: Rpc,
    method: str,
    params: dict[str, Any] | None = None,
    *,
    client_name: str = "test-client",
    **kwargs: Any,
) -> httpx.Response:
    """A 2026-07-28 request: per-request ``_meta`` envelope plus ``Mcp-Method``/``Mcp-Name`` headers."""
    params = dict(params or {})
    params["_meta"] = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": client_name, "version": "1.0.0"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    headers = {"Mcp-Method": method}
    if method == "tools/call":
        headers["Mcp-Name"] = params["name"]
    headers.update(kwargs.pop("headers", {}))
    return rpc.post(method, params, headers=headers, version=MODERN, **kwargs)


def b64url_json(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def signed_token(
    overrides: dict[str, Any] | None = None,
    *,
    drop: tuple[str, ...] = (),
    key: SigningKey = SIGNING_KEY,
    issuer: str = ISSUER,
    audience: str = RESOURCE,
) -> str:
    """A token signed with a real key whose claims are exactly ``mint``'s, then edited.

    ``overrides`` replaces claims with any JSON value (a list ``scope``, a string ``exp``…) and
    ``drop`` removes claims: the signature is genuine, so only the edited claims are wrong.
    """
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": "user-alex",
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "signed-" + str(now),
        "client_id": "client-1",
        "scope": "profile:read notes:read notes:write",
        "name": "Alex Example",
    }
    claims.update(overrides or {})
    for name in drop:
        claims.pop(name, None)
    return sign_claims(claims, key)


def sign_claims(claims: dict[str, Any], key: SigningKey) -> str:
    """A JWS over exactly these claims (``jwt.encode`` would refuse some malformed ones)."""
    headers = {"typ": "at+jwt", "kid": key.kid}
    return jwt.api_jws.encode(json.dumps(claims).encode(), key.private, algorithm=key.alg, headers=headers)


def forged_token(header: dict[str, Any], *, secret: bytes | None = None, scope: str = "notes:read") -> str:
    """A token signed with HMAC-SHA256 over ``secret`` (or unsigned, for ``alg: none``)."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "mallory",
        "aud": RESOURCE,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "forged",
        "client_id": "client-1",
        "scope": scope,
    }
    signing_input = b64url_json(header) + "." + b64url_json(claims)
    if secret is None:
        return signing_input + "."
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
