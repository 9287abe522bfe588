"""Access tokens for the benchmarks: through the real flow, or minted by a stub AS.

* :func:`oauth_dance` is :func:`mcp_oauth_demo.flow.sign_in` — discovery, DCR, the authorization
  request with PKCE, login and consent by the httpx user agent, the code exchange — timed per
  step, plus the first authed tool call: no shortcut that mints tokens behind the AS's back.
* Benches 1b and 2 run the RS in process against a stub AS (:func:`stub_as`), whose tokens
  :func:`stub_token` signs with the stub's key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from mcp_oauth_demo import flow
from mcp_oauth_demo import oauth_client as oc
from mcp_oauth_demo.constants import RESOURCE_SCOPE
from mcp_oauth_demo.launcher import Pair
from shared.jwks import SigningKey, jwks_document
from shared.settings import Settings, load_settings
from shared.tokens import mint_access_token


# -- the OAuth flow ------------------------------------------------------------------------------
@dataclass
class Dance:
    """One full OAuth + MCP flow: the access token and the seconds each step took."""

    access_token: str
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.steps.values())


def oauth_dance(
    pair: Pair, http: httpx.Client, *, client_name: str = "bench", scope: str = RESOURCE_SCOPE
) -> Dance:
    """Discovery → DCR → authorize → login → consent → token → first authed tool call.

    Every step is one or more real HTTP exchanges with the servers on loopback, as an MCP
    client does them (:func:`mcp_oauth_demo.flow.sign_in`, timed through its ``on_step`` hook);
    raises :class:`mcp_oauth_demo.oauth_client.ProtocolError` on any surprise.
    """
    steps: dict[str, float] = {}
    signed_in = flow.sign_in(
        http, pair.mcp_url, client_name=client_name, scope=scope, on_step=steps.__setitem__
    )
    started = time.perf_counter()
    session = oc.McpSession(http, pair.mcp_url, access_token=signed_in.access_token)
    session.initialize(client_name)
    response, message = session.call_tool("notes_list", {})
    if response.status_code != 200 or message.get("result", {}).get("isError"):
        raise oc.ProtocolError(f"the first authed tool call failed: HTTP {response.status_code} {message}")
    steps["first tool call"] = time.perf_counter() - started
    return Dance(access_token=signed_in.access_token, steps=steps)


def obtain_token(pair: Pair, *, client_name: str = "bench") -> str:
    with httpx.Client(timeout=10) as http:
        return oauth_dance(pair, http, client_name=client_name).access_token


# -- the RS in process, against a stub AS (benches 1b and 2) -------------------------------------
STUB_ISSUER = "http://127.0.0.1:4000"
STUB_RS_BASE = "http://127.0.0.1:3000"
STUB_SCOPE = RESOURCE_SCOPE


def stub_as(key: SigningKey) -> httpx.AsyncClient:
    """An HTTP client whose "AS" serves RFC 8414 metadata and a JWK Set holding ``key``."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/oauth-authorization-server":
            return httpx.Response(200, json={"issuer": STUB_ISSUER, "jwks_uri": STUB_ISSUER + "/oauth2/jwks"})
        return httpx.Response(200, json=jwks_document([key]))

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


def stub_settings(data_dir: Path, *, alg: str = "ES256", secret: str | None = None, store: str) -> Settings:
    """RS settings for a stub AS; a developer's ``.env`` is ignored."""
    return load_settings(
        _env_file=None,
        auth_issuer=STUB_ISSUER,
        rs_base_url=STUB_RS_BASE,
        jwt_alg=alg,
        jwt_secret=secret,
        data_dir=data_dir,
        store=store,
        tool_auth_challenge="http",
    )


def stub_token(key: SigningKey, settings: Settings, subject: str = "alex") -> str:
    """An access token for the RS of ``settings``, signed with ``key`` as the stub AS would."""
    token, _ = mint_access_token(
        key,
        issuer=STUB_ISSUER,
        subject=subject,
        audience=settings.mcp_resource,
        client_id="bench",
        scope=STUB_SCOPE,
        ttl_sec=3600,
        extra_claims={"name": "Alex", "email": "alex@example.com"},
    )
    return token
