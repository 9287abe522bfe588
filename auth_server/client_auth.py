"""Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3).

Three ways (RFC 6749 §2.3.1, RFC 7591 §2), accepted whatever method the client registered, as
long as the secret, if the client has one, matches:

* ``none`` — a public client sends only ``client_id`` (RFC 7591 §2); PKCE protects its code;
* ``client_secret_post`` — ``client_id`` and ``client_secret`` in the form body (§2.3.1);
* ``client_secret_basic`` — ``Authorization: Basic base64(client_id:client_secret)``, both
  form-urlencoded first (§2.3.1, the detail many implementations miss).

A client must not use two methods at once (§2.3). Failures are ``invalid_client`` with
HTTP 401, plus ``WWW-Authenticate: Basic`` when the client tried Basic (§5.2). A client with
a secret that does not send it, or a public client that sends one, fails the same way.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from urllib.parse import unquote

from fastapi import Request

from auth_server.client_metadata_documents import ClientMetadataError
from auth_server.clients import Client
from auth_server.context import AuthServer
from auth_server.errors import OAuthError
from auth_server.params import Params
from auth_server.store import secret_hash


@dataclass(frozen=True)
class _Credentials:
    client_id: str | None
    secret: str | None
    basic: bool


def _invalid_client(description: str, *, basic: bool) -> OAuthError:
    headers = {"WWW-Authenticate": 'Basic realm="mcp-oauth-demo", charset="UTF-8"'} if basic else {}
    return OAuthError("invalid_client", description, status_code=401, headers=headers)


def _credentials(request: Request, form: Params) -> _Credentials:
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    header = request.headers.get("authorization")
    if header is None:
        return _Credentials(form_id, form_secret, basic=False)
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise _invalid_client("the Authorization header must use the Basic scheme here", basic=True)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        raw_id, separator, raw_secret = decoded.partition(":")
        if not separator or not raw_id:
            raise ValueError
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid_client(
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


async def authenticate_client(request: Request, form: Params, context: AuthServer) -> Client:
    credentials = _credentials(request, form)
    basic = credentials.basic
    if not credentials.client_id:
        raise _invalid_client("send client_id (in the form, or with the secret as HTTP Basic)", basic=basic)
    try:
        client = await context.clients.find(credentials.client_id)
    except ClientMetadataError as exc:
        raise _invalid_client(exc.description, basic=basic) from None
    if client is None:
        raise _invalid_client(
            f"unknown client_id {credentials.client_id!r}; register the client first (POST /oauth2/register)",
            basic=basic,
        )
    if client.secret_hash is not None:
        if credentials.secret is None:
            raise _invalid_client(
                "this client has a client_secret; send it (Basic or client_secret)", basic=basic
            )
        if not hmac.compare_digest(secret_hash(credentials.secret), client.secret_hash):
            raise _invalid_client("wrong client_secret for this client", basic=basic)
    elif credentials.secret is not None:
        raise _invalid_client("this is a public client without a secret; send only client_id", basic=basic)
    return client
