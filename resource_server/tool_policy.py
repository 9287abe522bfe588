"""Per-tool authorization: who may call which tool, declared once, enforced in one place.

MCP authorization (2025-06-18 and later) protects the HTTP endpoint; this demo goes one
step finer, as the OpenAI Apps SDK's "mixed auth" does: some tools are public, some need
an OAuth token with given scopes, one works either way. Each tool is registered through
:meth:`ToolPolicies.tool` with its :class:`ToolPolicy`, which

* records the policy in the table the enforcing layer reads, and
* publishes it where clients read it: ``securitySchemes`` on the tool descriptor, both at
  the top level and in ``_meta.securitySchemes`` (Apps SDK, "Per-tool authentication").

:class:`ToolAuthLayer` is the enforcement: a thin ASGI layer in front of the SDK's
streamable-HTTP app. It reads the JSON-RPC body of each POST, and for a ``tools/call`` of a
protected tool verifies the bearer token and either refuses with a challenge
(:mod:`resource_server.challenges`) or passes the request on, replaying the body untouched
and attaching the verified token to the ASGI scope, where a tool finds it through
:func:`caller`. The body decides, not the 2026-07-28 ``Mcp-Method``/``Mcp-Name`` headers:
the body is what the SDK executes (and the SDK itself refuses a header that disagrees).

Everything else — ``initialize``, ``server/discover``, ``tools/list``, ``resources/*``,
``ping``, public tools — passes anonymously; a token sent along with those is ignored, not
verified, so a stale token never breaks discovery.

Which scopes a challenge asks for (MCP authorization, "Scope Selection Strategy" and "Scope
Challenge Handling"; both revisions 2025-11-25 and 2026-07-28):

* **401** — no token, or one that failed verification: :attr:`ToolPolicies.sign_in_scopes`
  (``MCP_CHALLENGE_SCOPES``; by default the union of every oauth2/optional tool's scopes) plus
  the called tool's own. A client asks for exactly the 401's ``scope`` on its first sign-in,
  so this makes one consent cover the whole app. Naming only the called tool's scope — least
  privilege taken literally — cost one browser sign-in per tool with mcp-remote and MCP
  Inspector, and stranded clients that replace their scopes on each re-authorization.
* **403** ``insufficient_scope`` — a valid token without the tool's scopes: the scopes the
  token already has (those this resource knows) plus the missing ones
  (:meth:`ToolPolicies.step_up_scopes`). The spec lets a server include granted scopes
  (2025-11-25 calls it the recommended approach); doing so means a client that re-authorizes
  for exactly the challenged set keeps what it had. A token narrowed on purpose — a client
  that asked for less than the 401 offered — steps up by only what the call needs.

``scopes_supported`` in the RFC 9728 metadata lists the same scopes as the default sign-in
set (:mod:`resource_server.protected_resource_metadata`), so a client that reads the
metadata instead of the challenge asks for the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from mcp_types import CLIENT_INFO_META_KEY, INVALID_REQUEST
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.tokens import InvalidToken

from . import challenges
from .token_verifier import BadRequest, TokenVerifier, VerifiedToken, bearer_token_from

PolicyKind = Literal["public", "oauth2", "optional"]
ChallengeSetting = Literal["http", "result", "auto"]

CALLER_SCOPE_KEY = "mcp_oauth_demo.caller"
"""ASGI scope key under which :class:`ToolAuthLayer` leaves the verified token for the tools."""

JSONRPC_METHOD_SCOPE_KEY = "mcp_oauth_demo.jsonrpc_method"
"""ASGI scope key holding the method of a POSTed JSON-RPC request, once this layer has read it."""

CHATGPT_CLIENT_MARK = "openai-mcp"

_F = Callable[..., Any]


@dataclass(frozen=True)
class ToolPolicy:
    """How a tool may be called: ``public``, ``oauth2`` (token with ``scopes`` required) or ``optional``."""

    kind: PolicyKind
    scopes: tuple[str, ...] = ()

    def security_schemes(self) -> list[dict[str, Any]]:
        """The Apps SDK's ``securitySchemes`` for this policy."""
        noauth: dict[str, Any] = {"type": "noauth"}
        oauth2: dict[str, Any] = {"type": "oauth2", "scopes": list(self.scopes)}
        return {"public": [noauth], "oauth2": [oauth2], "optional": [noauth, oauth2]}[self.kind]


PUBLIC = ToolPolicy("public")


def oauth2(*scopes: str) -> ToolPolicy:
    """A tool that needs a valid token carrying all of ``scopes``."""
    return ToolPolicy("oauth2", scopes)


def optional(*scopes: str) -> ToolPolicy:
    """A tool that works anonymously and does more for a valid token (``scopes`` are what it uses)."""
    return ToolPolicy("optional", scopes)


class ToolPolicies:
    """The table of tool name → policy, filled by registering tools through :meth:`tool`.

    ``sign_in_scopes`` is what a 401 asks for (``MCP_CHALLENGE_SCOPES``); ``None`` means every
    scope the registered tools use, worked out when asked, so it follows the tools as they register.
    """

    def __init__(self, sign_in_scopes: Iterable[str] | None = None) -> None:
        self._by_name: dict[str, ToolPolicy] = {}
        self._sign_in_scopes = frozenset(sign_in_scopes) if sign_in_scopes is not None else None

    def get(self, name: str) -> ToolPolicy | None:
        return self._by_name.get(name)

    def __iter__(self) -> Iterator[tuple[str, ToolPolicy]]:
        return iter(self._by_name.items())

    @property
    def tool_scopes(self) -> frozenset[str]:
        """Every scope an oauth2 or optional tool uses: the scopes this resource knows."""
        return frozenset(scope for policy in self._by_name.values() for scope in policy.scopes)

    @property
    def sign_in_scopes(self) -> frozenset[str]:
        """The app's sign-in scope set: the configured one, else :attr:`tool_scopes`."""
        return self._sign_in_scopes if self._sign_in_scopes is not None else self.tool_scopes

    def sign_in_scopes_for(self, policy: ToolPolicy) -> frozenset[str]:
        """A 401's ``scope``: the sign-in set, and always what the called tool needs."""
        return self.sign_in_scopes | frozenset(policy.scopes)

    def step_up_scopes(self, policy: ToolPolicy, granted: Iterable[str]) -> frozenset[str]:
        """A 403's ``scope``: what the token has (of this resource's scopes) plus what the tool needs.

        Granted scopes this resource does not use (``offline_access``, another resource's) stay
        out: a challenge names resource scopes only (MCP authorization, "Refresh Tokens").
        """
        relevant = frozenset(granted) & (self.tool_scopes | self.sign_in_scopes)
        return relevant | frozenset(policy.scopes)

    def tool(
        self,
        server: MCPServer,
        policy: ToolPolicy,
        *,
        name: str,
        meta: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Callable[[_F], _F]:
        """Like ``MCPServer.tool`` (same keyword arguments), plus the tool's auth policy."""

        def register(fn: _F) -> _F:
            self._by_name[name] = policy
            server.add_tool(
                fn, name=name, meta={**(meta or {}), "securitySchemes": policy.security_schemes()}, **kwargs
            )
            return fn

        return register

    async def publish_security_schemes(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        """SDK server middleware: copy each tool's ``securitySchemes`` to the top level of ``tools/list``.

        The SDK serializes results through the protocol's own schema, which has no such field,
        so it is added after that step; ``call_next`` hands back the finished wire dict.
        """
        result = await call_next(ctx)
        if ctx.method == "tools/list" and isinstance(result, dict):
            for tool in result.get("tools", []):
                policy = self._by_name.get(tool.get("name"))
                if policy is not None:
                    tool["securitySchemes"] = policy.security_schemes()
        return result


def caller(ctx: Context) -> VerifiedToken | None:
    """The verified token of the current tool call, or ``None`` for an anonymous call."""
    request = ctx.request_context.request
    scope = getattr(request, "scope", None)
    return scope.get(CALLER_SCOPE_KEY) if isinstance(scope, dict) else None


@dataclass(frozen=True)
class _ToolCall:
    request_id: str | int
    name: str
    client_name: str | None  # 2026-07-28 requests carry clientInfo in every request's _meta


def _decode(body: bytes) -> Any:
    """The JSON-RPC message in ``body``, or ``None`` when it is not JSON (the SDK answers -32700)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _tool_call_in(message: Any) -> _ToolCall | None:
    """The ``tools/call`` request in a decoded message; ``None`` for anything else.

    Anything this cannot make sense of goes on to the SDK, which owns the JSON-RPC errors.
    """
    if not isinstance(message, dict) or message.get("method") != "tools/call" or "id" not in message:
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
    return _ToolCall(request_id, params["name"], client_name if isinstance(client_name, str) else None)


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


class ToolAuthLayer:
    """ASGI layer in front of the SDK's ``/mcp`` app that enforces :class:`ToolPolicies`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        policies: ToolPolicies,
        verifier: TokenVerifier,
        challenge_setting: ChallengeSetting,
        resource_metadata_url: str,
        max_body_bytes: int = DEFAULT_MAX_REQUEST_BODY_SIZE,
    ) -> None:
        self.app = app
        self.policies = policies
        self.verifier = verifier
        self.challenge_setting = challenge_setting
        self.resource_metadata_url = resource_metadata_url
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = {
            key: value
            for key, value in scope.items()
            if key not in (CALLER_SCOPE_KEY, JSONRPC_METHOD_SCOPE_KEY)
        }
        try:
            token = bearer_token_from(scope["headers"], scope.get("query_string", b""))
        except BadRequest as exc:
            response = challenges.bad_request_response(
                challenges.invalid_request(exc.description), self.resource_metadata_url
            )
            await response(scope, receive, send)
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)  # GET/DELETE carry no tool call
            return

        body, complete, messages = await _buffer_body(receive, self.max_body_bytes)
        receive = _replay(messages, receive)
        # An oversized body is not even parsed: the SDK refuses it with 413 as it reads it.
        message = _decode(body) if complete and len(body) <= self.max_body_bytes else None
        if isinstance(message, dict) and isinstance(message.get("method"), str):
            scope[JSONRPC_METHOD_SCOPE_KEY] = message["method"]  # read by the session router
        if isinstance(message, list):
            # Batching left MCP in 2025-06-18; refusing it here also means no tool can hide in one.
            error = {
                "code": INVALID_REQUEST,
                "message": "JSON-RPC batches are not supported; send one request per POST",
            }
            await JSONResponse({"jsonrpc": "2.0", "id": None, "error": error}, status_code=400)(
                scope, receive, send
            )
            return
        call = _tool_call_in(message)
        policy = self.policies.get(call.name) if call is not None else None
        if call is None or policy is None or policy.kind == "public":
            await self.app(scope, receive, send)
            return

        challenge: challenges.Challenge | None = None
        verified: VerifiedToken | None = None
        if token is None:
            if policy.kind == "oauth2":
                challenge = challenges.missing_token(call.name, self.policies.sign_in_scopes_for(policy))
        else:
            try:
                verified = await self.verifier.verify(token)
            except InvalidToken as exc:
                # Also for the optional tool: a broken token must not quietly become "anonymous".
                challenge = challenges.invalid_token(
                    call.name, self.policies.sign_in_scopes_for(policy), exc.description
                )
            else:
                if policy.kind == "oauth2" and not verified.has_scopes(policy.scopes):
                    challenge = challenges.insufficient_scope(
                        call.name, policy.scopes, self.policies.step_up_scopes(policy, verified.scopes)
                    )

        if challenge is not None:
            response = challenges.challenge_response(
                challenge,
                mode=self._challenge_mode(scope, call),
                resource_metadata_url=self.resource_metadata_url,
                request_id=call.request_id,
                protocol_version=_header(scope, b"mcp-protocol-version"),
            )
            await response(scope, receive, send)
            return
        if verified is not None:
            scope[CALLER_SCOPE_KEY] = verified
        await self.app(scope, receive, send)

    def _challenge_mode(self, scope: Scope, call: _ToolCall) -> challenges.ChallengeMode:
        if self.challenge_setting != "auto":
            return self.challenge_setting
        # A stateless server cannot remember initialize's clientInfo, so each request speaks for itself.
        user_agent = (_header(scope, b"user-agent") or "").lower()
        is_chatgpt = (
            CHATGPT_CLIENT_MARK in user_agent or (call.client_name or "").lower() == CHATGPT_CLIENT_MARK
        )
        return "result" if is_chatgpt else "http"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
