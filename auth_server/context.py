"""Everything a request handler needs, created once per app in the lifespan.

The one :class:`AuthContext` lives at ``app.state.context``; handlers reach it as
``context_of(request)`` and call it ``context``. Nothing is a module-level global, so several
app instances (one per test) can live side by side and importing ``auth_server.app``
touches no disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from auth_server.client_assertions import ClientAssertionVerifier
from auth_server.client_directory import ClientDirectory
from auth_server.keys import KeyRing
from auth_server.pages import Pages
from auth_server.redirect_uris import RedirectPolicy
from auth_server.sessions import PendingRequests, SessionManager
from auth_server.store import Store
from auth_server.throttle import LoginThrottle
from auth_server.upstream import OIDCUpstream, UpstreamLogin
from auth_server.upstream_github import GitHubUpstream
from auth_server.users import UserDirectory
from shared.settings import Settings


@dataclass
class AuthContext:
    settings: Settings
    store: Store
    keys: KeyRing
    clients: ClientDirectory
    assertions: ClientAssertionVerifier
    redirect_policy: RedirectPolicy
    sessions: SessionManager
    pending: PendingRequests
    throttle: LoginThrottle
    pages: Pages
    users: UserDirectory
    # IDENTITY=oidc: the provider and the trips to it in progress (auth_server.upstream_login).
    upstream: OIDCUpstream | GitHubUpstream | None = None
    upstream_logins: PendingRequests[UpstreamLogin] | None = field(default=None)


def context_of(request: Request) -> AuthContext:
    context: AuthContext = request.app.state.context
    return context
