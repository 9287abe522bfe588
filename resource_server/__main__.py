"""``python -m resource_server``: run the resource server with uvicorn (SPEC §1, port ``RS_PORT``).

Prints where to point an MCP client and where its OAuth discovery starts (RFC 9728). Set
``WEB_CONCURRENCY=2`` for two worker processes: with several workers the server issues no MCP
sessions, so any worker can answer any request.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

import uvicorn

from shared.settings import get_settings

if TYPE_CHECKING:
    from starlette.types import ASGIApp


def tune_gc() -> None:
    """Keep the garbage collector's full passes short: freeze what start-up left behind.

    Importing the stack leaves ~100,000 objects the collector tracks (most of them the ``mcp``
    SDK's and pydantic's models), and they live as long as the process. CPython's full pass
    (generation 2) walks all of them, and runs every few hundred requests under load: it took
    ~0.1 s on the benchmark machine, stalling every request in flight — a p99 of 14 × p50 at
    8 clients. ``gc.freeze()`` moves them to a permanent generation no pass walks, so a full
    pass only visits what requests created (``bench/peers.py`` shows both, see
    ``RS_GC_TUNING``). Garbage cycles are still collected; nothing frozen is ever freed, which
    for start-up objects costs nothing.
    """
    gc.freeze()


def served_app() -> ASGIApp:
    """uvicorn's app factory (in every worker): the RS of :mod:`resource_server.app`, GC tuned."""
    from resource_server.app import app

    if get_settings().rs_gc_tuning:
        tune_gc()
    return app


def main() -> None:
    settings = get_settings()  # a bad configuration ends here, with one line naming the variable
    mcp_url = settings.rs_base_url + "/mcp"
    print(f"MCP endpoint (Streamable HTTP): {mcp_url}", flush=True)
    print(f"Protected resource metadata:    {settings.rs_metadata_url}", flush=True)
    print(f"Authorization server:           {settings.auth_issuer}", flush=True)
    print(
        "MCP Inspector: npx @modelcontextprotocol/inspector, then choose 'Streamable HTTP' and "
        f"connect to {mcp_url}",
        flush=True,
    )
    print(
        "ChatGPT / Claude connector: expose both servers over https (e.g. ngrok), set RS_BASE_URL and "
        "AUTH_ISSUER to the tunnel URLs, restart, and use <RS_BASE_URL>/mcp as the connector URL "
        "with OAuth; then run `mcp-oauth-demo doctor`",
        flush=True,
    )
    uvicorn.run(
        "resource_server.__main__:served_app",
        factory=True,  # built in each worker, then tune_gc(); not in this process when there are several
        host=settings.rs_host,
        port=settings.rs_port,
        proxy_headers=True,
        server_header=False,
    )


if __name__ == "__main__":
    main()
