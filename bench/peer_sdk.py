"""A peer for :mod:`bench.peers`: the plain ``mcp`` SDK server a user would write instead of this RS.

``MCPServer`` with the SDK's own resource-server auth (``mcp.server.auth``): the SDK's
``BearerAuthBackend`` and ``RequireAuthMiddleware`` in front of ``/mcp``, fed by a
``TokenVerifier`` that checks the demo AS's ES256 access tokens with PyJWT — signature with the
key for the token's ``kid`` from the AS's JWK Set (``PyJWKClient``, keys cached), ``iss``,
``aud``, ``exp``. One tool, ``auth_whoami``, returns the caller's claims, as the RS's tool of the
same name does. No per-tool policy, no verified-token cache: what the SDK offers out of the box.

Environment (set by :mod:`bench.peers`): ``PEER_PORT``; ``PEER_AUTH=0`` for the same server
without auth (the tool then answers with fixed claims); ``PEER_ISSUER``, ``PEER_JWKS_URI`` and
``PEER_AUDIENCE`` for the token checks; ``BENCH_GC_STATS=1`` adds :mod:`bench.gc_stats`'s
``GET /bench/gc``. ``GET /ready`` answers 200 once the server listens.

The SDK's per-request INFO log is turned down to WARNING, as the RS does, so the rows compare
the servers rather than their logging.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import jwt
import uvicorn
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse

REQUIRED_SCOPE = "profile:read"


class WhoAmI(BaseModel):
    sub: str
    name: str | None
    email: str | None
    client_id: str
    scopes: list[str]
    expires_at: str
    expires_at_epoch: int


def who_am_i(claims: dict[str, object]) -> WhoAmI:
    """The tool's answer from a token's claims (shared with :mod:`bench.peer_fastmcp`)."""
    exp = int(claims["exp"])  # type: ignore[call-overload]
    name, email = claims.get("name"), claims.get("email")
    return WhoAmI(
        sub=str(claims["sub"]),
        name=name if isinstance(name, str) else None,
        email=email if isinstance(email, str) else None,
        client_id=str(claims.get("client_id", "")),
        scopes=str(claims.get("scope", "")).split(),
        expires_at=datetime.fromtimestamp(exp, UTC).isoformat().replace("+00:00", "Z"),
        expires_at_epoch=exp,
    )


ANONYMOUS_CLAIMS: dict[str, object] = {
    "sub": "anonymous",
    "client_id": "none",
    "scope": "",
    "exp": 4_102_444_800,  # 2100-01-01
}


class PyJwtVerifier:
    """The SDK's ``TokenVerifier`` protocol over PyJWT: ES256 signature, ``iss``, ``aud``, ``exp``."""

    def __init__(self, *, jwks_uri: str, issuer: str, audience: str) -> None:
        self.keys = jwt.PyJWKClient(jwks_uri, cache_keys=True)
        self.issuer = issuer
        self.audience = audience

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            key = self.keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["ES256"],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError:
            return None
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id", "")),
            scopes=str(claims.get("scope", "")).split(),
            expires_at=int(claims["exp"]),
            subject=str(claims["sub"]),
            claims=claims,
        )


def build() -> MCPServer:
    authed = os.environ.get("PEER_AUTH", "1") == "1"
    if authed:
        audience = os.environ["PEER_AUDIENCE"]
        server = MCPServer(
            "peer-sdk",
            log_level="WARNING",
            token_verifier=PyJwtVerifier(
                jwks_uri=os.environ["PEER_JWKS_URI"], issuer=os.environ["PEER_ISSUER"], audience=audience
            ),
            auth=AuthSettings(
                issuer_url=os.environ["PEER_ISSUER"],
                resource_server_url=audience,
                required_scopes=[REQUIRED_SCOPE],
                validate_token_resource=False,  # the verifier checks `aud` itself
            ),
        )
    else:
        server = MCPServer("peer-sdk-anon", log_level="WARNING")

    @server.tool(name="auth_whoami", description="The caller's id, name, email, client, scopes and expiry.")
    async def auth_whoami() -> WhoAmI:
        token = get_access_token()
        return who_am_i((token.claims or {}) if token else ANONYMOUS_CLAIMS)

    @server.custom_route("/ready", methods=["GET"])
    async def ready(_: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    if os.environ.get("BENCH_GC_STATS") == "1":  # for bench.gc_pauses
        from bench.gc_stats import GC_STATS_PATH, GcRecorder, stats_endpoint

        server.custom_route(GC_STATS_PATH, methods=["GET"])(stats_endpoint(GcRecorder().install()))
    return server


def main() -> None:
    app = build().streamable_http_app(stateless_http=True, json_response=True)
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PEER_PORT"]), server_header=False)


if __name__ == "__main__":
    main()
