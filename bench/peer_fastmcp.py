"""A peer for :mod:`bench.peers`: FastMCP 4 with its ``JWTVerifier``, the other server users pick.

``FastMCP(auth=JWTVerifier(...))`` checks the demo AS's ES256 access tokens against the AS's
JWK Set (``jwks_uri``), ``iss`` and ``aud``, and requires ``profile:read``; the one tool,
``auth_whoami``, returns the caller's claims through ``get_access_token()`` — the same work
as the RS's tool and :mod:`bench.peer_sdk`'s. Stateless HTTP with JSON answers, as the RS runs.

FastMCP is not a dependency of this project: install it with ``pip install -e '.[bench]'``.
Environment (set by :mod:`bench.peers`): ``PEER_PORT``, ``PEER_ISSUER``, ``PEER_JWKS_URI``,
``PEER_AUDIENCE``. ``GET /ready`` answers 200 once the server listens.
"""

from __future__ import annotations

import os

# FastMCP logs at INFO by default; WARNING as for the other rows (read when fastmcp is imported).
os.environ.setdefault("FASTMCP_LOG_LEVEL", "WARNING")

import uvicorn
from fastmcp import FastMCP
from fastmcp.server.auth.providers.jwt import JWTVerifier
from fastmcp.server.dependencies import get_access_token
from starlette.requests import Request
from starlette.responses import JSONResponse

from bench.peer_sdk import REQUIRED_SCOPE, WhoAmI, who_am_i


def build() -> FastMCP:
    verifier = JWTVerifier(
        jwks_uri=os.environ["PEER_JWKS_URI"],
        issuer=os.environ["PEER_ISSUER"],
        audience=os.environ["PEER_AUDIENCE"],
        algorithm="ES256",
        required_scopes=[REQUIRED_SCOPE],
    )
    server = FastMCP("peer-fastmcp", auth=verifier)

    @server.tool(name="auth_whoami", description="The caller's id, name, email, client, scopes and expiry.")
    async def auth_whoami() -> WhoAmI:
        token = get_access_token()
        return who_am_i(token.claims if token else {})

    @server.custom_route("/ready", methods=["GET"])
    async def ready(_: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return server


def main() -> None:
    app = build().http_app(path="/mcp", stateless_http=True, json_response=True)
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PEER_PORT"]), server_header=False)


if __name__ == "__main__":
    main()
