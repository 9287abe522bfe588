"""The OAuth client flow of an MCP client, once: discovery → client id → authorization → tokens.

:mod:`mcp_oauth_demo.oauth_client` sends one protocol message per function; this module
puts them in the order an MCP client follows (MCP authorization, "Authorization Flow Steps")
and checks each answer the way a careful client must:

1. **discovery** — the protected resource metadata names the authorization server
   (RFC 9728 §3), whose metadata must carry exactly that ``issuer`` (RFC 8414 §3.3);
2. **a client id** — registered by RFC 7591 (``register``), or a Client ID Metadata
   Document URL the client already has (CIMD: then there is nothing to send);
3. **the authorization request** — PKCE S256 (RFC 7636 §4), a fresh ``state`` and the
   ``resource`` (RFC 8707 §2.1); the user's part is played by :mod:`mcp_oauth_demo.user_agent`;
   the redirect must come back to our ``redirect_uri`` with our ``state`` (RFC 6749 §10.12)
   and the AS's ``iss`` (RFC 9207 §2.4);
4. **the code exchange** (RFC 6749 §4.1.3), and later **refresh** (§6).

:func:`sign_in` runs all of it; its ``on_step`` hook gets each step's name and duration, which
is how the benchmarks time the flow. The doctor, the benchmarks and the tests use it; the
walkthrough keeps its explicit steps because it is the lesson.
Every function takes an ``httpx.Client`` — a starlette ``TestClient`` is one — and raises
:class:`~mcp_oauth_demo.oauth_client.ProtocolError` on an answer a client cannot go on from.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from mcp_oauth_demo import oauth_client as oc
from mcp_oauth_demo import user_agent
from mcp_oauth_demo.constants import DEMO_PASSWORD, DEMO_SCOPE, DEMO_USERNAME
from shared.pkce import make_pair

# RFC 8252 §7.3 loopback redirect on the discard port: the user agent stops at the redirect,
# so nothing needs to listen there.
UNFOLLOWED_REDIRECT_URI = "http://127.0.0.1:9/callback"

StepHook = Callable[[str, float], None]


# -- 1. discovery ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Discovery:
    """What a client knows after discovery: the resource, its authorization server and its metadata."""

    resource: str
    issuer: str
    metadata: dict[str, Any]

    def endpoint(self, name: str) -> str:
        value = self.metadata.get(name)
        if not value:
            raise oc.ProtocolError(f"the authorization server metadata of {self.issuer} has no {name}")
        return str(value)


def discover_issuer(http: httpx.Client, issuer: str, resource: str) -> Discovery:
    """RFC 8414 §3: the AS metadata, whose ``issuer`` must be the one asked for (§3.3)."""
    metadata = oc.json_body(
        oc.get_json(http, oc.well_known_url(issuer, "oauth-authorization-server")),
        "authorization server metadata",
    )
    if metadata.get("issuer") != issuer:
        raise oc.ProtocolError(
            f"the metadata of {issuer} names issuer {metadata.get('issuer')!r} "
            "(RFC 8414 §3.3: they must be equal)"
        )
    return Discovery(resource=resource, issuer=issuer, metadata=metadata)


def discover(http: httpx.Client, mcp_url: str) -> Discovery:
    """RFC 9728 §3: the protected resource metadata (path-aware URL), then its first AS."""
    prm_url = oc.well_known_url(mcp_url, "oauth-protected-resource")
    prm = oc.json_body(oc.get_json(http, prm_url), "protected resource metadata")
    servers = prm.get("authorization_servers") or []
    if not servers:
        raise oc.ProtocolError(f"the protected resource metadata of {mcp_url} names no authorization_servers")
    return discover_issuer(http, str(servers[0]), str(prm.get("resource") or mcp_url))


# -- 2. a client id ---------------------------------------------------------------------------
def register(
    http: httpx.Client, discovery: Discovery, *, client_name: str, redirect_uri: str, scope: str = DEMO_SCOPE
) -> str:
    """RFC 7591 §3: register a public client; returns its ``client_id``."""
    response = oc.register_client(
        http, discovery.endpoint("registration_endpoint"), redirect_uri, name=client_name, scope=scope
    )
    body = oc.json_body(response, "client registration")
    if "client_id" not in body:
        raise oc.ProtocolError(f"registration refused: {body.get('error_description') or body}")
    return str(body["client_id"])


# -- 3. the authorization request and its response ------------------------------------------
@dataclass(frozen=True)
class AuthorizationRequest:
    """One authorization request: the URL, and what the client keeps for the response and the exchange."""

    url: str
    client_id: str
    redirect_uri: str
    state: str
    code_verifier: str
    resource: str
    issuer: str


def authorization_request(
    discovery: Discovery, *, client_id: str, redirect_uri: str, scope: str = DEMO_SCOPE
) -> AuthorizationRequest:
    """A fresh PKCE pair (RFC 7636 §4.1–4.2) and ``state``, and the URL that carries them."""
    verifier, challenge = make_pair()
    state = secrets.token_urlsafe(16)
    url = oc.authorization_url(
        discovery.endpoint("authorization_endpoint"),
        client_id=client_id,
        redirect_uri=redirect_uri,
        code_challenge=challenge,
        state=state,
        resource=discovery.resource,
        scope=scope,
    )
    return AuthorizationRequest(
        url, client_id, redirect_uri, state, verifier, discovery.resource, discovery.issuer
    )


def code_from_redirect(request: AuthorizationRequest, location: str) -> str:
    """Check the authorization response (RFC 6749 §4.1.2, RFC 9207 §2.4) and return its code."""
    parts = urlsplit(location)
    if f"{parts.scheme}://{parts.netloc}{parts.path}" != request.redirect_uri:
        raise oc.ProtocolError(f"the AS redirected to {location}, not to {request.redirect_uri}")
    params = dict(parse_qsl(parts.query))
    if "error" in params:
        raise oc.ProtocolError(
            f"the AS redirected with error={params['error']!r} {params.get('error_description', '')}".strip()
        )
    if params.get("state") != request.state:
        raise oc.ProtocolError(f"the redirect's state {params.get('state')!r} is not ours (RFC 6749 §10.12)")
    if params.get("iss") != request.issuer:
        raise oc.ProtocolError(
            f"the redirect's iss {params.get('iss')!r} is not {request.issuer!r} (RFC 9207 §2.4)"
        )
    if not params.get("code"):
        raise oc.ProtocolError(f"the redirect {location} carries no code")
    return params["code"]


def play_user(
    http: httpx.Client,
    request: AuthorizationRequest,
    *,
    username: str = DEMO_USERNAME,
    password: str = DEMO_PASSWORD,
) -> str:
    """Sign in and approve with the httpx user agent; returns the checked code."""
    answer = user_agent.sign_in(http, request.url, username=username, password=password)
    return code_from_redirect(request, answer.redirect_url)


# -- 4. tokens --------------------------------------------------------------------------------
def _token_response(response: httpx.Response, what: str) -> dict[str, Any]:
    tokens = oc.json_body(response, what)
    if "access_token" not in tokens:
        raise oc.ProtocolError(f"the token request was refused: {tokens.get('error_description') or tokens}")
    if str(tokens.get("token_type", "")).lower() != "bearer":
        raise oc.ProtocolError(f"the token response has token_type {tokens.get('token_type')!r}, not Bearer")
    return tokens


def exchange(
    http: httpx.Client, discovery: Discovery, request: AuthorizationRequest, code: str
) -> dict[str, Any]:
    """RFC 6749 §4.1.3 with the PKCE verifier (RFC 7636 §4.5); returns the token response."""
    response = oc.exchange_code(
        http,
        discovery.endpoint("token_endpoint"),
        client_id=request.client_id,
        code=code,
        redirect_uri=request.redirect_uri,
        code_verifier=request.code_verifier,
        resource=request.resource,
    )
    return _token_response(response, "token response")


def refresh(
    http: httpx.Client, discovery: Discovery, *, client_id: str, refresh_token: str, scope: str | None = None
) -> dict[str, Any]:
    """RFC 6749 §6, for the same resource (RFC 8707 §2.2); returns the new token response."""
    response = oc.refresh(
        http,
        discovery.endpoint("token_endpoint"),
        client_id=client_id,
        refresh_token=refresh_token,
        resource=discovery.resource,
        scope=scope,
    )
    return _token_response(response, "refresh response")


# -- all of it ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignedIn:
    """The end of the flow: who the client is, what it asked for and the tokens it got."""

    discovery: Discovery
    client_id: str
    request: AuthorizationRequest
    tokens: dict[str, Any]

    @property
    def access_token(self) -> str:
        return str(self.tokens["access_token"])

    @property
    def refresh_token(self) -> str | None:
        token = self.tokens.get("refresh_token")
        return str(token) if token else None


def sign_in(
    http: httpx.Client,
    target: str | Discovery,
    *,
    client_name: str,
    scope: str = DEMO_SCOPE,
    redirect_uri: str = UNFOLLOWED_REDIRECT_URI,
    client_id: str | None = None,
    browser: httpx.Client | None = None,
    on_step: StepHook | None = None,
) -> SignedIn:
    """The whole flow for the demo user, against an MCP URL or an already done :class:`Discovery`.

    ``client_id`` (a CIMD URL) skips registration; ``browser`` is the user's own client (its
    own cookie jar), ``http`` by default; ``on_step(name, seconds)`` follows each step.
    """
    clock = time.perf_counter
    started = clock()

    def done(step: str) -> None:
        nonlocal started
        if on_step is not None:
            on_step(step, clock() - started)
        started = clock()

    discovery = target if isinstance(target, Discovery) else discover(http, target)
    done("discovery")
    if client_id is None:
        client_id = register(http, discovery, client_name=client_name, redirect_uri=redirect_uri, scope=scope)
        done("register (DCR)")
    request = authorization_request(discovery, client_id=client_id, redirect_uri=redirect_uri, scope=scope)
    code = play_user(browser or http, request)
    done("authorize+login+consent")
    tokens = exchange(http, discovery, request, code)
    done("token")
    return SignedIn(discovery, client_id, request, tokens)
