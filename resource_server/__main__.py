"""``python -m resource_server``: run the resource server with uvicorn on ``RS_HOST``:``RS_PORT``.

Prints where to point an MCP client and where its OAuth discovery starts (RFC 9728). Set
``WEB_CONCURRENCY=2`` for two worker processes: with several workers the server issues no MCP
sessions, so any worker can answer any request.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import uvicorn

from resource_server.paths import MCP_PATH
from shared.settings import get_settings, startup_warnings, storage_description

if TYPE_CHECKING:
    from starlette.types import ASGIApp


@contextmanager
def start_up_heap_frozen(enabled: bool = True) -> Iterator[None]:
    """Build the app inside this block; the garbage collector then leaves what it built alone.

    Start-up creates ~100,000 objects the collector tracks (most of them the ``mcp`` SDK's and
    pydantic's models), and nearly all of them live as long as the process. Left to Python's
    defaults, CPython's full pass (generation 2) walks every one of them, and under load it
    runs every thousand requests or so: ~0.07–0.1 s each on the benchmark machine, stalling every
    request in flight — a p99 of 14 × p50 at 8 clients. So, when ``enabled``
    (``RS_GC_TUNING``, on by default):

    * no collection runs during the block — they would find almost nothing to free, and cost
      ~10 % of the start-up's CPU;
    * ``gc.freeze()`` at its end moves everything alive to a permanent generation no pass
      walks, so a full pass visits only what requests created (``bench/gc_pauses.py`` shows
      the passes with and without, ``bench/peers.py`` the latencies).

    Cycles created afterwards are collected as always. What is frozen is never freed: for
    start-up objects that costs nothing (the few garbage cycles start-up leaves are ~2 % of them).
    """
    if not enabled:
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def served_app() -> ASGIApp:
    """uvicorn's app factory (in every worker): the RS of :mod:`resource_server.app`, heap frozen."""
    with start_up_heap_frozen(get_settings().rs_gc_tuning):
        from resource_server.app import app
    return app


def main() -> None:
    settings = get_settings()  # a bad configuration ends here, with one line naming the variable
    for warning in startup_warnings(settings):
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    mcp_url = settings.rs_base_url + MCP_PATH
    print(f"MCP endpoint (Streamable HTTP): {mcp_url}", flush=True)
    print(f"Protected resource metadata:    {settings.rs_metadata_url}", flush=True)
    print(f"Authorization server:           {settings.auth_issuer}", flush=True)
    print(f"Storage:                        {storage_description(settings)}", flush=True)
    print(
        "MCP Inspector (Node >= 22.19): npx @modelcontextprotocol/inspector, then Add Servers → "
        f"+ Add manually, transport streamable-http, URL {mcp_url} (README: 'Connect MCP Inspector')",
        flush=True,
    )
    print(
        "ChatGPT / Claude connector: one https tunnel is simplest — `ngrok http 8000`, then "
        "PUBLIC_URL=<its URL> `.venv/bin/mcp-oauth-demo one-url` and <PUBLIC_URL>/mcp as the connector "
        "URL with OAuth (README: 'Connect ChatGPT (or Claude) through ngrok'); check with "
        "`.venv/bin/mcp-oauth-demo doctor`",
        flush=True,
    )
    uvicorn.run(
        "resource_server.__main__:served_app",
        factory=True,  # built in each worker (heap frozen), not in this process when there are several
        host=settings.rs_host,
        port=settings.rs_port,
        proxy_headers=True,
        server_header=False,
    )


if __name__ == "__main__":
    main()
