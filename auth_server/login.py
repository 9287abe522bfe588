"""The login page: who is the user? (the "resource owner authenticates" step of RFC 6749 §4.1 (B)).

The form carries a CSRF token and the id of the pending authorization request. Wrong
credentials get one generic message — whether the username exists is nobody's business —
and count toward the login throttle (``throttle.py``), which answers HTTP 429 with
``Retry-After`` once it trips. A successful sign-in starts a new session (new ``sid``, no
session fixation) and continues to the consent page.

The page names the demo accounts (``DEMO_USERS``, ``auth_server.users``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from auth_server import paths
from auth_server.authorization_requests import AuthorizationRequest, continue_at, pending_request
from auth_server.context import AuthContext, context_of
from auth_server.csrf import csrf_token, read_protected_form
from auth_server.pages import PageError
from auth_server.sessions import BrowserSession
from auth_server.users import account_hints

router = APIRouter()
WRONG_CREDENTIALS = "Wrong username or password."


def _login_page(
    context: AuthContext,
    session: BrowserSession,
    request_id: str,
    authorization: AuthorizationRequest,
    *,
    error: str | None = None,
    username: str = "",
) -> HTMLResponse:
    response = context.pages.render(
        "login.html",
        title="Sign in",
        client_name=authorization.client_name,
        csrf_token=csrf_token(context.sessions.secret, session.sid),
        request_id=request_id,
        error=error,
        username=username,
        demo_accounts=account_hints(context.settings.demo_users),
    )
    context.sessions.save(response, session)
    return response


@router.get(paths.LOGIN)
async def login_page(request: Request, request_id: str = "") -> Response:
    context = context_of(request)
    session = context.sessions.load(request)
    authorization = await pending_request(context, request_id, session.sid)
    # With an upstream provider there is no password here: the consent page leads to its login.
    if context.upstream is not None or (session.sub and await context.users.get(session.sub)):
        return continue_at(context, paths.CONSENT, request_id)
    return _login_page(context, session, request_id, authorization)


@router.post(paths.LOGIN)
async def login(request: Request) -> Response:
    context = context_of(request)
    form, session = await read_protected_form(request, context.sessions)
    request_id = form.get("request_id") or ""
    authorization = await pending_request(context, request_id, session.sid)
    username = (form.get("username") or "").strip()
    throttle_keys = [f"user:{username.lower()}", f"ip:{request.client.host if request.client else '?'}"]
    if wait := await context.throttle.retry_after(throttle_keys):
        raise PageError(
            "Too many sign-in attempts",
            f"Too many failed sign-ins for this account or from your network. "
            f"Wait {wait // 60 + 1} minute(s) and try again.",
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    user = context.users.authenticate(username, form.get("password") or "")
    if user is None:
        await context.throttle.record_failure(throttle_keys)
        return _login_page(
            context, session, request_id, authorization, error=WRONG_CREDENTIALS, username=username
        )
    await context.throttle.reset(throttle_keys[0])
    signed_in = context.sessions.signed_in(user.sub)
    await context.pending.rebind(request_id, session.sid, signed_in.sid)
    return continue_at(context, paths.CONSENT, request_id, signed_in)


@router.post(paths.LOGOUT)
async def logout(request: Request) -> Response:
    """ "Not you? Sign out": forget the user, keep the pending request, show the login page."""
    context = context_of(request)
    form, session = await read_protected_form(request, context.sessions)
    request_id = form.get("request_id") or ""
    signed_out = context.sessions.signed_out(session)
    await context.pending.rebind(request_id, session.sid, signed_out.sid)
    return continue_at(context, paths.LOGIN, request_id, signed_out)
