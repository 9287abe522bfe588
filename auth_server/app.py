"""The authorization server as an ASGI app: ``uvicorn auth_server.app:app --port 4000``.

:func:`create_app` builds a fresh app; nothing touches the disk until the lifespan starts,
so importing this module (or building many apps in tests) is free. The lifespan opens the
store, loads or creates the signing keys and the session secret, and puts everything the
handlers need into ``app.state.context`` (``context.AuthContext``).

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
    login,
    metadata,
    published_keys,
    registration,
    revocation,
    stylesheet,
    token,
    upstream_login,
)
from auth_server.authorization_requests import AuthorizationRequest
from auth_server.client_assertions import ClientAssertionVerifier
from auth_server.client_directory import ClientDirectory
from auth_server.client_keys import ClientKeySets
from auth_server.client_metadata_documents import ClientMetadataFetcher
from auth_server.context import AuthContext
from auth_server.cors import PublicCORS
from auth_server.error_handlers import install_error_handlers
from auth_server.keys import KeyRing
from auth_server.pages import Pages
from auth_server.public_fetch import PublicFetcher, Resolver
from auth_server.redirect_uris import RedirectPolicy
from auth_server.sessions import PendingRequests, SessionManager, load_session_secret
from auth_server.storage import open_store
from auth_server.throttle import LoginThrottle
from auth_server.upstream import OIDCUpstream, UpstreamLogin
from auth_server.upstream_github import GitHubUpstream
from auth_server.users import UserDirectory
from shared.settings import Settings, get_settings
from shared.trace.middleware import TraceMiddleware
from shared.trace.views import trace_routes

if TYPE_CHECKING:
    import httpx


async def build_context(
    settings: Settings, http_client: httpx.AsyncClient | None = None, resolver: Resolver | None = None
) -> AuthContext:
    """Open the store and load keys and secrets; raises ``ConfigError`` with a one-line fix."""
    store = await open_store(settings)
    try:
        key_ring = KeyRing(store, settings)
        await key_ring.ensure_current()
        session_secret = await load_session_secret(settings, store)
    except BaseException:
        await store.close()
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
    return AuthContext(
        settings=settings,
        store=store,
        keys=key_ring,
        clients=ClientDirectory(store, documents),
        assertions=assertions,
        redirect_policy=redirect_policy,
        sessions=SessionManager(session_secret, secure=settings.auth_issuer.startswith("https://")),
        pending=PendingRequests(store, AuthorizationRequest),
        throttle=LoginThrottle(store),
        pages=Pages.shared(),
        users=UserDirectory.from_settings(settings, store),
        upstream=_upstream(settings),
        upstream_logins=PendingRequests(store, UpstreamLogin) if settings.identity != "demo" else None,
    )


def _upstream(settings: Settings) -> OIDCUpstream | GitHubUpstream | None:
    """Who says who the user is, besides the demo users (``IDENTITY``)."""
    if settings.identity == "oidc":
        return OIDCUpstream(settings)
    if settings.identity == "github":
        return GitHubUpstream(settings)
    return None


async def check_startup(settings: Settings) -> None:
    """Open everything once and close it: a bad store, key or secret is a ``ConfigError`` now.

    Run before the workers start, this also creates the signing key and the session secret
    of a first start once; workers of other instances starting at the same time still agree
    through the store (``Store.add_first_signing_key``, ``Store.shared_secret``).
    """
    context = await build_context(settings)
    await context.store.close()
    await context.clients.documents.aclose()


def create_app(
    settings: Settings | None = None,
    *,
    http_client: httpx.AsyncClient | None = None,
    resolver: Resolver | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = await build_context(settings or get_settings(), http_client, resolver)
        app.state.context = context
        try:
            yield
        finally:
            await context.store.close()
            await context.clients.documents.aclose()

    app = FastAPI(
        title="mcp-oauth-demo authorization server",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_error_handlers(app)
    for module in (
        metadata,
        registration,
        authorize,
        login,
        consent,
        upstream_login,
        token,
        revocation,
        introspection,
        published_keys,
        stylesheet,
    ):
        app.include_router(module.router)
    app.router.routes.extend(trace_routes(settings))
    app.add_middleware(PublicCORS)
    app.add_middleware(TraceMiddleware, server="as", settings=settings)  # outermost: sees every answer
    return app


app = create_app()
