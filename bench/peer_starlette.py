"""A peer for :mod:`bench.peers`: one bare Starlette route, the floor under every MCP server.

``POST /mcp`` reads the JSON body the load generator sends and answers a fixed JSON-RPC result
with the shape of ``auth_whoami``'s — no MCP, no auth: what uvicorn + Starlette + one JSON
parse and one JSON dump cost in a process of their own. ``GET /ready`` answers 200 once the
server listens. Environment: ``PEER_PORT``.
"""

from __future__ import annotations

import json
import os

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ANSWER = {
    "content": [{"type": "text", "text": "You are anonymous."}],
    "structuredContent": {"sub": "anonymous", "client_id": "none", "scopes": []},
    "isError": False,
}


async def mcp(request: Request) -> JSONResponse:
    message = json.loads(await request.body())
    return JSONResponse({"jsonrpc": "2.0", "id": message.get("id"), "result": ANSWER})


async def ready(_: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


app = Starlette(routes=[Route("/mcp", mcp, methods=["POST"]), Route("/ready", ready, methods=["GET"])])


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PEER_PORT"]), server_header=False)
