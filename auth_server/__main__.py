"""``python -m auth_server``: run the authorization server (the Procfile's ``auth`` process).

Listens on ``AUTH_HOST`` (default 127.0.0.1) and ``AUTH_PORT`` (default 4000). Before
starting uvicorn it opens the store and the keys once, so a misconfiguration ends the
process with one line naming the variable and the fix instead of a traceback. A warning line
names every ``OAUTH_FETCH_HOST_OVERRIDES`` entry, a testing aid that must not reach production.
"""

from __future__ import annotations

import asyncio
import sys

from auth_server import paths
from auth_server.users import account_hints
from shared.settings import ConfigError, get_settings, startup_warnings, storage_description


def main() -> int:
    settings = get_settings()  # a bad variable ends here, before the heavy imports
    for warning in startup_warnings(settings):
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    import uvicorn

    from auth_server.app import check_startup

    try:
        asyncio.run(check_startup(settings))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    host = settings.auth_host
    issuer = settings.auth_issuer
    print(f"authorization server on http://{host}:{settings.auth_port}", flush=True)
    print(f"  issuer   {issuer}", flush=True)
    print(f"  metadata {settings.as_metadata_url}", flush=True)
    print(f"  jwks     {issuer}{paths.JWKS}", flush=True)
    print(f"  storage  {storage_description(settings)}", flush=True)
    if settings.identity != "demo":
        provider = settings.upstream_issuer if settings.identity == "oidc" else settings.upstream_github_url
        print(f"  sign-in  {provider} (IDENTITY={settings.identity}), after consent", flush=True)
        print(f"  callback {settings.upstream_callback_url}  <- register this at the provider", flush=True)
    else:
        hints = account_hints(settings.demo_users)
        users = ", ".join(f"{name} / {password}" if password else name for name, password in hints)
        print(f"  users    {users} (DEMO_USERS; log in on the page a client opens for you)", flush=True)
    if settings.trace:
        print(f"  trace    {issuer}/trace?key={settings.trace_key}  (what every client did)", flush=True)
    for name, (address, port) in settings.oauth_fetch_host_overrides.items():
        shown = f"[{address}]" if ":" in address else address
        print(
            f"WARNING: OAUTH_FETCH_HOST_OVERRIDES sends fetches for https://{name}/ to {shown}:{port} "
            "without the public-address check; a testing aid, never set it in production",
            file=sys.stderr,
            flush=True,
        )
    # An import string, so uvicorn can start WEB_CONCURRENCY worker processes; each builds the
    # app from the same environment (auth_server.app's module-level app reads get_settings()).
    uvicorn.run(
        "auth_server.app:app",
        host=host,
        port=settings.auth_port,
        log_level="info",
        workers=settings.web_concurrency,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
