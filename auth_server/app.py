"""The authorization server as an ASGI app: ``uvicorn auth_server.app:app --port 4000``.

:func:`create_app` builds a fresh app; nothing touches the disk until the lifespan starts,
so importing this module (or building many apps in tests) is free. The lifespan opens the
store, loads or creates the signing keys and the session secret, and puts everything the
handlers need into ``app.state.auth`` (``context.AuthServer``).

Tests inject ``http_client`` (an ``httpx.AsyncClient`` on an ``httpx.MockTransport``) and
``resolver`` to simulate the hosts of client metadata documents without a network.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from auth_server import (
    authorize,
    consent,
    introspection,
    keys,
    login,
    metadata,
    pages,
    registration,
    revocation,
    token,
)
from auth_server.client_assertions import ClientAssertionVerifier
from auth_server.client_keys import ClientKeySets
from auth_server.client_metadata_documents import ClientMetadataFetcher
from auth_server.clients import ClientDirectory
from auth_server.context import AuthServer
from auth_server.cors import PublicCORSMiddleware
from auth_server.errors import install_error_handlers
from auth_server.keys import KeyRing
from auth_server.pages import PageError, Pages, page_error_handler
from auth_server.public_fetch import PublicFetcher, Resolver
from auth_server.redirect_uris import RedirectPolicy
from auth_server.sessions import PendingRequests, SessionManager, load_session_secret
from auth_server.store import open_store
from auth_server.throttle import LoginThrottle
from shared.settings import Settings, get_settings
from shared.trace.middleware import TraceMiddleware
from shared.trace.views import trace_routes

if TYPE_CHECKING:
    import httpx


def build_context(
    settings: Settings, http_client: httpx.AsyncClient | None = None, resolver: Resolver | None = None
) -> AuthServer:
    """Open the store and load keys and secrets; raises ``ConfigError`` with a one-line fix."""
    store = open_store(settings)
    try:
        key_ring = KeyRing(store, settings)
        key_ring.ensure_current()
        session_secret = load_session_secret(settings)
    except BaseException:
        store.close()
        raise
    redirect_policy = RedirectPolicy(settings.oauth_allowed_redirect_uris)
    # Documents and client key sets are fetched through one fence (and one HTTP client): same
    # hosts, same bounds. OAUTH_FETCH_HOST_OVERRIDES is a testing aid (see public_fetch.py).
    fetcher = PublicFetcher(
        http_client,
        settings.oauth_allowed_client_metadata_hosts,
        resolver=resolver,
        host_overrides=settings.oauth_fetch_host_overrides,
    )
    documents = ClientMetadataFetcher(fetcher, redirect_policy=redirect_policy)
    endpoints = metadata.metadata_document(settings)
    assertions = ClientAssertionVerifier(
        ClientKeySets(fetcher),
        store,
        issuer=endpoints["issuer"],
        token_endpoint=endpoints["token_endpoint"],
    )
    return AuthServer(
        settings=settings,
        store=store,
        keys=key_ring,
        clients=ClientDirectory(store, documents),
        assertions=assertions,
        redirect_policy=redirect_policy,
        sessions=SessionManager(session_secret, secure=settings.auth_issuer.startswith("https://")),
        pending=PendingRequests(),
        throttle=LoginThrottle(),
        pages=Pages.shared(),
    )


def create_app(
    settings: Settings | None = None,
    *,
    http_client: httpx.AsyncClient | None = None,
    resolver: Resolver | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = build_context(settings or get_settings(), http_client, resolver)
        app.state.auth = context
        try:
            yield
        finally:
            context.store.close()
            await context.clients.documents.aclose()

    app = FastAPI(
        title="mcp-oauth-demo authorization server",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.pages = Pages.shared()
    install_error_handlers(app)
    app.add_exception_handler(PageError, page_error_handler)
    for module in (
        metadata,
        registration,
        authorize,
        login,
        consent,
        token,
        revocation,
        introspection,
        keys,
        pages,
    ):
        app.include_router(module.router)
    app.router.routes.extend(trace_routes(settings))
    app.add_middleware(PublicCORSMiddleware)
    app.add_middleware(TraceMiddleware, server="as", settings=settings)  # outermost: sees every answer
    return app


app = create_app()
