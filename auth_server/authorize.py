"""The authorization endpoint (RFC 6749 §3.1, §4.1.1): ``GET /oauth2/authorize``.

The request is checked by ``authorization_requests.validate_authorization_request`` (which
explains the order of the checks and when an error is redirected rather than shown).

A valid request is kept server-side (``sessions.PendingRequests``) and the browser goes on
to the login page, or straight to consent when the user is already signed in. When that
table is full for the client or for the whole server, the user gets an error page with
``Retry-After`` (429 / 503) instead of someone else's sign-in being dropped.

Every redirect to a client — error, denial or code — goes through
``client_redirects.redirect_to_client``, which checks the policy once more, so no path can
send a browser to a URI that did not pass.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from auth_server import paths
from auth_server.authorization_requests import continue_at, validate_authorization_request
from auth_server.context import context_of
from auth_server.pages import PageError
from auth_server.sessions import PendingRequestsFull

router = APIRouter()


def _too_many_pending(exc: PendingRequestsFull, client_name: str) -> PageError:
    """A page for the user, who is in the browser here, with when to try again.

    A page rather than ``error=temporarily_unavailable`` at the client: it says how long to
    wait, and it is what an attacker's flood gets too, so the flood never reaches a client.
    """
    if exc.bucket == "client":
        title, status, waiting = (
            "Too many sign-ins in progress",
            429,
            f"Too many sign-ins to {client_name} are",
        )
    else:
        title, status, waiting = "The sign-in service is busy", 503, "This server has too many sign-ins"
    return PageError(
        title,
        f"{waiting} waiting for a login right now. Try again in {exc.retry_after // 60 + 1} minute(s). "
        "Sign-ins already in progress are not affected.",
        status_code=status,
        headers={"Retry-After": str(exc.retry_after)},
    )


@router.get(paths.AUTHORIZE)
async def authorize(request: Request) -> RedirectResponse:
    context = context_of(request)
    authorization = await validate_authorization_request(request, context)
    session = context.sessions.load(request)
    try:
        request_id = await context.pending.add(
            authorization,
            session.sid,
            client_id=authorization.client_id,
            source=request.client.host if request.client else "?",
        )
    except PendingRequestsFull as exc:
        raise _too_many_pending(exc, authorization.client_name) from None
    signed_in = session.sub is not None and await context.users.get(session.sub) is not None
    # With an upstream provider, consent comes first and the sign-in after it (upstream_login.py).
    next_page = paths.CONSENT if signed_in or context.upstream is not None else paths.LOGIN
    return continue_at(context, next_page, request_id, session)
