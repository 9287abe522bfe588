"""Reading a request to ``/mcp`` once: its bearer credential and its JSON-RPC message.

Two later layers need to know what a request asks for — the authorization layer
(:mod:`resource_server.authorization`: which tool, with which token) and the session router
(:mod:`resource_server.mcp_sessions`: is this ``initialize``, which session, whose token). Rather
than each parsing headers and body on its own, :class:`McpRequestReader` reads them once and
leaves an :class:`McpRequest` in the ASGI scope, which both read through :func:`mcp_request`:

* the **bearer token** (RFC 6750 §2.1), from the one ``Authorization: Bearer`` header — the only
  method this RS advertises (``bearer_methods_supported: ["header"]``). A token in the query
  string (§2.3) would end up in logs and browser history, and two ``Authorization`` headers are
  ambiguous: both are refused with 400 ``invalid_request`` (RFC 6750 §3.1) before anything else;
* the ``Mcp-Session-Id``, ``Mcp-Protocol-Version`` and ``User-Agent`` headers;
* for a POST, the **JSON-RPC message**: its method and, for a ``tools/call``, the tool's name, the
  request id and the ``clientInfo`` name that 2026-07-28 requests carry in every ``_meta``. The
  body is buffered (up to the SDK's own size limit) and replayed to the layers behind untouched,
  so the SDK executes exactly the bytes that were read here. The body decides, not the
  2026-07-28 ``Mcp-Method``/``Mcp-Name`` headers: the body is what the SDK runs (and the SDK
  itself refuses a header that disagrees). A JSON-RPC batch is refused with -32600: batching
  left MCP in 2025-06-18, and refusing it means no tool call can hide in one.

Anything else this cannot make sense of — a body that is not JSON, a ``tools/call`` without a
name — is left for the SDK, which owns the JSON-RPC errors (-32700, -32602).

:func:`request_header` is how every layer of this RS reads a request header from the scope.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl

from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types import CLIENT_INFO_META_KEY, INVALID_REQUEST
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import challenges

SCOPE_KEY_PREFIX = "mcp_oauth_demo."
"""Every ASGI scope key this RS sets starts with this; the reader drops any that arrive from outside."""

MCP_REQUEST_SCOPE_KEY = SCOPE_KEY_PREFIX + "mcp_request"
"""ASGI scope key under which :class:`McpRequestReader` leaves the :class:`McpRequest`."""


def request_header(scope: Scope, name: bytes) -> str | None:
    """The first value of the request header ``name`` (lower case, as ASGI gives names), or ``None``."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class BadRequest(Exception):
    """A request that is malformed rather than unauthorized (RFC 6750 §3.1 ``invalid_request``)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def bearer_token_from(scope: Scope) -> str | None:
    """The bearer token of a request (RFC 6750 §2.1), ``None`` when it carries none.

    Raises :class:`BadRequest` for a token outside the header (§2.3, refused by this RS)
    or for more than one ``Authorization`` header.
    """
    query = scope.get("query_string", b"").decode("latin-1")
    if any(name == "access_token" for name, _ in parse_qsl(query, keep_blank_values=True)):
        raise BadRequest(
            "send the access token in the Authorization header; tokens in the URL are refused (RFC 6750 §2.3)"
        )
    values = [value for name, value in scope["headers"] if name == b"authorization"]
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest("send exactly one Authorization header")
    scheme, _, token = values[0].decode("latin-1").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None  # another scheme (e.g. Basic) is simply not a bearer credential
    return token.strip()


@dataclass(frozen=True)
class ToolCall:
    """A ``tools/call`` request: the tool's name, the JSON-RPC id, and the client's name if it sent one."""

    name: str
    request_id: str | int
    client_name: str | None  # 2026-07-28 requests carry clientInfo in every request's _meta


@dataclass(frozen=True)
class McpRequest:
    """What one request to ``/mcp`` asks for, read once by :class:`McpRequestReader`."""

    bearer_token: str | None = field(repr=False)  # not verified yet: authorization does that
    session_id: str | None
    protocol_version: str | None
    user_agent: str | None
    method: str | None = None  # the JSON-RPC method of a POSTed request
    tool_call: ToolCall | None = None


def mcp_request(scope: Scope) -> McpRequest:
    """The :class:`McpRequest` that :class:`McpRequestReader` left in ``scope``."""
    return scope[MCP_REQUEST_SCOPE_KEY]


def _decode(body: bytes) -> Any:
    """The JSON-RPC message in ``body``, or ``None`` when it is not JSON (the SDK answers -32700)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _tool_call_in(message: dict[str, Any]) -> ToolCall | None:
    """The ``tools/call`` request in a decoded message; ``None`` for anything else."""
    if message.get("method") != "tools/call" or "id" not in message:
        return None  # a notification never runs a tool: the SDK drops a tools/call without id
    params = message.get("params")
    if not isinstance(params, dict) or not isinstance(params.get("name"), str):
        return None
    request_id = message["id"]
    if not isinstance(request_id, str | int) or isinstance(request_id, bool):
        return None
    meta = params.get("_meta")
    info = meta.get(CLIENT_INFO_META_KEY) if isinstance(meta, dict) else None
    client_name = info.get("name") if isinstance(info, dict) else None
    return ToolCall(params["name"], request_id, client_name if isinstance(client_name, str) else None)


async def _buffer_body(receive: Receive, limit: int) -> tuple[bytes, bool, list[Message]]:
    """Read the request body (up to ``limit``); returns it, whether it is complete, and the raw messages."""
    messages: list[Message] = []
    body = bytearray()
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return bytes(body), False, messages
        body.extend(message.get("body", b""))
        if not message.get("more_body", False):
            return bytes(body), True, messages
        if len(body) > limit:
            return bytes(body), False, messages  # the SDK answers 413 when it reads the rest


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands out the buffered messages first, exactly as they came."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


_SESSION_ID = MCP_SESSION_ID_HEADER.lower().encode("ascii")
_PROTOCOL_VERSION = MCP_PROTOCOL_VERSION_HEADER.lower().encode("ascii")
_BATCH_ERROR = {
    "jsonrpc": "2.0",
    "id": None,
    "error": {
        "code": INVALID_REQUEST,
        "message": "JSON-RPC batches are not supported; send one request per POST",
    },
}


class McpRequestReader:
    """ASGI layer that reads each ``/mcp`` request once and leaves an :class:`McpRequest` in the scope."""

    def __init__(
        self, app: ASGIApp, *, resource_metadata_url: str, max_body_bytes: int = DEFAULT_MAX_REQUEST_BODY_SIZE
    ) -> None:
        self.app = app
        self.resource_metadata_url = resource_metadata_url
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Only this RS's layers say who is calling or what was asked, never what came in.
        scope = {key: value for key, value in scope.items() if not str(key).startswith(SCOPE_KEY_PREFIX)}
        try:
            token = bearer_token_from(scope)
        except BadRequest as exc:
            response = challenges.bad_request_response(
                challenges.invalid_request(exc.description), self.resource_metadata_url
            )
            await response(scope, receive, send)
            return
        request = McpRequest(
            bearer_token=token,
            session_id=request_header(scope, _SESSION_ID),
            protocol_version=request_header(scope, _PROTOCOL_VERSION),
            user_agent=request_header(scope, b"user-agent"),
        )
        if scope["method"] == "POST":  # GET and DELETE carry no JSON-RPC message
            body, complete, messages = await _buffer_body(receive, self.max_body_bytes)
            receive = _replay(messages, receive)
            # An oversized body is not even parsed: the SDK refuses it with 413 as it reads it.
            message = _decode(body) if complete and len(body) <= self.max_body_bytes else None
            if isinstance(message, list):
                await JSONResponse(_BATCH_ERROR, status_code=400)(scope, receive, send)
                return
            if isinstance(message, dict):
                method = message.get("method")
                request = replace(
                    request,
                    method=method if isinstance(method, str) else None,
                    tool_call=_tool_call_in(message),
                )
        scope[MCP_REQUEST_SCOPE_KEY] = request
        await self.app(scope, receive, send)
