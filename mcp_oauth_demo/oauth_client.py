"""A minimal OAuth 2.1 + MCP client, one small function per protocol message.

The walkthrough prints each of these messages, the doctor sends some of them to check a
setup; both build them here so that what the tutorial shows is exactly what the checks do.
Nothing is hidden behind a library: every function sends one request and returns the
``httpx.Response``.

* discovery: the ``WWW-Authenticate`` challenge (RFC 6750 §3, RFC 9728 §5.1), protected
  resource metadata (RFC 9728 §3), authorization server metadata (RFC 8414 §3);
* dynamic client registration (RFC 7591 §3);
* the authorization request (RFC 6749 §4.1.1 with PKCE, RFC 7636 §4.3, and ``resource``,
  RFC 8707 §2) and the token requests (RFC 6749 §4.1.3, §6);
* revocation (RFC 7009 §2);
* MCP JSON-RPC over streamable HTTP (MCP "Transports"), as raw messages.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from mcp_oauth_demo.console import sse_messages

# Re-exported (the `as` form): the walkthrough and the tests write oc.DEMO_SCOPE, oc.MCP_ACCEPT.
from mcp_oauth_demo.constants import DEMO_SCOPE as DEMO_SCOPE
from mcp_oauth_demo.constants import MCP_ACCEPT as MCP_ACCEPT
from mcp_oauth_demo.constants import MCP_HEADERS, PROTOCOL_VERSION

_AUTH_PARAM_RE = re.compile(r'([A-Za-z0-9_\-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


class ProtocolError(RuntimeError):
    """A server answered something a spec-following client cannot continue from."""


# -- discovery ----------------------------------------------------------------------------
def parse_www_authenticate(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer k="v", …`` → ("Bearer", {k: v}) (RFC 9110 §11.6.1 auth-params)."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        match.group(1).lower(): (
            re.sub(r"\\(.)", r"\1", match.group(2)) if match.group(2) is not None else match.group(3)
        )
        for match in _AUTH_PARAM_RE.finditer(rest)
    }
    return scheme, params


def well_known_url(base: str, name: str) -> str:
    """RFC 8414 §3.1 / RFC 9728 §3.1: insert ``/.well-known/<name>`` between host and path.

    A terminating ``/`` of the path is dropped first, so ``https://as.example/`` and
    ``https://as.example`` both lead to ``https://as.example/.well-known/<name>``.
    """
    parts = urlsplit(base)
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}/.well-known/{name}{path}"


def get_json(client: httpx.Client, url: str, **kwargs: Any) -> httpx.Response:
    return client.get(url, headers={"Accept": "application/json", **kwargs.pop("headers", {})}, **kwargs)


def json_body(response: httpx.Response, what: str) -> dict[str, Any]:
    """The response's JSON object, or a :class:`ProtocolError` saying what was expected."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ProtocolError(
            f"{what}: expected a JSON object from {response.request.url}, got HTTP {response.status_code} "
            f"{response.headers.get('content-type', '')}: {response.text[:200]}"
        )
    return body


# -- registration, authorization, tokens -------------------------------------------------
def register_client(
    client: httpx.Client, registration_endpoint: str, redirect_uri: str, *, name: str, scope: str = DEMO_SCOPE
) -> httpx.Response:
    """RFC 7591 §3.1: a public native client (no secret; PKCE protects the code instead)."""
    return client.post(
        registration_endpoint,
        json={
            "client_name": name,
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
            "scope": scope,
        },
    )


def authorization_url(
    authorization_endpoint: str,
    *,
    client_id: str,
    redirect_uri: str,
    code_challenge: str,
    state: str,
    resource: str,
    scope: str = DEMO_SCOPE,
) -> str:
    """RFC 6749 §4.1.1 + PKCE (RFC 7636 §4.3) + ``resource`` (RFC 8707 §2.1)."""
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
        "resource": resource,
    }
    separator = "&" if "?" in authorization_endpoint else "?"
    return authorization_endpoint + separator + urlencode(params)


def exchange_code(
    client: httpx.Client,
    token_endpoint: str,
    *,
    client_id: str,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    resource: str,
) -> httpx.Response:
    """RFC 6749 §4.1.3: the code, the same redirect_uri, and the PKCE verifier (RFC 7636 §4.5)."""
    return client.post(
        token_endpoint,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": code_verifier,
            "resource": resource,
        },
    )


def refresh(
    client: httpx.Client,
    token_endpoint: str,
    *,
    client_id: str,
    refresh_token: str,
    resource: str,
    scope: str | None = None,
) -> httpx.Response:
    """RFC 6749 §6 (and RFC 8707 §2.2: the same resource as before); ``scope`` may only narrow."""
    data = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client_id,
        "resource": resource,
    }
    if scope is not None:
        data["scope"] = scope
    return client.post(token_endpoint, data=data)


def revoke(
    client: httpx.Client, revocation_endpoint: str, *, client_id: str, token: str, hint: str = "refresh_token"
) -> httpx.Response:
    """RFC 7009 §2.1."""
    return client.post(
        revocation_endpoint, data={"token": token, "token_type_hint": hint, "client_id": client_id}
    )


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, *without verifying it* — only to show what is inside."""
    try:
        payload = token.split(".")[1]
        return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
    except (IndexError, ValueError):
        return {}


# -- MCP over streamable HTTP --------------------------------------------------------------
def rpc(method: str, params: dict[str, Any] | None = None, id: int | None = None) -> dict[str, Any]:
    """A JSON-RPC 2.0 request (or notification when ``id`` is None)."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id is not None:
        message["id"] = id
    if params is not None:
        message["params"] = params
    return message


def initialize_params(client_name: str) -> dict[str, Any]:
    return {
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": client_name, "version": "1.0"},
    }


def mcp_post(
    client: httpx.Client,
    mcp_url: str,
    message: dict[str, Any],
    *,
    access_token: str | None = None,
    session_id: str | None = None,
    protocol_version: str | None = None,
) -> httpx.Response:
    """POST one JSON-RPC message as the streamable HTTP transport does."""
    headers = dict(MCP_HEADERS)
    if access_token:
        headers["Authorization"] = f"Bearer {access_token}"  # RFC 6750 §2.1
    if session_id:
        headers["Mcp-Session-Id"] = session_id
    if protocol_version:
        headers["MCP-Protocol-Version"] = protocol_version
    return client.post(mcp_url, json=message, headers=headers)


@dataclass
class McpSession:
    """One MCP connection over streamable HTTP, the way the SDK's ClientSession keeps it.

    It remembers the ``Mcp-Session-Id`` and the negotiated ``MCP-Protocol-Version`` from
    ``initialize`` and sends them, with the bearer token, on every later message.
    ``on_response`` sees each answer (the walkthrough prints them).
    """

    http: httpx.Client
    url: str
    access_token: str | None = None
    session_id: str | None = None
    protocol_version: str | None = None
    on_response: Callable[[httpx.Response], None] | None = None
    next_id: int = 1

    def send(
        self, method: str, params: dict[str, Any] | None = None, *, notify: bool = False
    ) -> httpx.Response:
        message = rpc(method, params, None if notify else self.next_id)
        if not notify:
            self.next_id += 1
        response = mcp_post(
            self.http,
            self.url,
            message,
            access_token=self.access_token,
            session_id=self.session_id,
            protocol_version=self.protocol_version,
        )
        if self.on_response is not None:
            self.on_response(response)
        return response

    def initialize(self, client_name: str) -> dict[str, Any]:
        """``initialize`` then ``notifications/initialized`` (MCP lifecycle); returns the result."""
        response = self.send("initialize", initialize_params(client_name))
        message = rpc_response(response)
        if response.status_code != 200 or "result" not in message:
            raise ProtocolError(f"initialize failed: HTTP {response.status_code} {message.get('error')}")
        self.session_id = response.headers.get("mcp-session-id")
        self.protocol_version = str(message["result"].get("protocolVersion", PROTOCOL_VERSION))
        notified = self.send("notifications/initialized", notify=True)
        if notified.status_code not in (200, 202):
            raise ProtocolError(f"notifications/initialized got HTTP {notified.status_code}")
        return dict(message["result"])

    def call_tool(self, name: str, arguments: dict[str, Any]) -> tuple[httpx.Response, dict[str, Any]]:
        """``tools/call``; returns the HTTP response and the JSON-RPC message (when there is one)."""
        response = self.send("tools/call", {"name": name, "arguments": arguments})
        try:
            return response, rpc_response(response)
        except ProtocolError:
            return response, {}

    def close(self) -> None:
        """DELETE the session (MCP transports, "Session Management") instead of letting it time out."""
        if not self.session_id:
            return
        headers = {"Mcp-Session-Id": self.session_id}
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        try:
            self.http.delete(self.url, headers=headers)
        except httpx.HTTPError:
            pass  # best effort: the server expires idle sessions anyway
        self.session_id = None


def rpc_response(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC response in an MCP answer, whether sent as JSON or as an SSE stream."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        messages = [m for m in sse_messages(response.text) if isinstance(m, dict) and "id" in m]
        if messages:
            return messages[-1]
        raise ProtocolError(f"no JSON-RPC response in the event stream from {response.request.url}")
    return json_body(response, "MCP response")
