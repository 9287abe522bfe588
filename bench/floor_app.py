"""The cold-start floor: the smallest FastAPI app on uvicorn, optionally after importing the MCP SDK.

:mod:`bench.cold_start` starts this beside the real servers so that a reader can tell the
demo's own start-up cost from what Python, FastAPI and uvicorn (and, for the RS, the ``mcp``
SDK) cost before any line of the demo runs. ``FLOOR_IMPORT_MCP=1`` adds the SDK import the
RS cannot do without; ``FLOOR_PORT`` is the port.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

if os.environ.get("FLOOR_IMPORT_MCP") == "1":
    import mcp.server.streamable_http_manager  # noqa: F401 — what every MCP server imports

app = FastAPI(openapi_url=None)


@app.get("/ready")
async def ready() -> dict[str, bool]:
    return {"ok": True}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["FLOOR_PORT"]), log_level="warning")
