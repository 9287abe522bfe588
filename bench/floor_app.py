"""The cold-start floor: the smallest app on each server's web stack, on uvicorn.

:mod:`bench.cold_start` starts this beside the real servers so that a reader can tell the
demo's own start-up cost from what Python, the web framework and uvicorn (and, for the RS, the
``mcp`` SDK) cost before any line of the demo runs. The AS is a FastAPI app, so its floor is
the smallest FastAPI app; the RS is a Starlette app over the SDK, so ``FLOOR_IMPORT_MCP=1``
gives the smallest Starlette app after the SDK import the RS cannot do without.
``FLOOR_PORT`` is the port.
"""

from __future__ import annotations

import os

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

if os.environ.get("FLOOR_IMPORT_MCP") == "1":
    import mcp.server.streamable_http_manager  # noqa: F401 — what every MCP server imports
    from starlette.applications import Starlette

    async def ready(_: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/ready", ready, methods=["GET"])])
else:
    from fastapi import FastAPI

    app = FastAPI(openapi_url=None)

    @app.get("/ready")
    async def fastapi_ready() -> dict[str, bool]:
        return {"ok": True}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["FLOOR_PORT"]), log_level="warning")
