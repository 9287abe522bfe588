"""Client metadata describes capabilities; the AS keeps what it supports (RFC 7591 §2).

For metadata documents the token-endpoint auth method is negotiated from the singular
``token_endpoint_auth_method`` and the plural ``token_endpoint_auth_methods_supported``
(OpenID Connect RP Metadata Choices); secret-based methods are refused, because a document
anyone can read cannot hold a secret. Registration (RFC 7591) narrows grant types the same way.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from shared.pkce import make_pair
from tests.auth_server.as_flow_helpers import (
    authorize_in_browser,
    authorize_params,
    exchange_code,
    register_client,
)
from tests.auth_server.as_support import Documents
from tests.auth_server.test_as_cimd import CLAUDE, CLAUDE_CALLBACK, assert_refused, authorize, claude_document
from tests.security.client_assertion_support import post_token, public_jwk, sign_assertion

JWKS_URI = "https://claude.ai/oauth/jwks.json"


def client_of(as_client: TestClient) -> Any:
    """The client as the AS stored it after reading the document."""
    return as_client.portal.call(as_client.app.state.context.clients.find, CLAUDE)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("overrides", "mentions"),
    [
        ({"token_endpoint_auth_method": "client_secret_post"}, ("client secret", "client_secret_post")),
        (
            {
                "token_endpoint_auth_method": "client_secret_basic",
                "token_endpoint_auth_methods_supported": None,
            },
            ("client secret", "cannot hold a secret"),
        ),
        ({"token_endpoint_auth_method": "tls_client_auth"}, ("tls_client_auth", "does not support")),
        (
            {"grant_types": ["refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"]},
            ("authorization_code",),
        ),
        ({"response_types": ["token"]}, ("response_types", "'code'")),
        ({"token_endpoint_auth_method": "private_key_jwt"}, ("private_key_jwt", "no jwks_uri")),
        (
            {"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://evil.example/jwks.json"},
            ("private_key_jwt", "evil.example", "OAUTH_ALLOWED_CLIENT_METADATA_HOSTS"),
        ),
        (
            {
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": JWKS_URI,
                "token_endpoint_auth_signing_alg": "HS256",
            },
            ("'HS256' is not one of",),
        ),
        (
            {
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": JWKS_URI,
                "jwks": {"keys": [public_jwk()]},
            },
            ("both jwks_uri and jwks",),
        ),
        (
            {
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},
            },
            ("kty 'oct'",),
        ),
        ({"token_endpoint_auth_methods_supported": "none"}, ("not a list of strings",)),
    ],
)
def test_documents_that_cannot_be_used_are_refused(
    as_client: TestClient, documents: Documents, overrides: dict[str, Any], mentions: tuple[str, ...]
) -> None:
    documents.serve(CLAUDE, claude_document(**overrides))
    assert_refused(authorize(as_client), *mentions)


def test_unsupported_grant_and_response_types_are_ignored(
    as_client: TestClient, documents: Documents
) -> None:
    documents.serve(
        CLAUDE,
        claude_document(
            grant_types=["authorization_code", "urn:ietf:params:oauth:grant-type:jwt-bearer", "implicit"],
            response_types=["code", "token"],
        ),
    )
    assert authorize(as_client).status_code == 303
    client = client_of(as_client)
    assert client.grant_types == ["authorization_code"]
    assert client.metadata["response_types"] == ["code"]


def test_none_is_chosen_when_the_offered_key_set_cannot_be_used(
    as_client: TestClient, documents: Documents
) -> None:
    """A key set on a host outside the allowlist is unusable; the client also offers none, so none it is."""
    documents.serve(
        CLAUDE,
        claude_document(
            token_endpoint_auth_method="private_key_jwt",
            token_endpoint_auth_methods_supported=["none", "private_key_jwt"],
            jwks_uri="https://keys.elsewhere.example/jwks.json",
        ),
    )
    verifier, challenge = make_pair()
    query = authorize_in_browser(as_client, authorize_params(CLAUDE, challenge, redirect_uri=CLAUDE_CALLBACK))
    assert client_of(as_client).auth_method == "none"
    response = exchange_code(as_client, CLAUDE, query["code"], verifier, redirect_uri=CLAUDE_CALLBACK)
    assert response.status_code == 200, response.text


def test_an_inline_key_set_authenticates_like_a_jwks_uri(as_client: TestClient, documents: Documents) -> None:
    documents.serve(
        CLAUDE, claude_document(token_endpoint_auth_method="private_key_jwt", jwks={"keys": [public_jwk()]})
    )
    verifier, challenge = make_pair()
    query = authorize_in_browser(as_client, authorize_params(CLAUDE, challenge, redirect_uri=CLAUDE_CALLBACK))
    assert client_of(as_client).auth_method == "private_key_jwt"
    form = {
        "grant_type": "authorization_code",
        "code": query["code"],
        "code_verifier": verifier,
        "redirect_uri": CLAUDE_CALLBACK,
    }
    response = post_token(as_client, form, sign_assertion(CLAUDE), CLAUDE)
    assert response.status_code == 200, response.text
    assert documents.fetches == [CLAUDE]  # nothing else fetched


def test_registration_drops_grant_types_it_does_not_offer(as_client: TestClient) -> None:
    """Claude registers (DCR) with the same grant types its document lists."""
    grant_types = ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"]
    registered = register_client(as_client, grant_types=grant_types)
    assert registered["grant_types"] == ["authorization_code", "refresh_token"]


def test_registration_refuses_private_key_jwt_with_a_reason(as_client: TestClient) -> None:
    body = {
        "client_name": "Signer",
        "redirect_uris": ["http://127.0.0.1:9/cb"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": JWKS_URI,
    }
    response = as_client.post("/oauth2/register", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    assert "metadata document" in response.json()["error_description"]
