"""What one trace event says: the flow steps, their RFC sections, and the fingerprints that link them.

An event is a plain JSON object (a ``dict``), so the same thing is stored, served by
``GET /trace/events``, printed by ``mcp-oauth-demo trace`` and logged with ``LOG_FORMAT=json``.
Its top-level keys:

* ``id`` (assigned by the store), ``time`` (Unix seconds), ``server`` (``as`` or ``rs``);
* who: ``client_id``, ``client_name``, ``user_agent``, ``remote`` (the first ``X-Forwarded-For``
  address when a proxy such as ngrok reports one, else the socket's peer);
* what: ``method``, ``path``, ``step`` (a key of :data:`STEPS`), ``params`` (only the parameters
  that explain the exchange: ``grant_type``, ``scope``, ``resource``, ``redirect_host``,
  ``pkce_method``, ``jsonrpc_method``, ``tool``, ``protocol_version``, ``session`` prefix, …);
* the outcome: ``status``, ``error``, ``error_description``, ``www_authenticate``;
* ``links``: fingerprints of the secrets the exchange carried (``code``, ``access_token``,
  ``refresh_token``, ``bearer``, the pending ``request``), and ``token``: the public claims of the
  access token it issued or presented (``iss``, ``aud``, ``exp``, ``kid``, ``scope``, ``client_id``).

A secret itself — token, code, verifier, client secret, password, assertion — never enters an
event. A fingerprint is the first :data:`FINGERPRINT_HEX` hex digits of its SHA-256: enough to
see that the code the consent issued is the one the token request redeemed, far too little to
guess anything from (the secrets carry 128+ bits of randomness; 40 bits of a hash reveal none).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

Event = dict[str, Any]

FINGERPRINT_HEX = 10


def fingerprint(secret: str) -> str:
    """A short, stable, non-reversible name for ``secret`` (hex prefix of its SHA-256)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:FINGERPRINT_HEX]


@dataclass(frozen=True)
class Step:
    """One step of the MCP authorization flow as the trace names it."""

    label: str
    rfc: str


STEPS: dict[str, Step] = {
    "prm": Step("Protected resource metadata", "RFC 9728 §3"),
    "as-metadata": Step("Authorization server metadata", "RFC 8414 §3"),
    "register": Step("Dynamic client registration", "RFC 7591 §3"),
    "client-info": Step("Client configuration read", "RFC 7592 §2.1"),
    "authorize": Step("Authorization request (PKCE)", "RFC 6749 §4.1.1, RFC 7636 §4.3"),
    "login": Step("User signs in", "RFC 6749 §3.1 (user authentication is the AS's own)"),
    "consent": Step("User consents; code sent to the client", "RFC 6749 §4.1.2"),
    "token-code": Step("Code exchanged for tokens", "RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 8707 §2.2"),
    "token-refresh": Step("Refresh token used", "RFC 6749 §6, OAuth 2.1 §4.3"),
    "token": Step("Token request", "RFC 6749 §3.2"),
    "jwks": Step("Signing keys fetched", "RFC 7517 §5, RFC 8414 §2 (jwks_uri)"),
    "revoke": Step("Token revoked", "RFC 7009 §2"),
    "introspect": Step("Token introspected", "RFC 7662 §2"),
    "mcp-initialize": Step("MCP initialize", "MCP lifecycle, 'Initialization'"),
    "mcp-discover": Step("MCP server/discover", "MCP lifecycle (2026-07-28)"),
    "mcp-tools-list": Step("MCP tools/list", "MCP server features, 'Tools'"),
    "mcp-tool-call": Step("MCP tools/call", "MCP authorization, 'Access Token Usage'; RFC 6750 §3"),
    "mcp-request": Step("MCP request", "MCP transports, 'Streamable HTTP'"),
    "mcp-session": Step("MCP session stream or end", "MCP transports, 'Session Management'"),
    "other": Step("Other request", ""),
}

AS_PATHS: dict[str, str] = {
    "/.well-known/oauth-authorization-server": "as-metadata",
    "/.well-known/openid-configuration": "as-metadata",
    "/oauth2/register": "register",
    "/oauth2/authorize": "authorize",
    "/oauth2/login": "login",
    "/oauth2/logout": "login",
    "/oauth2/consent": "consent",
    "/oauth2/token": "token",
    "/oauth2/jwks": "jwks",
    "/oauth2/revoke": "revoke",
    "/oauth2/introspect": "introspect",
}

MCP_METHOD_STEPS: dict[str, str] = {
    "initialize": "mcp-initialize",
    "server/discover": "mcp-discover",
    "tools/list": "mcp-tools-list",
    "tools/call": "mcp-tool-call",
}


def step_of(server: str, method: str, path: str, params: dict[str, Any]) -> str:
    """The flow step an exchange belongs to, from where it went and what it asked."""
    if path.startswith("/.well-known/oauth-protected-resource"):
        return "prm"
    if server == "as":
        if path.startswith("/oauth2/register/"):
            return "client-info"
        step = AS_PATHS.get(path, "other")
        if step == "token":
            grant = params.get("grant_type")
            return {"authorization_code": "token-code", "refresh_token": "token-refresh"}.get(grant, "token")
        return step
    if path.rstrip("/").endswith("/mcp"):
        if method != "POST":
            return "mcp-session"
        return MCP_METHOD_STEPS.get(params.get("jsonrpc_method") or "", "mcp-request")
    return "other"


def describe(event: Event) -> str:
    """One line for a person: ``as POST /oauth2/token (token-code) → 200``."""
    params = event.get("params") or {}
    what = params.get("jsonrpc_method") or ""
    if params.get("tool"):
        what += f" {params['tool']}"
    outcome = event.get("error") or ""
    return (
        f"{event['server']} {event['method']} {event['path']}"
        + (f" [{what.strip()}]" if what else "")
        + f" → {event['status']}"
        + (f" {outcome}" if outcome else "")
    )
