"""Per-tool policies: who may call which tool, declared once, next to the tool.

MCP authorization (2025-06-18 and later) protects the HTTP endpoint; this demo goes one
step finer, as the OpenAI Apps SDK's "mixed auth" does: some tools are public, some need
an OAuth token with given scopes, one works either way. Each tool is registered through
:meth:`ToolPolicies.tool` with its :class:`ToolPolicy`, which

* records the policy in the table :mod:`resource_server.authorization` enforces, and
* publishes it where clients read it: ``securitySchemes`` on the tool descriptor, both at
  the top level and in ``_meta.securitySchemes`` (Apps SDK, "Per-tool authentication").

This module declares; it reads no request. It also holds the scope strategy, which scopes a
challenge asks for (MCP authorization, "Scope Selection Strategy" and "Scope Challenge
Handling"; both revisions 2025-11-25 and 2026-07-28):

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

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer

PolicyKind = Literal["public", "oauth2", "optional"]

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
