"""The resource server, assembled: an MCP server behind OAuth 2.1 (MCP authorization, 2026-07-28).

Requests meet, from the outside in — :func:`create_app` lists them in this order:

1. :class:`~shared.trace.middleware.TraceMiddleware` — records each protocol exchange for the
   AS's ``/trace`` view, without secrets (``TRACE=off`` turns it off);
2. :class:`~resource_server.security_headers.SecurityHeaders` — ``nosniff`` on every answer,
   no framing of the RS's HTML pages (clickjacking);
3. CORS (Starlette's ``CORSMiddleware``: any origin, no credentials), so browser clients such as
   MCP Inspector can read answers and the ``WWW-Authenticate`` header;
4. the routes, whose paths are :mod:`resource_server.paths`. On ``/mcp``:

   a. :class:`~resource_server.mcp_transport.McpFrontDoor` — DNS-rebinding protection
      (``Host``/``Origin``) and media-type tolerance;
   b. :class:`~resource_server.mcp_requests.McpRequestReader` — reads the bearer token and the
      JSON-RPC body once, refuses what is malformed, leaves an ``McpRequest`` for the layers behind;
   c. :class:`~resource_server.authorization.ToolAuthorization` — per-tool OAuth policy
      (declared in :mod:`resource_server.tool_policies`), the token check
      (:mod:`resource_server.token_verifier`), challenges (:mod:`resource_server.challenges`);
   d. :class:`~resource_server.mcp_sessions.SessionRouter` — the stateful or the stateless
      session manager, and who owns a session;
   e. the official ``mcp`` SDK's streamable-HTTP transport, which owns JSON-RPC and every
      protocol revision it speaks (2025-06-18 and 2025-11-25 with ``initialize``, 2026-07-28
      with ``server/discover``), and runs the tools of :mod:`resource_server.tools`.

   Beside ``/mcp``: the RFC 9728 metadata (:mod:`resource_server.protected_resource_metadata`),
   the widget preview (:mod:`resource_server.widget`) and a small index page.

MCP sessions (``Mcp-Session-Id``) are issued on ``initialize`` when the RS runs as a single
process, and every request without one is served statelessly; with several workers no sessions
are issued at all. A session used with a token belongs to that user, and only they may end it
(:mod:`resource_server.mcp_sessions` explains both).

``app = create_app()`` reads the settings but does no I/O: the notes database opens and the
JWKS is fetched only once the app runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from shared.settings import Settings, get_settings
from shared.trace.middleware import TraceMiddleware

from .authorization import ToolAuthorization
from .jwks_cache import JwksCache
from .mcp_requests import McpRequestReader
from .mcp_sessions import SessionRouter
from .mcp_transport import McpFrontDoor, transport_security
from .paths import INDEX_PATH, MCP_PATH, WIDGET_PATH
from .protected_resource_metadata import metadata_routes
from .security_headers import SecurityHeaders
from .token_verifier import TokenVerifier
from .tools import ServerState, build_mcp_server
from .widget import widget_preview

if TYPE_CHECKING:
    import httpx

CORS_ALLOW_HEADERS = [
    "Authorization",
    "Content-Type",
    "Mcp-Session-Id",
    "Mcp-Protocol-Version",
    "Last-Event-ID",
    "Mcp-Method",
    "Mcp-Name",
]
CORS_EXPOSE_HEADERS = ["WWW-Authenticate", "Mcp-Session-Id"]


def create_app(
    settings: Settings | None = None, *, http_client: httpx.AsyncClient | None = None
) -> Starlette:
    """The RS as an ASGI app. ``http_client`` is what fetches the AS metadata and JWKS (tests inject one)."""
    settings = settings or get_settings()
    state = ServerState(settings)
    server, policies = build_mcp_server(settings, state)
    security = transport_security(settings)
    # Creates the SDK's stateless session manager; its own Starlette wrapper is not used — /mcp is
    # routed below. Answers are plain JSON (json_response=True), which every client accepts.
    server.streamable_http_app(
        streamable_http_path=MCP_PATH, stateless_http=True, json_response=True, transport_security=security
    )
    stateless = server.session_manager
    sessions = (
        StreamableHTTPSessionManager(
            app=server._lowlevel_server,  # the SDK offers no public handle for a second manager
            json_response=True,
            security_settings=security,
        )
        if settings.mcp_sessions_enabled
        else None
    )
    managers = [manager for manager in (stateless, sessions) if manager is not None]

    jwks = (
        None
        if settings.jwt_alg == "HS256"
        else JwksCache(
            issuer=settings.auth_issuer,
            metadata_url=settings.as_metadata_url,
            algorithm=settings.jwt_alg,
            http_client=http_client,
        )
    )
    verifier = TokenVerifier(settings, jwks)
    router = SessionRouter(
        stateless, sessions, verifier=verifier, resource_metadata_url=settings.rs_metadata_url
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # The notes store opens first and closes last; each session manager then runs the MCP
        # server's lifespan, which hands the tools that one store.
        async with AsyncExitStack() as stack:
            await state.open()
            stack.push_async_callback(state.close)
            for manager in managers:
                await stack.enter_async_context(manager.run())
            try:
                yield
            finally:
                if jwks is not None:
                    await jwks.aclose()

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(_index_page(settings))

    # Both lists read in the order a request meets them (the module docstring numbers them).
    # Starlette, not FastAPI: importing FastAPI was most of the RS's cold start above the plain
    # SDK server's (bench/README.md, "Peers").
    app = Starlette(
        middleware=[
            Middleware(TraceMiddleware, server="rs", settings=settings),  # outermost: records every exchange
            Middleware(SecurityHeaders),  # so CORS preflights and errors get it too
            Middleware(
                CORSMiddleware,
                allow_origins=["*"],
                allow_credentials=False,
                allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                allow_headers=CORS_ALLOW_HEADERS,
                expose_headers=CORS_EXPOSE_HEADERS,
                max_age=600,
            ),
        ],
        routes=[
            # No methods: the endpoint is exactly /mcp, for every HTTP method the transport defines.
            Route(
                MCP_PATH,
                router,
                middleware=[
                    Middleware(McpFrontDoor, security),
                    Middleware(McpRequestReader, resource_metadata_url=settings.rs_metadata_url),
                    Middleware(
                        ToolAuthorization,
                        policies=policies,
                        verifier=verifier,
                        challenge_setting=settings.tool_auth_challenge,
                        resource_metadata_url=settings.rs_metadata_url,
                    ),
                ],
            ),
            *metadata_routes(settings),
            Route(WIDGET_PATH, widget_preview, methods=["GET"]),
            Route(INDEX_PATH, index, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.mcp_server = server
    app.state.policies = policies
    app.state.verifier = verifier
    app.state.session_owners = router.owners  # None when no sessions are issued
    app.state.jwks = jwks  # jwks.as_request_count: requests sent to the AS (None in HS256 mode)
    return app


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """A routing error (unknown path: 404, wrong method: 405) as JSON, like every other answer here."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _index_page(settings: Settings) -> str:
    mcp_url = settings.rs_base_url + MCP_PATH
    return f"""<!doctype html><meta charset="utf-8"><title>mcp-oauth-demo resource server</title>
<h1>mcp-oauth-demo resource server</h1>
<p>An MCP server protected by OAuth 2.1.
Connect an MCP client (Streamable HTTP) to <code>{mcp_url}</code>.</p>
<ul>
<li><a href="{settings.rs_metadata_url}">Protected resource metadata</a> (RFC 9728)</li>
<li>Authorization server: <a href="{settings.as_metadata_url}">{settings.auth_issuer}</a> (RFC 8414)</li>
<li><a href="{WIDGET_PATH}">Widget preview</a></li>
</ul>"""


app = create_app()
