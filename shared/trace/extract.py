"""From a captured exchange to a trace event: an allow-list, never a deny-list.

The recording middleware (:mod:`shared.trace.middleware`) hands over an :class:`Exchange` — the
request line, headers, and the first bytes of both bodies — and :func:`to_event` copies out only
what the trace shows. Every field is picked by name; a parameter not named here (``password``,
``code_verifier``, ``client_secret``, ``client_assertion``, ``csrf_token``, a tool's arguments, …)
is never read into the event, so a new secret parameter cannot leak by being forgotten. Values
that link steps are replaced by :func:`shared.trace.events.fingerprint`.

This runs on the recorder's writer thread, not in the request: parsing costs the hot path nothing.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic_core import from_json

from .events import STEPS, Event, fingerprint, step_of

SESSION_PREFIX_CHARS = 6
MAX_CLAIM_CHARS = 300

# Parameters copied as they are (none of them is a secret in any OAuth or MCP message).
PLAIN_PARAMS = ("grant_type", "scope", "resource", "response_type", "token_type_hint", "prompt")
# Secrets that link steps: only their fingerprints are kept, under the link's name.
LINKED_SECRETS = {"code": "code", "refresh_token": "refresh_token", "token": "token"}
TOKEN_CLAIMS = ("iss", "aud", "exp", "iat", "scope", "client_id")
_AUTH_PARAM = re.compile(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"')
_MAY_BE_ERROR = re.compile(rb'"isError":\s*true|"error":')
_PAGE_TITLE = re.compile(r"<h1>(.*?)</h1>", re.S)
_PAGE_MESSAGE = re.compile(r'<p class="error">(.*?)</p>', re.S)


@dataclass(slots=True)
class Exchange:
    """One request and its answer as the middleware saw them (bodies only where they matter)."""

    server: str
    time: float
    duration: float
    method: str
    path: str
    query: bytes
    headers: list[tuple[bytes, bytes]]
    peer: str | None
    status: int
    response_headers: list[tuple[bytes, bytes]]
    request_body: bytes | None
    response_body: bytes | None


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw}


def _json(body: bytes | None) -> Any:
    if not body:
        return None
    try:
        return from_json(body)  # pydantic's Rust parser: a few times faster than json.loads
    except (ValueError, RecursionError):
        return None


def _form(body: bytes | None) -> dict[str, str]:
    if not body:
        return {}
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return {}


def host_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL — where a redirect goes, without its path or query."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None
    except ValueError:
        return None


def challenge_params(header: str) -> dict[str, str]:
    """The ``key="value"`` parameters of a ``WWW-Authenticate: Bearer …`` challenge (RFC 6750 §3)."""
    return {key: value.replace('\\"', '"') for key, value in _AUTH_PARAM.findall(header)}


@functools.lru_cache(maxsize=256)
def _token_facts(token: str) -> tuple[str, dict[str, Any] | None]:
    """A presented token's fingerprint and claims, worked out once per token (clients repeat theirs)."""
    return fingerprint(token), jwt_summary(token)


def jwt_summary(token: str) -> dict[str, Any] | None:
    """The public claims and ``kid`` of a JWT, read without verifying it (what it *says*, not proof)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, RecursionError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    # The claims are whatever the sender wrote: only short scalars are kept.
    summary: dict[str, Any] = {
        name: claims[name][:MAX_CLAIM_CHARS] if isinstance(claims[name], str) else claims[name]
        for name in TOKEN_CLAIMS
        if isinstance(claims.get(name), str | int | float) and not isinstance(claims.get(name), bool)
    }
    if isinstance(claims.get("aud"), list):
        summary["aud"] = [aud[:MAX_CLAIM_CHARS] for aud in claims["aud"][:5] if isinstance(aud, str)]
    if isinstance(header.get("kid"), str):
        summary["kid"] = header["kid"][:64]
    return summary


def _client_from_basic(authorization: str) -> str | None:
    """The client_id of ``Authorization: Basic`` (RFC 6749 §2.3.1); the secret is dropped unread."""
    try:
        decoded = base64.b64decode(authorization[6:].strip()).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    client_id, _, _ = decoded.partition(":")
    return client_id or None


def _client_auth(headers: dict[str, str], form: dict[str, str]) -> str | None:
    authorization = headers.get("authorization", "")
    if authorization[:6].lower() == "basic ":
        return "client_secret_basic"
    if "client_assertion" in form:
        return "private_key_jwt"
    if "client_secret" in form:
        return "client_secret_post"
    return "none" if "client_id" in form else None


def _location_details(location: str, event: Event) -> None:
    """What a redirect says: the code issued, an error sent to the client, the pending request."""
    params = dict(parse_qsl(urlsplit(location).query))
    links, outcome = event["links"], event
    if "code" in params:
        links["code"] = fingerprint(params["code"])
    if "request_id" in params:
        links["request"] = fingerprint(params["request_id"])
    if "error" in params:
        outcome["error"] = params["error"][:100]
        outcome["error_description"] = params.get("error_description", "")[:500]
    if "code" in params or "error" in params:
        event["params"]["redirect_host"] = host_of(location)


def _oauth_request(
    event: Event, headers: dict[str, str], query: dict[str, str], form: dict[str, str]
) -> None:
    params, links = event["params"], event["links"]
    for source in (query, form):
        for name in PLAIN_PARAMS:
            if name in source:
                params[name] = source[name][:500]
        if "code_challenge_method" in source or "code_challenge" in source:
            params["pkce_method"] = source.get("code_challenge_method", "plain")
        if "code_verifier" in source:
            params["pkce_verifier"] = "sent"
        if "redirect_uri" in source:
            params["redirect_host"] = host_of(source["redirect_uri"])
        if "request_id" in source:
            links["request"] = fingerprint(source["request_id"])
        for name, link in LINKED_SECRETS.items():
            if source.get(name):
                links[link] = fingerprint(source[name])
        if source.get("client_id"):
            event["client_id"] = source["client_id"][:300]
    if event["path"] in ("/oauth2/token", "/oauth2/revoke", "/oauth2/introspect"):
        params["client_auth"] = _client_auth(headers, form)
        authorization = headers.get("authorization", "")
        if authorization[:6].lower() == "basic ":
            event["client_id"] = event["client_id"] or _client_from_basic(authorization)


def _registration(event: Event, request: Any, response: Any) -> None:
    params = event["params"]
    if isinstance(request, dict):
        uris = request.get("redirect_uris")
        if isinstance(uris, list):
            # Registered redirect URIs are public configuration; query strings are dropped all the same.
            params["redirect_uris"] = [str(uri).split("?", 1)[0][:300] for uri in uris[:10]]
        for name in ("client_name", "token_endpoint_auth_method"):
            if isinstance(request.get(name), str):
                params[name] = request[name][:200]
        if isinstance(request.get("client_name"), str):
            event["client_name"] = request["client_name"][:200]
    if isinstance(response, dict) and isinstance(response.get("client_id"), str):
        event["client_id"] = response["client_id"]


def _token_response(event: Event, response: Any) -> None:
    if not isinstance(response, dict):
        return
    links = event["links"]
    if isinstance(response.get("access_token"), str):
        links["access_token"] = fingerprint(response["access_token"])
        event["token"] = jwt_summary(response["access_token"])
        if isinstance(response.get("expires_in"), int):
            event["params"]["expires_in"] = response["expires_in"]
        if isinstance(response.get("scope"), str):
            event["params"]["granted_scope"] = response["scope"]
    if isinstance(response.get("refresh_token"), str):
        links["issued_refresh_token"] = fingerprint(response["refresh_token"])


def _oauth_error(event: Event, response: Any) -> None:
    if isinstance(response, dict) and isinstance(response.get("error"), str):
        event["error"] = response["error"][:100]
        if isinstance(response.get("error_description"), str):
            event["error_description"] = response["error_description"][:500]


def _page_error(event: Event, body: bytes | None) -> None:
    text = (body or b"").decode("utf-8", "replace")
    title, message = _PAGE_TITLE.search(text), _PAGE_MESSAGE.search(text)
    if title:
        event["error"] = html.unescape(title.group(1).strip())[:200]
    if message:
        event["error_description"] = html.unescape(message.group(1).strip())[:500]


def _jsonrpc_request(event: Event, message: Any) -> None:
    if not isinstance(message, dict):
        return
    params = event["params"]
    if isinstance(message.get("method"), str):
        params["jsonrpc_method"] = message["method"][:100]
    body_params = message.get("params")
    if not isinstance(body_params, dict):
        return
    if message.get("method") == "tools/call" and isinstance(body_params.get("name"), str):
        params["tool"] = body_params["name"][:100]
    if isinstance(body_params.get("protocolVersion"), str):
        params["protocol_version"] = body_params["protocolVersion"][:40]
    info = body_params.get("clientInfo")
    meta = body_params.get("_meta")
    if not isinstance(info, dict) and isinstance(meta, dict):
        info = meta.get("io.modelcontextprotocol/clientInfo")
    if isinstance(info, dict) and isinstance(info.get("name"), str):
        event["client_name"] = info["name"][:200]


def _jsonrpc_response(event: Event, message: Any) -> None:
    if not isinstance(message, dict):
        return
    error = message.get("error")
    if isinstance(error, dict):
        event["error"] = f"JSON-RPC {error.get('code')}"
        if isinstance(error.get("message"), str):
            event["error_description"] = error["message"][:500]
        return
    result = message.get("result")
    if not isinstance(result, dict) or result.get("isError") is not True:
        return
    meta = result.get("_meta")
    challenge = meta.get("mcp/www_authenticate") if isinstance(meta, dict) else None
    if isinstance(challenge, list):
        challenge = " ".join(str(item) for item in challenge)
    if isinstance(challenge, str):
        # ChatGPT's form of the challenge: HTTP 200, the WWW-Authenticate value in the tool result.
        event["www_authenticate"] = challenge[:1000]
        event["params"]["challenge_in"] = "tool result"
    else:
        event["error"] = "tool error"


def _bearer(event: Event, headers: dict[str, str], query: dict[str, str]) -> None:
    authorization = headers.get("authorization", "")
    token = authorization[7:].strip() if authorization[:7].lower() == "bearer " else None
    if token is None and "access_token" in query:
        token = query["access_token"]
        event["params"]["bearer_in"] = "query"
    if not token:
        return
    event["links"]["bearer"], cached = _token_facts(token)
    summary = dict(cached) if cached is not None else None  # a copy: the cached one is shared
    event["token"] = summary
    if summary and isinstance(summary.get("client_id"), str):
        event["client_id"] = summary["client_id"]


def remote_address(headers: dict[str, str], peer: str | None) -> str | None:
    """The client's address as a proxy reports it: the first ``X-Forwarded-For`` entry, else the peer."""
    forwarded = headers.get("x-forwarded-for", "").split(",")[0].strip()
    return forwarded[:100] or peer


def to_event(exchange: Exchange) -> Event:
    """The trace event of ``exchange``: what it asked and what it got, without any secret."""
    headers = _headers(exchange.headers)
    response_headers = _headers(exchange.response_headers)
    query = (
        dict(parse_qsl(exchange.query.decode("latin-1"), keep_blank_values=True)) if exchange.query else {}
    )
    event: Event = {
        "time": exchange.time,
        "server": exchange.server,
        "client_id": None,
        "client_name": None,
        "user_agent": headers.get("user-agent", "")[:300] or None,
        "remote": remote_address(headers, exchange.peer),
        "method": exchange.method,
        "path": exchange.path[:300],
        "host": headers.get("x-forwarded-host", headers.get("host", ""))[:200] or None,
        "status": exchange.status,
        "duration_ms": int(exchange.duration * 100_000) / 100,
        "params": {},
        "links": {},
        "token": None,
        "error": None,
        "error_description": None,
        "www_authenticate": response_headers.get("www-authenticate"),
    }
    request_type = headers.get("content-type", "")
    response_type = response_headers.get("content-type", "")
    body = exchange.response_body or b""
    # A successful MCP answer is parsed only if it may carry an error (it can be long: a tool's output).
    worth_parsing = (
        exchange.server == "as"
        or exchange.status >= 400
        or exchange.path.startswith("/.well-known/")
        or _MAY_BE_ERROR.search(body) is not None
    )
    response_json = _json(body) if "json" in response_type and worth_parsing else None
    if exchange.server == "as":
        form = _form(exchange.request_body) if "form" in request_type else {}
        _oauth_request(event, headers, query, form)
        if exchange.path == "/oauth2/register" and exchange.method == "POST":
            _registration(event, _json(exchange.request_body), response_json)
        if "location" in response_headers:
            _location_details(response_headers["location"], event)
        if exchange.path == "/oauth2/token" and exchange.status == 200:
            _token_response(event, response_json)
            event["client_id"] = event["client_id"] or (event["token"] or {}).get("client_id")
        if exchange.status >= 400:
            _oauth_error(event, response_json)
            if "html" in response_type:
                _page_error(event, exchange.response_body)
    else:
        _bearer(event, headers, query)
        if event["path"].startswith("/.well-known/oauth-protected-resource") and isinstance(
            response_json, dict
        ):
            if isinstance(response_json.get("resource"), str):
                event["params"]["prm_resource"] = response_json["resource"][:300]
            servers = response_json.get("authorization_servers")
            if isinstance(servers, list):
                event["params"]["authorization_servers"] = [str(server)[:300] for server in servers[:5]]
        if exchange.method == "POST" and "json" in request_type:
            _jsonrpc_request(event, _json(exchange.request_body))
        _jsonrpc_response(event, response_json)
        if "mcp-protocol-version" in headers:
            event["params"].setdefault("protocol_version", headers["mcp-protocol-version"][:40])
        session = headers.get("mcp-session-id") or response_headers.get("mcp-session-id")
        if session:
            event["params"]["session"] = session[:SESSION_PREFIX_CHARS] + "…"
    if event["www_authenticate"]:
        challenge = challenge_params(event["www_authenticate"])
        event["error"] = event["error"] or challenge.get("error")
        event["error_description"] = event["error_description"] or challenge.get("error_description")
        if challenge.get("scope"):
            event["params"]["challenge_scope"] = challenge["scope"]
    event["step"] = step = step_of(exchange.server, exchange.method, exchange.path, event["params"])
    event["rfc"] = STEPS[step].rfc
    return event
