"""The resource server as it ships, plus one bare Starlette JSON route: the throughput ceiling.

:mod:`bench.rs_throughput` needs "a bare endpoint in the same process" to show what the HTTP
stack (uvicorn + Starlette) costs before MCP and OAuth do any work. Adding that
route to the shipped app would put benchmark code in production, so this module builds the
unchanged app with :func:`resource_server.app.create_app` and appends ``GET /bench/ceiling``
here. Everything else — middleware, ``/mcp``, the token verifier — is the real RS.

``python -m bench.rs_app`` runs it like ``python -m resource_server`` does: ``WEB_CONCURRENCY``
sets uvicorn's worker count, and the garbage collector is tuned the same way (``RS_GC_TUNING``).
Imports are inside the functions on purpose: uvicorn's workers are *spawned* and re-import this
``__main__`` module before they answer the supervisor's 5-second health check, so it must stay
light (as ``resource_server/__main__.py`` is).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request

    from shared.settings import Settings


def build(settings: Settings | None = None, http_client: httpx.AsyncClient | None = None) -> Starlette:
    """The shipped RS plus ``GET /bench/ceiling`` (arguments as :func:`create_app`'s)."""
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from resource_server.app import create_app

    app = create_app(settings, http_client=http_client)

    async def ceiling(_: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app.router.routes.append(Route("/bench/ceiling", ceiling, methods=["GET"]))
    return app


def served() -> Starlette:
    """uvicorn's factory: :func:`build` with the settings of the environment, GC tuned as the RS's.

    With ``BENCH_GC_STATS=1``, ``GET /bench/gc`` also tells what the garbage collector did
    (:mod:`bench.gc_stats`, read by :mod:`bench.gc_pauses`).
    """
    import os

    from resource_server.__main__ import start_up_heap_frozen
    from shared.settings import get_settings

    with start_up_heap_frozen(get_settings().rs_gc_tuning):
        app = build()
    if os.environ.get("BENCH_GC_STATS") == "1":
        from bench.gc_stats import GcRecorder, stats_route

        app.router.routes.append(stats_route(GcRecorder().install()))
    return app


def main() -> None:
    import uvicorn

    from shared.settings import get_settings

    settings = get_settings()
    uvicorn.run(
        "bench.rs_app:served",
        factory=True,  # built in each worker, and not twice in this process
        host=settings.rs_host,
        port=settings.rs_port,
        proxy_headers=True,
        server_header=False,
    )


if __name__ == "__main__":
    main()
