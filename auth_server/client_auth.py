"""Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3).

Four ways. The two secret-based ones are interchangeable for a client with a secret:

* ``none`` — a public client sends only ``client_id`` (RFC 7591 §2); PKCE protects its code;
* ``client_secret_post`` — ``client_id`` and ``client_secret`` in the form body (§2.3.1);
* ``client_secret_basic`` — ``Authorization: Basic base64(client_id:client_secret)``, both
  form-urlencoded first (§2.3.1, the detail many implementations miss);
* ``private_key_jwt`` — ``client_assertion_type`` and a ``client_assertion`` JWT signed with
  the client's private key (RFC 7523 §2.2, checked in ``client_assertions.py``). ``client_id``
  may then be left out (RFC 7521 §4.2): the assertion's ``sub`` names the client.

Which one a client must use is fixed by what it is (``Client.auth_method``): a client with a
secret sends it, a ``private_key_jwt`` client sends an assertion — never nothing, or its
assertion would protect nobody — and a public client sends neither. A client must not use
two methods at once (§2.3). Failures are ``invalid_client`` with HTTP 401, plus
``WWW-Authenticate: Basic`` when the client tried Basic (§5.2), with a description saying
which check failed and what to send instead.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from urllib.parse import unquote

from fastapi import Request

from auth_server import paths
from auth_server.client_assertions import CLIENT_ASSERTION_TYPE, AssertionRejected, claimed_client_id
from auth_server.client_metadata_documents import ClientMetadataError
from auth_server.clients import Client
from auth_server.context import AuthContext
from auth_server.errors import OAuthError, invalid_client
from auth_server.params import Params
from auth_server.store import secret_hash


@dataclass(frozen=True)
class _Credentials:
    client_id: str | None
    secret: str | None
    basic: bool
    assertion: str | None = None


def _assertion(form: Params, header: str | None) -> str | None:
    """The RFC 7523 client assertion of the request, if it sends one (RFC 7521 §4.2)."""
    assertion, assertion_type = form.get("client_assertion"), form.get("client_assertion_type")
    if assertion is None and assertion_type is None:
        return None
    if assertion_type != CLIENT_ASSERTION_TYPE:
        raise invalid_client(
            f"client_assertion_type must be {CLIENT_ASSERTION_TYPE} (RFC 7523 §2.2), "
            f"not {assertion_type!r}; send it with the client_assertion",
            basic=False,
        )
    if not assertion:
        raise invalid_client("client_assertion is missing; send the signed JWT with its type", basic=False)
    if header is not None or form.get("client_secret") is not None:
        raise OAuthError(
            "invalid_request",
            "use one client authentication method (RFC 6749 §2.3): the client_assertion or a secret, "
            "not both",
        )
    return assertion


def _credentials(request: Request, form: Params) -> _Credentials:
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    header = request.headers.get("authorization")
    if (assertion := _assertion(form, header)) is not None:
        return _Credentials(form_id or claimed_client_id(assertion), None, basic=False, assertion=assertion)
    if header is None:
        return _Credentials(form_id, form_secret, basic=False)
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise invalid_client("the Authorization header must use the Basic scheme here", basic=True)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        raw_id, separator, raw_secret = decoded.partition(":")
        if not separator or not raw_id:
            raise ValueError
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_client(
            "the Basic credentials are not base64(client_id:client_secret)", basic=True
        ) from None
    client_id, secret = unquote(raw_id), unquote(raw_secret) or None
    if form_secret is not None:
        raise OAuthError(
            "invalid_request", "send the client secret in the Authorization header or the form, not both"
        )
    if form_id is not None and form_id != client_id:
        raise OAuthError(
            "invalid_request", "client_id in the form differs from the one in the Authorization header"
        )
    return _Credentials(client_id, secret, basic=True)


async def authenticate_client(request: Request, form: Params, context: AuthContext) -> Client:
    credentials = _credentials(request, form)
    basic = credentials.basic
    if not credentials.client_id:
        raise invalid_client(
            "send client_id (in the form, with the secret as HTTP Basic, or as the sub of client_assertion)",
            basic=basic,
        )
    try:
        client = await context.clients.find(credentials.client_id)
    except ClientMetadataError as exc:
        raise invalid_client(exc.description, basic=basic) from None
    if client is None:
        raise invalid_client(
            f"unknown client_id {credentials.client_id!r}; register the client first (POST {paths.REGISTER})",
            basic=basic,
        )
    if client.auth_method == "private_key_jwt":
        await _check_assertion(context, client, credentials)
    elif credentials.assertion is not None:
        raise invalid_client(
            f"this client does not use private_key_jwt (its method is {client.auth_method}); "
            "send no client_assertion",
            basic=basic,
        )
    elif client.secret_hash is not None:
        if credentials.secret is None:
            raise invalid_client(
                "this client has a client_secret; send it (Basic or client_secret)", basic=basic
            )
        if not hmac.compare_digest(secret_hash(credentials.secret), client.secret_hash):
            raise invalid_client("wrong client_secret for this client", basic=basic)
    elif credentials.secret is not None:
        raise invalid_client("this is a public client without a secret; send only client_id", basic=basic)
    return client


async def _check_assertion(context: AuthContext, client: Client, credentials: _Credentials) -> None:
    if credentials.assertion is None:
        raise invalid_client(
            "this client authenticates with private_key_jwt (its metadata says so): send "
            f"client_assertion_type={CLIENT_ASSERTION_TYPE} and a client_assertion JWT signed with its "
            "key (RFC 7523 §2.2)" + ("" if credentials.secret is None else ", not a client_secret"),
            basic=credentials.basic,
        )
    try:
        await context.assertions.verify(client, credentials.assertion)
    except AssertionRejected as exc:
        raise invalid_client(exc.description, basic=False) from None
