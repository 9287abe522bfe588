"""The consent page: does the user allow this client? (RFC 6749 §4.1 (B), §10.2).

The page leads with the host the browser will be sent back to — the one fact a phishing
client cannot fake, which the MCP authorization spec's security considerations require the
page to show — then the client's name, every scope and its description.

A name is only a claim, so the page says who backs it, and warns when nobody does:

* a **client metadata document**'s name is published by the document's host (``claude.ai``
  for Claude's): the page names that host. If all its redirects are localhost it warns
  besides: anyone can publish such a document, and the code would go to whatever listens
  on the user's machine;
* a **registered** client named itself — registered metadata is self-asserted (RFC 7591
  §5) and anyone may register as "Claude" — so every such name gets a warning to judge by
  the host instead;
* a name in **look-alike letters** (``lookalikes.py``: "Сlаudе" with Cyrillic letters,
  full-width forms, hidden characters) gets one more, explicit warning, whoever backs it.

Warnings are ``<p class="warning" data-warning="…">`` with ``unverified-name``,
``localhost`` or ``lookalike``.

"Allow" issues a single-use authorization code and redirects with ``code``, ``state`` and
``iss`` (RFC 6749 §4.1.2, RFC 9207). "Deny" redirects with ``error=access_denied``. Either
way the pending request is consumed, so the form cannot be submitted twice.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from auth_server import paths
from auth_server.authorization_requests import AuthorizationRequest, continue_at, pending_request
from auth_server.client_redirects import check_redirect_policy, redirect_to_client
from auth_server.context import context_of
from auth_server.csrf import csrf_token, read_protected_form
from auth_server.grants import issue_code
from auth_server.lookalikes import lookalike_warning
from auth_server.upstream_trip import start_upstream_login
from shared.scopes import DESCRIPTIONS

router = APIRouter()


@router.get(paths.CONSENT)
async def consent_page(request: Request, request_id: str = "") -> Response:
    context = context_of(request)
    session = context.sessions.load(request)
    authorization = await pending_request(context, request_id, session.sid)
    user = await context.users.get(session.sub) if session.sub else None
    # With an upstream provider the user says who they are *after* approving (upstream_login.py).
    if user is None and context.upstream is None:
        return continue_at(context, paths.LOGIN, request_id)
    scopes = [(scope, DESCRIPTIONS.get(scope, scope)) for scope in authorization.scope.split()]
    document = authorization.from_metadata_document
    response = context.pages.render(
        "consent.html",
        title=f"Authorize {authorization.client_name}",
        client_name=authorization.client_name,
        client_id=authorization.client_id,
        # Who vouches for the name: the host serving the metadata document, or nobody.
        name_host=urlsplit(authorization.client_id).hostname if document else None,
        localhost_warning=document and authorization.only_localhost_redirects,
        lookalike_warning=lookalike_warning(authorization.client_name),
        redirect_host=urlsplit(authorization.redirect_uri).netloc,
        scopes=scopes,
        resource=authorization.resource,
        csrf_token=csrf_token(context.sessions.secret, session.sid),
        request_id=request_id,
        user_name=user.name if user else None,
        user_email=user.email if user else None,
        upstream=context.upstream.issuer if context.upstream and user is None else None,
    )
    context.sessions.save(response, session)
    return response


@router.post(paths.CONSENT)
async def consent(request: Request) -> Response:
    context = context_of(request)
    form, session = await read_protected_form(request, context.sessions)
    request_id = form.get("request_id") or ""
    pending = await pending_request(context, request_id, session.sid)  # an error page if expired or foreign
    signed_in = session.sub is not None and await context.users.get(session.sub) is not None
    if not signed_in and context.upstream is not None and form.get("action") == "approve":
        return await start_upstream_login(context, request, session, request_id, pending.client_id)
    if not signed_in and context.upstream is None:
        return continue_at(context, paths.LOGIN, request_id)
    authorization: AuthorizationRequest | None = await context.pending.pop(request_id, session.sid)
    if authorization is None:  # a second submit of this form, in any worker, took it first
        authorization = await pending_request(context, request_id, session.sid)  # the error page
    if form.get("action") != "approve":
        return redirect_to_client(
            context,
            authorization.redirect_uri,
            {
                "error": "access_denied",
                "error_description": "the user denied access",
                "state": authorization.state,
            },
        )
    # Checked before a code exists: a URI the policy refuses gets an error page and no code.
    check_redirect_policy(context, authorization.redirect_uri)
    assert session.sub is not None
    code = await issue_code(context, authorization, session.sub)
    return redirect_to_client(
        context, authorization.redirect_uri, {"code": code, "state": authorization.state}
    )
