"""One URL for both servers: the authorization server and the MCP server behind one origin.

ChatGPT and Claude run in the cloud, so they need public https URLs for the MCP server *and*
for its authorization server. The default setup (``honcho start``) runs them as two processes
on two ports, which takes two tunnels. This mode needs one: ``ngrok http 8000`` and
``PUBLIC_URL=https://<tunnel>`` (:mod:`shared.settings`), which then is

* the issuer (RFC 8414 §2): metadata at ``PUBLIC_URL/.well-known/oauth-authorization-server``
  and ``/.well-known/openid-configuration``, every endpoint under ``PUBLIC_URL/oauth2/``;
* the RS base URL: the MCP endpoint and resource identifier ``PUBLIC_URL/mcp`` (RFC 8707), its
  protected resource metadata at ``PUBLIC_URL/.well-known/oauth-protected-resource/mcp`` and at
  the root form (RFC 9728 §3.1), naming ``authorization_servers: [PUBLIC_URL]``.

The two well-known names differ, so nothing collides: :data:`PATHS` says which app owns which
path, in one place, and anything else gets a 404.

**Composed in-process, not proxied.** The AS and the RS are the unchanged ASGI apps of
``auth_server.app`` and ``resource_server.app``; :class:`OneUrlApp` hands each request — its
``receive`` and ``send`` untouched — to the app owning the path. Nothing is buffered or
re-encoded, so the streamable-HTTP answers on ``/mcp`` (SSE included) pass exactly as the RS
sends them, and there is no second hop, port or process to keep alive. Its lifespan runs both
apps' lifespans: the AS's first (store, keys), the RS's second (notes), closed in reverse.

**The RS reaches the AS in-process.** The RS verifies tokens with the AS's keys, which it
finds like any client: AS metadata at ``PUBLIC_URL``, then ``jwks_uri``
(:mod:`resource_server.jwks_cache`). Sent for real, that would leave through the tunnel and
come back — slow, and broken whenever the tunnel is down or shows a browser warning. So the RS
gets an HTTP client whose transport (:class:`InProcessAuthServer`) delivers requests for
``PUBLIC_URL``'s origin straight to the AS app and refuses every other origin. The RS's checks
stay exactly as they are: same URLs, same ``issuer`` comparison (RFC 8414 §3.3).

Run it with ``mcp-oauth-demo one-url`` or ``python -m mcp_oauth_demo.one_url`` (``--port``,
default 8000; ``--host``, default 127.0.0.1). Without ``PUBLIC_URL`` it serves
``http://localhost:<port>``, which MCP Inspector can use as is.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Literal

import httpx
from starlette.responses import JSONResponse
from starlette.routing import Router
from starlette.types import Receive, Scope, Send

from auth_server import paths as auth_paths
from mcp_oauth_demo.console import Console, one_url_banner
from resource_server import paths as rs_paths
from shared.settings import ConfigError, Settings, load_settings
from shared.trace.views import TRACE_PATH

if TYPE_CHECKING:
    from starlette.applications import Starlette

DEFAULT_PORT = 8000
DEFAULT_HOST = "127.0.0.1"
Owner = Literal["auth", "rs"]

# Which app serves a path: the path itself, or anything below it ("/oauth2" owns "/oauth2/token").
# "/" owns only "/" (the RS's index page). Every route of both apps must be covered here; the
# router tests enumerate the apps' routes to keep it so.
PATHS: tuple[tuple[str, Owner], ...] = (
    (auth_paths.METADATA, "auth"),  # RFC 8414 §3
    (auth_paths.OPENID_CONFIGURATION, "auth"),  # the same document, for OIDC-style clients
    (auth_paths.OAUTH2_PREFIX, "auth"),  # authorize, login, consent, token, register, jwks, …
    (TRACE_PATH, "auth"),  # the trace of every exchange (shared.trace.views), behind TRACE_KEY
    (rs_paths.PROTECTED_RESOURCE_METADATA_PATH, "rs"),  # RFC 9728 §3.1, root and /mcp forms
    (rs_paths.MCP_PATH, "rs"),  # MCP streamable HTTP
    (rs_paths.WIDGET_PATH, "rs"),  # the widget preview
    (rs_paths.INDEX_PATH, "rs"),  # the index page (PRM resource_documentation)
)


def owner_of(path: str) -> Owner | None:
    """The app that serves ``path`` according to :data:`PATHS`, ``None`` when neither does."""
    for prefix, owner in PATHS:
        if path == prefix or (prefix != "/" and path.startswith(prefix + "/")):
            return owner
    return None


class OneUrlApp:
    """An ASGI app that dispatches by path to the AS and the RS and runs both lifespans."""

    def __init__(
        self, auth_app: Starlette, rs_app: Starlette, *, closing: Sequence[httpx.AsyncClient] = ()
    ) -> None:
        self.apps: dict[Owner, Starlette] = {"auth": auth_app, "rs": rs_app}
        self._closing = tuple(closing)
        # Starlette's router speaks the ASGI lifespan protocol; only its lifespan is used.
        self._lifespan_protocol = Router(lifespan=self._lifespan)

    @asynccontextmanager
    async def _lifespan(self, _: object) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for client in self._closing:
                stack.push_async_callback(client.aclose)
            for app in self.apps.values():  # AS first: the RS's first key fetch needs it open
                await stack.enter_async_context(app.router.lifespan_context(app))
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan_protocol(scope, receive, send)
            return
        owner = owner_of(scope["path"]) if scope["type"] in ("http", "websocket") else None
        if owner is None:
            await JSONResponse({"detail": "Not Found"}, status_code=404)(scope, receive, send)
            return
        await self.apps[owner](scope, receive, send)


class InProcessAuthServer(httpx.AsyncBaseTransport):
    """The RS's HTTP transport: requests to ``origin`` go to the AS app in this process, no network.

    Any other origin is refused, so a ``jwks_uri`` pointing elsewhere fails loudly instead of
    quietly fetching keys from somewhere the AS does not control.
    """

    def __init__(self, auth_app: Starlette, origin: str) -> None:
        self._asgi = httpx.ASGITransport(app=auth_app)
        self._origin = _origin(httpx.URL(origin))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if _origin(request.url) != self._origin:
            raise httpx.ConnectError(
                f"one-URL mode: the RS fetches keys only from the AS at {self._origin}, not {request.url}",
                request=request,
            )
        return await self._asgi.handle_async_request(request)

    async def aclose(self) -> None:
        await self._asgi.aclose()


def _origin(url: httpx.URL) -> str:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return f"{url.scheme}://{url.host}:{url.port or default}"


def one_url_settings(port: int = DEFAULT_PORT, **overrides: object) -> Settings:
    """The configuration (``.env``, environment, ``overrides``) for one process on ``port``.

    Both servers listen on that port, so ``RS_PORT`` and ``AUTH_PORT`` are it too (the RS allows
    ``Host: localhost:<RS_PORT>`` for local clients). ``PUBLIC_URL`` defaults to
    ``http://localhost:<port>``. Raises :class:`ConfigError` with a one-line message.
    """
    ports = {"rs_port": port, "auth_port": port}
    settings = load_settings(**ports, **overrides)
    if settings.public_url:
        return settings
    for name in ("rs_base_url", "auth_issuer"):
        value = getattr(settings, name)
        if value != Settings.model_fields[name].default:
            # A two-URL configuration (say, two tunnels): one URL cannot serve it.
            raise ConfigError(
                f"one-URL mode serves both servers at PUBLIC_URL, but {name.upper()}={value!r} "
                "is set for two URLs; set PUBLIC_URL=<your tunnel's https URL> and remove RS_BASE_URL and "
                "AUTH_ISSUER, or run the two servers with `.venv/bin/mcp-oauth-demo start`"
            )
    return load_settings(**ports, public_url=f"http://localhost:{port}", **overrides)


def create_app(settings: Settings) -> OneUrlApp:
    """Both servers as one ASGI app for ``settings.public_url``; does no I/O until its lifespan."""
    if not settings.public_url:
        raise ConfigError("one-URL mode needs PUBLIC_URL; set it to the https URL of your tunnel")
    from auth_server.app import create_app as create_auth_app
    from resource_server.app import create_app as create_rs_app

    auth_app = create_auth_app(settings)
    to_auth = httpx.AsyncClient(transport=InProcessAuthServer(auth_app, settings.public_url))
    rs_app = create_rs_app(settings, http_client=to_auth)
    return OneUrlApp(auth_app, rs_app, closing=[to_auth])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"the one port to listen on (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"the address to listen on (default {DEFAULT_HOST}; a tunnel on this machine needs no more)",
    )


def run(args: argparse.Namespace, out: Console | None = None) -> int:
    """Check the configuration, print where everything is, then serve until interrupted."""
    out = out or Console()
    try:
        settings = one_url_settings(args.port)
        import asyncio

        from auth_server.app import check_startup

        # Opens the store and the keys once, so a bad DATA_DIR is one line here, not a traceback.
        asyncio.run(check_startup(settings))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    one_url_banner(
        out,
        listen=f"http://{args.host}:{args.port}",
        public_url=settings.public_url,
        mcp_url=settings.mcp_resource,
        callbacks=settings.oauth_allowed_redirect_uris,
        trace_url=f"{settings.public_url}/trace?key={settings.trace_key}" if settings.trace else None,
    )
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        proxy_headers=True,  # the tunnel's X-Forwarded-Proto, trusted from 127.0.0.1 only
        server_header=False,
        log_level="info",
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mcp_oauth_demo.one_url", description=(__doc__ or "").split("\n\n")[0]
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
