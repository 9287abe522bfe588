"""The trip to the upstream provider and back (``IDENTITY=oidc``, ``auth_server.upstream``).

The order is the MCP authorization spec's answer to the confused deputy: the user approves
*this* client on our consent page first (client, redirect host, scopes), and only then goes
to the upstream provider to say who they are. So the upstream's sign-in, which the user may
have open already, can never approve a client the user has not seen.

:func:`auth_server.upstream_trip.start_upstream_login` keeps an
:class:`~auth_server.upstream.UpstreamLogin` under a random ``state`` (128 bits, bound to the
browser's session id, single use, ten minutes) that names the pending request; the callback
takes it, checks the ID token, applies the allow lists, signs the user in and finishes the
request with a code for the client. Whatever goes
wrong upstream — ``access_denied``, a refused client secret, a provider that is down or
slow, a bad ID token, a user not on the list — is a page that says so; nothing is issued.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from auth_server import paths
from auth_server.authorization_requests import AuthorizationRequest, pending_request
from auth_server.client_redirects import check_redirect_policy, redirect_to_client
from auth_server.context import context_of
from auth_server.grants import issue_code
from auth_server.pages import PageError
from auth_server.upstream import UpstreamError, allowed

router = APIRouter()


def _refused(title: str, message: str, status_code: int = 400) -> PageError:
    return PageError(title, message, status_code=status_code)


@router.get(paths.UPSTREAM_CALLBACK)
async def upstream_callback(request: Request) -> Response:
    context = context_of(request)
    if context.upstream is None or context.upstream_logins is None:
        raise _refused("Not found", "This server does not sign in through an upstream provider.", 404)
    session = context.sessions.load(request)
    params = request.query_params
    login = await context.upstream_logins.pop(params.get("state"), session.sid)
    if login is None:
        raise _refused(
            "This sign-in cannot be continued",
            "The provider sent you back with a state this browser did not start, or one already "
            "used or expired. Start again from your app.",
        )
    authorization: AuthorizationRequest = await pending_request(context, login.request_id, session.sid)
    if error := params.get("error"):
        if error == "access_denied":
            raise _refused(
                "Sign-in cancelled",
                f"The sign-in at {context.upstream.issuer} was cancelled or refused, so "
                f"{authorization.client_name} gets nothing. Start again from your app to retry.",
                403,
            )
        raise _refused(
            "The sign-in provider reported an error",
            f"{context.upstream.issuer} answered {error!r}"
            + (f" ({params['error_description'][:200]})" if params.get("error_description") else "")
            + ". Start again from your app; if it persists, the operator should run `mcp-oauth-demo doctor`.",
            502,
        )
    code = params.get("code")
    if not code:
        raise _refused("The sign-in provider sent no code", "Start again from your app.", 502)
    try:
        identity = await context.upstream.identity(
            code=code, code_verifier=login.code_verifier, nonce=login.nonce
        )
    except UpstreamError as exc:
        raise PageError(exc.title, exc.message, status_code=exc.status_code) from None
    if not allowed(identity, context.settings):
        raise _refused(
            "This account may not sign in here",
            f"{identity.email or 'Your account'} is not on this server's allow list "
            "(ALLOWED_EMAILS / ALLOWED_EMAIL_DOMAINS, verified emails only); nothing was issued. "
            "Ask the operator to add you, or sign in with another account.",
            403,
        )
    user = await context.users.add_upstream(identity.local_sub, identity.name, identity.email)
    # Consent was given before the trip; the request is used now, once, whoever submits first.
    taken = await context.pending.pop(login.request_id, session.sid)
    if taken is None:
        raise _refused("This sign-in was already used", "Start again from your app.")
    check_redirect_policy(context, authorization.redirect_uri)
    signed_in = context.sessions.signed_in(user.sub)
    issued = await issue_code(context, taken, user.sub)
    response = redirect_to_client(context, taken.redirect_uri, {"code": issued, "state": taken.state})
    context.sessions.save(response, signed_in)
    return response
