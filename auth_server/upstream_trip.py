"""Leaving for the upstream provider, after our consent page (``auth_server.upstream_login``)."""

from __future__ import annotations

import secrets

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from auth_server.context import AuthContext
from auth_server.pages import PageError
from auth_server.sessions import BrowserSession
from auth_server.upstream import UpstreamError, UpstreamLogin
from shared.pkce import make_pair


async def start_upstream_login(
    context: AuthContext, request: Request, session: BrowserSession, request_id: str, client_id: str
) -> Response:
    """After consent: send the browser to the upstream provider with PKCE, ``state`` and ``nonce``."""
    assert context.upstream is not None and context.upstream_logins is not None
    verifier, _ = make_pair()
    login = UpstreamLogin(request_id=request_id, nonce=secrets.token_urlsafe(16), code_verifier=verifier)
    state = await context.upstream_logins.add(
        login, session.sid, client_id=client_id, source=request.client.host if request.client else "?"
    )
    try:
        url = await context.upstream.authorization_url(state=state, nonce=login.nonce, code_verifier=verifier)
    except UpstreamError as exc:
        raise PageError(exc.title, exc.message, status_code=exc.status_code) from None
    response = RedirectResponse(url, status_code=303)
    context.sessions.save(response, session)
    return response
