"""Dynamic Client Registration (RFC 7591) and reading a registration back (RFC 7592 §2.1).

``POST /oauth2/register`` takes the client's metadata as JSON (§3.1), checks it and
answers 201 with the client information (§3.2.1): the metadata as registered, a new
``client_id``, a ``client_secret`` only for the confidential auth methods (shown this once;
only its SHA-256 is stored), and a ``registration_access_token`` with the
``registration_client_uri`` where ``GET`` returns the registration (RFC 7592 — Claude reads
it). Errors are RFC 7591 §3.2.2's ``invalid_redirect_uri`` and ``invalid_client_metadata``.
Grant and response types this server does not offer are dropped rather than refused (RFC 7591
§2 lets the server substitute values; ``clients.ClientMetadata``), and the response shows
what was registered.

Updating and deleting a registration (RFC 7592 §2.2, §2.3) are not offered: a client that
needs other metadata registers again.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from auth_server import paths
from auth_server.clients import ClientMetadata, describe_validation_error
from auth_server.context import context_of
from auth_server.errors import NO_STORE, OAuthError
from auth_server.params import read_json_object
from auth_server.redirect_uris import RedirectURIError, resolve_application_type
from auth_server.store import ClientRecord, secret_hash
from shared.scopes import ALL_SCOPES, ScopeError, parse_scope, unknown_scopes

router = APIRouter()
# Key-set fields only a private_key_jwt client uses, which registration does not offer.
_DOCUMENT_ONLY = {"jwks", "jwks_uri", "token_endpoint_auth_signing_alg"}


def _check_metadata(metadata: ClientMetadata, request: Request) -> str:
    """Check what the model cannot; returns the (possibly inferred) application_type."""
    policy = context_of(request).redirect_policy
    try:
        for uri in metadata.redirect_uris:
            policy.check(uri)
        application_type = resolve_application_type(metadata.application_type, metadata.redirect_uris)
    except RedirectURIError as exc:
        raise OAuthError("invalid_redirect_uri", exc.description) from None
    if metadata.token_endpoint_auth_method == "private_key_jwt":
        # A registration is anonymous, so a key proves no more than a secret would here, and
        # accepting one would let any stranger aim the AS's key fetches at a URL of their choice.
        raise OAuthError(
            "invalid_client_metadata",
            "token_endpoint_auth_method 'private_key_jwt' is for clients identified by a metadata document "
            "(an https client_id whose document names its jwks_uri); register with 'none', "
            "'client_secret_basic' or 'client_secret_post'",
        )
    try:
        unknown = unknown_scopes(parse_scope(metadata.scope))
    except ScopeError as exc:
        raise OAuthError("invalid_client_metadata", f"scope: {exc}") from None
    if unknown:
        raise OAuthError(
            "invalid_client_metadata",
            f"scope: {' '.join(sorted(unknown))} not offered here; choose from {' '.join(ALL_SCOPES)}",
        )
    return application_type


def _client_information(record: ClientRecord, request: Request, registration_token: str) -> dict[str, Any]:
    issuer = context_of(request).settings.auth_issuer
    return {
        **record.metadata,
        "client_id": record.client_id,
        "client_id_issued_at": record.issued_at,
        "registration_client_uri": f"{issuer}{paths.REGISTER}/{record.client_id}",
        "registration_access_token": registration_token,
    }


@router.post(paths.REGISTER)
async def register(request: Request) -> JSONResponse:
    body = await read_json_object(request, error="invalid_client_metadata")
    try:
        metadata = ClientMetadata.model_validate(body)
    except ValidationError as exc:
        raise OAuthError("invalid_client_metadata", describe_validation_error(exc)) from None
    application_type = _check_metadata(metadata, request)

    client_secret = None if metadata.token_endpoint_auth_method == "none" else secrets.token_urlsafe(32)
    registration_token = secrets.token_urlsafe(32)
    record = ClientRecord(
        client_id=secrets.token_urlsafe(16),
        metadata=metadata.model_dump(exclude_none=True, exclude=_DOCUMENT_ONLY)
        | {"application_type": application_type},
        issued_at=int(time.time()),
        secret_hash=secret_hash(client_secret) if client_secret else None,
        registration_token_hash=secret_hash(registration_token),
    )
    await context_of(request).store.add_client(record)

    information = _client_information(record, request, registration_token)
    if client_secret:
        information |= {"client_secret": client_secret, "client_secret_expires_at": 0}
    return JSONResponse(information, status_code=201, headers=NO_STORE)


@router.get(paths.REGISTER + "/{client_id}")
async def read_registration(client_id: str, request: Request) -> JSONResponse:
    """RFC 7592 §2.1: the registration, for the bearer of its registration access token."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    record = await context_of(request).store.get_client(client_id)
    valid = (
        scheme.lower() == "bearer"
        and record is not None
        and record.registration_token_hash is not None
        and hmac.compare_digest(secret_hash(token.strip()), record.registration_token_hash)
    )
    if not valid or record is None:
        # The same answer for an unknown client and a wrong token: nothing to probe (RFC 7592 §2.1).
        raise OAuthError(
            "invalid_token",
            "send the registration_access_token from the registration response as 'Authorization: Bearer …'",
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    # The client secret is stored hashed and cannot be shown again.
    return JSONResponse(_client_information(record, request, token.strip()), headers=NO_STORE)
