"""Validating an authorization request (RFC 6749 §4.1.1), with PKCE (RFC 7636) and resource
indicators (RFC 8707).

The checks run in an order that matters:

1. **Who is asking, and where does the answer go?** ``client_id`` must name a known client
   and ``redirect_uri`` must be one it registered — or, when it is left out, the client's
   only registered one. Whichever way it was chosen, the URI must then pass the server's
   redirect policy (``redirect_uris.RedirectPolicy``: loopback or ``OAUTH_ALLOWED_REDIRECT_URIS``)
   for *every* client: a client metadata document is anyone's to write, and a registered
   client may predate a tighter allowlist. Until all of that holds, the redirect URI is
   untrusted, so errors are shown to the user on an HTML page (status 400) and *never*
   redirected (§4.1.2.1) — otherwise the AS would be an open redirector.
2. **Everything else** is reported to the client by redirecting to that URI with ``error``,
   ``error_description``, ``state`` and ``iss``: ``response_type`` must be ``code``
   (``unsupported_response_type``); PKCE with ``S256`` is required (``plain`` or missing →
   ``invalid_request``, OAuth 2.1 §4.1.1); ``scope`` must name scopes this AS offers
   (``invalid_scope``); ``resource`` must be ``MCP_RESOURCE`` (``invalid_target``).

Defaults: no ``scope`` means every resource scope (``profile:read notes:read notes:write``)
— what a client connecting to the demo wants — or, if the client registered a ``scope``,
that. A registered scope is only a default: a client may ask for more (step-up) and the user
decides on the consent page. No ``resource`` means ``MCP_RESOURCE``, so a token's ``aud`` is
always the resource server and never the client. No ``redirect_uri`` is accepted only when the client
registered exactly one.

The request that passed is kept server-side (``sessions.PendingRequests``) as an
:class:`AuthorizationRequest` while the user signs in and consents; :func:`pending_request`
gives it back to the login and consent pages. An error in step 2 is raised as an
:class:`errors.OAuthError` carrying the trusted ``redirect_uri`` and ``state``; the one error
handler (``error_handlers.py``) redirects it with ``iss`` through
``client_redirects.redirect_to_client``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import RedirectResponse

from auth_server import paths
from auth_server.client_metadata_documents import ClientMetadataError
from auth_server.client_redirects import check_redirect_policy
from auth_server.clients import Client
from auth_server.context import AuthContext
from auth_server.errors import OAuthError
from auth_server.pages import PageError
from auth_server.params import Params, query_params
from auth_server.redirect_uris import find_registered, is_loopback_redirect
from auth_server.sessions import BrowserSession
from shared.pkce import S256, is_valid_challenge
from shared.scopes import (
    ALL_SCOPES,
    RESOURCE_SCOPES,
    ScopeError,
    format_scope,
    parse_scope,
    unknown_scopes,
)


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated authorization request, waiting for the user's login and consent."""

    client_id: str
    client_name: str
    from_metadata_document: bool
    only_localhost_redirects: bool
    redirect_uri: str
    redirect_uri_sent: bool
    state: str | None
    scope: str
    resource: str
    code_challenge: str


async def _trusted_client_and_redirect(params: Params, context: AuthContext) -> tuple[Client, str, bool]:
    """Step 1: the client and a redirect URI it registered — or an error page."""
    try:
        client_id = params.get("client_id")
        requested = params.get("redirect_uri")
    except OAuthError as exc:
        raise PageError("Invalid authorization request", exc.description) from None
    if client_id is None:
        raise PageError(
            "Missing client_id", "The authorization request has no client_id; the application must send one."
        )
    try:
        client = await context.clients.find(client_id)
    except ClientMetadataError as exc:
        raise PageError("Client metadata document refused", exc.description) from None
    if client is None:
        raise PageError(
            "Unknown client",
            f"No client is registered with client_id {client_id!r}. Register it first "
            f"(POST {paths.REGISTER}, RFC 7591) — registrations are lost on restart with STORE=memory.",
        )
    if requested is None:
        if len(client.redirect_uris) != 1:
            raise PageError(
                "Missing redirect_uri",
                f"{client.name} registered several redirect URIs, so the request must name one "
                "with redirect_uri.",
            )
        chosen, sent = client.redirect_uris[0], False
    elif find_registered(requested, client.redirect_uris) is None:
        raise PageError(
            "Redirect URI not registered",
            f"The redirect_uri {requested!r} is not registered for {client.name}. Registered: "
            f"{', '.join(client.redirect_uris)}. Send one of them exactly, or register the client again.",
        )
    else:
        chosen, sent = requested, True
    check_redirect_policy(context, chosen)  # sent or defaulted, document or registered client
    return client, chosen, sent


def _requested_scope(params: Params, client: Client) -> str:
    """The scope to ask the user for.

    A registered ``scope`` (RFC 7591 §2) is the default, not a ceiling: MCP clients register
    with the scope of the first challenge they saw and later step up to a wider one after a
    ``403 insufficient_scope`` (MCP authorization, "Scope challenge handling"). The consent
    page, which lists every scope, is the gate.
    """
    try:
        requested = parse_scope(params.get("scope"))
    except ScopeError as exc:
        raise OAuthError("invalid_scope", str(exc)) from None
    if not requested:
        return format_scope(parse_scope(client.scope) if client.scope else RESOURCE_SCOPES)
    if unknown := unknown_scopes(requested):
        raise OAuthError(
            "invalid_scope",
            f"unknown scope {' '.join(sorted(unknown))}; this server offers {' '.join(ALL_SCOPES)}",
        )
    return format_scope(requested)


def _check_other_parameters(params: Params, client: Client, context: AuthContext) -> tuple[str, str, str]:
    """Step 2: response_type, PKCE, scope, resource; returns (scope, resource, code_challenge)."""
    for name in params.names() - {"resource"}:  # RFC 8707 allows several resource parameters
        params.get(name)  # raises invalid_request for a duplicate
    response_type = params.get("response_type")
    if response_type is None:
        raise OAuthError("invalid_request", "response_type is missing; send response_type=code")
    if response_type != "code":
        raise OAuthError(
            "unsupported_response_type", f"response_type {response_type!r} is not supported; use 'code'"
        )
    if "authorization_code" not in client.grant_types:
        raise OAuthError(
            "unauthorized_client", f"{client.name} did not register the authorization_code grant"
        )
    challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
    if challenge is None:
        raise OAuthError(
            "invalid_request", "PKCE is required: send code_challenge and code_challenge_method=S256"
        )
    if method != S256:
        raise OAuthError(
            "invalid_request",
            f"code_challenge_method must be S256 (got {method or 'none'}); "
            "'plain' is not accepted (RFC 7636, OAuth 2.1)",
        )
    if not is_valid_challenge(challenge):
        raise OAuthError(
            "invalid_request", "code_challenge must be the 43-character BASE64URL(SHA256(verifier))"
        )
    scope = _requested_scope(params, client)
    resource = context.settings.mcp_resource
    for requested in params.get_all("resource"):
        if requested != resource:
            raise OAuthError(
                "invalid_target",
                f"resource {requested!r} is not served by this server; use {resource!r} (RFC 8707)",
            )
    return scope, resource, challenge


async def validate_authorization_request(request: Request, context: AuthContext) -> AuthorizationRequest:
    params = query_params(request)
    client, redirect_uri, redirect_uri_sent = await _trusted_client_and_redirect(params, context)
    # From here on errors go back to the client (step 2): the redirect URI is trusted.
    try:
        state = params.get("state")
    except OAuthError as exc:
        raise exc.redirected(redirect_uri, None) from None
    try:
        scope, resource, challenge = _check_other_parameters(params, client, context)
    except OAuthError as exc:
        raise exc.redirected(redirect_uri, state) from None
    return AuthorizationRequest(
        client_id=client.client_id,
        client_name=client.name,
        from_metadata_document=client.from_metadata_document,
        only_localhost_redirects=all(is_loopback_redirect(uri) for uri in client.redirect_uris),
        redirect_uri=redirect_uri,
        redirect_uri_sent=redirect_uri_sent,
        state=state,
        scope=scope,
        resource=resource,
        code_challenge=challenge,
    )


async def pending_request(context: AuthContext, request_id: str | None, sid: str) -> AuthorizationRequest:
    """The pending request of this browser session, or an error page if it expired or is not ours."""
    authorization: AuthorizationRequest | None = await context.pending.get(request_id, sid)
    if authorization is None:
        raise PageError(
            "This sign-in request has expired",
            f"The authorization request is unknown, expired ({context.pending.ttl_sec // 60} minutes), "
            f"was replaced by the {context.pending.max_per_source} newer ones your network started since, "
            "or belongs to another browser session. "
            "Start again from the application.",
        )
    return authorization


def continue_at(
    context: AuthContext, page: str, request_id: str, session: BrowserSession | None = None
) -> RedirectResponse:
    """The browser's next step with a pending request: ``page`` (login or consent), by a 303.

    ``session``, when given, is the browser session to keep (a new one after sign-in or
    sign-out, so the cookie must be set on this response).
    """
    response = RedirectResponse(paths.with_request_id(page, request_id), status_code=303)
    if session is not None:
        context.sessions.save(response, session)
    return response
