"""Telling a client to sign in: the Bearer challenge (RFC 6750 §3, RFC 9728 §5.1).

When a tool needs a token the caller does not have (or has, without the right scope), the
RS answers with a challenge that says everything a client needs to start OAuth on its own::

    WWW-Authenticate: Bearer resource_metadata="<RS_BASE_URL>/.well-known/oauth-protected-resource/mcp",
                      scope="profile:read notes:read notes:write", error="invalid_token", …

``resource_metadata`` (RFC 9728 §5.1) leads to the protected-resource metadata and from
there to the authorization server; ``error`` follows RFC 6750 §3.1 — absent when no token was
sent, ``invalid_token`` (401) for a token that failed verification, ``insufficient_scope``
(403) for a valid token without the scope.

Which scopes ``scope`` names is the RS's scope strategy (MCP authorization, "Scope Selection
Strategy" and "Scope Challenge Handling"; :mod:`resource_server.tool_policies` picks the sets):

* a **401** (no token, or one that failed verification) names the app's sign-in scope set —
  by default every scope the tools use — plus whatever the called tool needs. Clients treat
  a 401's ``scope`` as what to ask for, so one sign-in and one consent cover every tool,
  instead of one sign-in per tool as clients meet them (which also left clients that
  *replace* their scopes on re-authorization with a token for the last tool only);
* a **403** ``insufficient_scope`` names the scopes the token already has plus the missing
  ones: the "recommended approach" of the 2025-11-25 revision, so a client that re-authorizes
  for exactly the challenged set keeps what it had, and a client that merges (the step-up
  union of 2026-07-28) gets the same answer. A client that asked for fewer scopes on purpose
  steps up by just what the call needs.

``offline_access`` never appears in ``scope``: a refresh token is not something the resource
needs (MCP authorization, "Refresh Tokens"); clients add it to their request themselves.

The same challenge travels two ways, built here once for both:

* ``http`` — HTTP 401/403 with the ``WWW-Authenticate`` header: what the MCP SDKs, MCP
  Inspector and Claude act on.
* ``result`` — HTTP 200 with a tool result ``isError: true`` whose
  ``_meta["mcp/www_authenticate"]`` lists the challenge: what ChatGPT acts on (OpenAI Apps
  SDK, "Triggering authentication UI"; the value is a list of header values). ChatGPT shows
  its sign-in UI only when that challenge has both ``error`` and ``error_description``, so
  this form names ``error="invalid_request"`` and ``error_description="No access token was
  provided"`` even for a call without a token (:meth:`Challenge.in_band`) — the RFC 6750
  §3.1 code for a request missing a required credential, used outside an HTTP status here.
  The HTTP form keeps RFC 6750 §3.1's advice and carries no error when no token was sent.

The JSON-RPC body is the same tool result in both modes, so a person reading either sees
how to sign in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

from mcp_types import methods as mcp_methods
from mcp_types.version import KNOWN_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from starlette.responses import Response

from shared.scopes import format_scope

WWW_AUTHENTICATE_META_KEY = "mcp/www_authenticate"
ChallengeMode = Literal["http", "result"]

# What the in-band (ChatGPT) form says when no token was sent at all.
NO_TOKEN_ERROR = "invalid_request"
NO_TOKEN_DESCRIPTION = "No access token was provided"

# RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E — printable ASCII without '"' and '\'.
_NOT_DESCRIPTION_CHARS = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
_MAX_DESCRIPTION_CHARS = 300


@dataclass(frozen=True)
class Challenge:
    """Why a request is refused, in the terms of RFC 6750 §3.1."""

    status: int  # 401, 403 or 400
    message: str  # for the person in the conversation: what happened and how to sign in
    scopes: tuple[str, ...] = ()
    error: str | None = None  # None when the request carried no token at all (RFC 6750 §3.1)
    description: str | None = None

    def in_band(self) -> Challenge:
        """This challenge for ``_meta["mcp/www_authenticate"]``: always with ``error`` and a description.

        The Apps SDK needs both parameters before ChatGPT opens its sign-in UI; a challenge that
        already has an error keeps it.
        """
        if self.error is not None:
            return self
        return replace(self, error=NO_TOKEN_ERROR, description=NO_TOKEN_DESCRIPTION)


def missing_token(tool: str, scopes: Iterable[str]) -> Challenge:
    """401 for a call without a token; ``scopes`` is the set to ask for (the sign-in set)."""
    scope = format_scope(scopes)
    return Challenge(
        status=401,
        scopes=tuple(scope.split()),
        message=(
            f"Sign-in required: the tool {tool} needs access to your account. "
            "Connect the Auth Demo app / sign in when your client offers it "
            f"(one sign-in allows {scope}), then ask again."
        ),
    )


def invalid_token(tool: str, scopes: Iterable[str], description: str) -> Challenge:
    """401 for a token that failed verification; ``scopes`` as for :func:`missing_token`."""
    scope = format_scope(scopes)
    return Challenge(
        status=401,
        scopes=tuple(scope.split()),
        error="invalid_token",
        description=description,
        message=(
            f"Your sign-in cannot be used for {tool}: {description}. "
            "Sign in again (reconnect the Auth Demo app), then ask again."
        ),
    )


def insufficient_scope(tool: str, required: Iterable[str], scopes: Iterable[str]) -> Challenge:
    """403 for a token without ``required``; ``scopes`` is the set to ask for (granted + missing)."""
    need = format_scope(required)
    scope = format_scope(scopes)
    return Challenge(
        status=403,
        scopes=tuple(scope.split()),
        error="insufficient_scope",
        description=f"{tool} needs the scope {need}",
        message=(
            f"You are signed in, but you did not grant {need}, which {tool} needs. "
            f"Sign in again and allow {scope}, then ask again."
        ),
    )


def invalid_request(description: str) -> Challenge:
    return Challenge(status=400, error="invalid_request", description=description, message=description)


def _quoted(value: str) -> str:
    return '"' + _NOT_DESCRIPTION_CHARS.sub("?", value.replace('"', "'").replace("\\", "/")) + '"'


def www_authenticate(challenge: Challenge, resource_metadata_url: str) -> str:
    """``Bearer resource_metadata=…, scope=…[, error=…, error_description=…]`` for ``WWW-Authenticate``."""
    params = [f"resource_metadata={_quoted(resource_metadata_url)}"]
    if challenge.scopes:
        params.append(f"scope={_quoted(format_scope(challenge.scopes))}")
    if challenge.error:
        params.append(f"error={_quoted(challenge.error)}")
    if challenge.description:
        params.append(f"error_description={_quoted(challenge.description[:_MAX_DESCRIPTION_CHARS])}")
    return "Bearer " + ", ".join(params)


def challenge_tool_result(
    challenge: Challenge, header_value: str, protocol_version: str | None
) -> dict[str, Any]:
    """The ``tools/call`` result carrying the challenge, shaped for the request's protocol revision."""
    result: dict[str, Any] = {
        "content": [{"type": "text", "text": challenge.message}],
        "isError": True,
        "_meta": {WWW_AUTHENTICATE_META_KEY: [header_value]},
    }
    if protocol_version in MODERN_PROTOCOL_VERSIONS:
        result["resultType"] = "complete"  # required on every 2026-07-28 result
    if protocol_version in KNOWN_PROTOCOL_VERSIONS:
        # The SDK's own per-revision schema, so this hand-built result is exactly what a tool would send.
        result = mcp_methods.serialize_server_result("tools/call", protocol_version, result)
    return result


def _challenge_body(
    challenge: Challenge, header_value: str, request_id: str | int | None, protocol_version: str | None
) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "result": challenge_tool_result(challenge, header_value, protocol_version),
    }


def challenge_response(
    challenge: Challenge,
    *,
    mode: ChallengeMode,
    resource_metadata_url: str,
    request_id: str | int | None,
    protocol_version: str | None,
) -> Response:
    """The complete HTTP answer for a refused ``tools/call`` (a JSON-RPC response in both modes)."""
    if mode == "result":
        in_band = www_authenticate(challenge.in_band(), resource_metadata_url)
        body = _challenge_body(challenge, in_band, request_id, protocol_version)
        return Response(json.dumps(body), status_code=200, media_type="application/json")
    header_value = www_authenticate(challenge, resource_metadata_url)
    body = _challenge_body(challenge, header_value, request_id, protocol_version)
    return Response(
        json.dumps(body),
        status_code=challenge.status,
        media_type="application/json",
        headers={"WWW-Authenticate": header_value},
    )


def bad_request_response(challenge: Challenge, resource_metadata_url: str) -> Response:
    """HTTP 400 ``invalid_request`` (RFC 6750 §3.1) for a request that is malformed, not unauthorized."""
    body = {"error": challenge.error, "error_description": challenge.description}
    return Response(
        json.dumps(body),
        status_code=challenge.status,
        media_type="application/json",
        headers={"WWW-Authenticate": www_authenticate(challenge, resource_metadata_url)},
    )
