"""Enforcing the tool policies: a pure decision, and the thin ASGI layer that applies it.

:func:`decide` is the whole rule, as a function of the called tool's
:class:`~resource_server.tool_policies.ToolPolicy` and what became of the request's token
(:data:`TokenState`); it does no I/O, so tests call it directly:

============  =================  =====================  ==========================  ======================
policy        no token           invalid token          valid, without the scopes   valid, with the scopes
============  =================  =====================  ==========================  ======================
``public``    allow              allow (not verified)   allow (not verified)        allow (not verified)
``optional``  allow, anonymous   401 ``invalid_token``  allow, with the caller      allow, with the caller
``oauth2``    401, no ``error``  401 ``invalid_token``  403 ``insufficient_scope``  allow, with the caller
============  =================  =====================  ==========================  ======================

An invalid token is refused even for the optional tool: a broken token must not quietly become
"anonymous". What each challenge says and which scopes it names is
:mod:`resource_server.challenges` and :mod:`resource_server.tool_policies`.

:class:`ToolAuthorization` sits behind :class:`~resource_server.mcp_requests.McpRequestReader`
in front of the session router and the SDK. For a ``tools/call`` of a known tool it verifies the
bearer token (:mod:`resource_server.token_verifier`) — only then: ``initialize``,
``server/discover``, ``tools/list``, ``resources/*``, ``ping`` and public tools pass
anonymously, and a token sent along with those is not even verified, so a stale token never
breaks discovery. It then either answers with the challenge, in the form the client acts on
(:func:`challenge_mode`), or passes the request on with the verified caller in the ASGI scope,
where a tool finds it through :func:`caller`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mcp.server.mcpserver import Context
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.tokens import InvalidToken

from . import challenges
from .mcp_requests import SCOPE_KEY_PREFIX, McpRequest, mcp_request
from .token_verifier import TokenVerifier
from .tool_policies import ToolPolicies, ToolPolicy
from .verified_tokens import VerifiedToken

ChallengeSetting = Literal["http", "result", "auto"]
"""``TOOL_AUTH_CHALLENGE``: one challenge form for every client, or ``auto`` to pick per request."""

TokenState = VerifiedToken | InvalidToken | None
"""What became of a request's bearer token: ``None`` when it sent none, :class:`InvalidToken`
(whose ``description`` says why) when verification refused it, else the :class:`VerifiedToken`."""

CALLER_SCOPE_KEY = SCOPE_KEY_PREFIX + "caller"
"""ASGI scope key under which :class:`ToolAuthorization` leaves the verified caller of a tool call."""

CHATGPT_CLIENT_MARK = "openai-mcp"


@dataclass(frozen=True)
class Allow:
    """The call may go on; ``caller`` is the verified token the tool will see (``None``: anonymous)."""

    caller: VerifiedToken | None = None


def decide(
    tool: str, policy: ToolPolicy, token: TokenState, policies: ToolPolicies
) -> Allow | challenges.Challenge:
    """May this call of ``tool`` go on? The challenge to answer with when it may not."""
    if policy.kind == "public":
        return Allow()
    if token is None:
        if policy.kind == "optional":
            return Allow()
        return challenges.missing_token(tool, policies.sign_in_scopes_for(policy))
    if isinstance(token, InvalidToken):
        return challenges.invalid_token(tool, policies.sign_in_scopes_for(policy), token.description)
    if policy.kind == "oauth2" and not token.has_scopes(policy.scopes):
        return challenges.insufficient_scope(
            tool, policy.scopes, policies.step_up_scopes(policy, token.scopes)
        )
    return Allow(token)


def challenge_mode(setting: ChallengeSetting, request: McpRequest) -> challenges.ChallengeMode:
    """The challenge form for this request: ``result`` for ChatGPT under ``auto``, else ``http``."""
    if setting != "auto":
        return setting
    # A stateless server cannot remember initialize's clientInfo, so each request speaks for itself.
    client_name = request.tool_call.client_name if request.tool_call is not None else None
    is_chatgpt = (
        CHATGPT_CLIENT_MARK in (request.user_agent or "").lower()
        or (client_name or "").lower() == CHATGPT_CLIENT_MARK
    )
    return "result" if is_chatgpt else "http"


def verified_caller(scope: Scope) -> VerifiedToken | None:
    """The caller :class:`ToolAuthorization` verified for this request; ``None`` when it verified none."""
    return scope.get(CALLER_SCOPE_KEY)


def caller(ctx: Context) -> VerifiedToken | None:
    """The verified token of the current tool call, or ``None`` for an anonymous call."""
    request = ctx.request_context.request
    scope = getattr(request, "scope", None)
    return verified_caller(scope) if isinstance(scope, dict) else None


class ToolAuthorization:
    """ASGI layer that applies :func:`decide` to every ``tools/call`` of a tool with a policy."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        policies: ToolPolicies,
        verifier: TokenVerifier,
        challenge_setting: ChallengeSetting,
        resource_metadata_url: str,
    ) -> None:
        self.app = app
        self.policies = policies
        self.verifier = verifier
        self.challenge_setting = challenge_setting
        self.resource_metadata_url = resource_metadata_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = mcp_request(scope)
        call = request.tool_call
        policy = self.policies.get(call.name) if call is not None else None
        if call is None or policy is None:
            await self.app(scope, receive, send)  # not a tool call, or a tool the SDK will not know
            return
        token = None if policy.kind == "public" else await self._token_state(request.bearer_token)
        decision = decide(call.name, policy, token, self.policies)
        if isinstance(decision, challenges.Challenge):
            response = challenges.challenge_response(
                decision,
                mode=challenge_mode(self.challenge_setting, request),
                resource_metadata_url=self.resource_metadata_url,
                request_id=call.request_id,
                protocol_version=request.protocol_version,
            )
            await response(scope, receive, send)
            return
        if decision.caller is not None:
            scope = {**scope, CALLER_SCOPE_KEY: decision.caller}
        await self.app(scope, receive, send)

    async def _token_state(self, token: str | None) -> TokenState:
        if token is None:
            return None
        try:
            return await self.verifier.verify(token)
        except InvalidToken as exc:
            return exc
