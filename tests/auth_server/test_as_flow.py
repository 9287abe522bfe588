"""The whole flow a client goes through: metadata → DCR → authorize → login → consent →
token → refresh → revoke → introspect (RFC 6749 §4.1, §6; RFC 7009; RFC 7662)."""

from __future__ import annotations

import jwt
from starlette.testclient import TestClient

from auth_server import paths
from shared.jwks import verification_key
from shared.pkce import make_pair
from shared.scopes import OFFLINE_ACCESS, RESOURCE_SCOPES, format_scope
from shared.tokens import verify_access_token
from tests.auth_server.as_flow_helpers import (
    LOOPBACK_REDIRECT,
    RESOURCE,
    authorize_in_browser,
    authorize_params,
    exchange_code,
    get_tokens,
    introspect_with,
    post_token,
    query_of,
    refresh,
    register_client,
    start_authorization,
)

ISSUER = "http://localhost:4000"


def verify(as_client: TestClient, token: str) -> dict:
    """Verify an access token the way the resource server does: JWKS, pinned alg, iss, aud."""
    header = jwt.get_unverified_header(token)
    jwks = as_client.get("/oauth2/jwks").json()
    jwk = next(key for key in jwks["keys"] if key["kid"] == header["kid"])
    return verify_access_token(
        token, verification_key(jwk, "ES256"), algorithm="ES256", issuer=ISSUER, audience=RESOURCE
    )


def test_metadata_lists_every_endpoint(as_client: TestClient) -> None:
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        response = as_client.get(path, headers={"Origin": "https://inspector.example"})
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["access-control-allow-origin"] == "*"
        doc = response.json()
        assert doc["issuer"] == ISSUER
        for name in ("authorization", "token", "registration", "revocation", "introspection"):
            assert doc[f"{name}_endpoint"].startswith(ISSUER + "/oauth2/")
        assert doc["jwks_uri"] == ISSUER + "/oauth2/jwks"
        assert OFFLINE_ACCESS in doc["scopes_supported"]
        assert set(RESOURCE_SCOPES) <= set(doc["scopes_supported"])
        assert doc["response_types_supported"] == ["code"]
        assert doc["grant_types_supported"] == ["authorization_code", "refresh_token"]
        assert doc["code_challenge_methods_supported"] == ["S256"]
        assert doc["token_endpoint_auth_methods_supported"] == [
            "none",
            "client_secret_post",
            "client_secret_basic",
            "private_key_jwt",
        ]
        # RFC 7523 client assertions: asymmetric algorithms only, never none or HMAC.
        for endpoint in ("token", "revocation", "introspection"):
            assert "private_key_jwt" in doc[f"{endpoint}_endpoint_auth_methods_supported"]
            assert doc[f"{endpoint}_endpoint_auth_signing_alg_values_supported"] == [
                "ES256",
                "PS256",
                "RS256",
            ]
        assert doc["client_id_metadata_document_supported"] is True
        assert doc["authorization_response_iss_parameter_supported"] is True


def test_metadata_and_cors_read_the_one_paths_table(as_client: TestClient) -> None:
    doc = as_client.get(paths.METADATA).json()
    assert doc["authorization_endpoint"] == ISSUER + paths.AUTHORIZE
    assert doc["token_endpoint"] == ISSUER + paths.TOKEN
    assert doc["registration_endpoint"] == ISSUER + paths.REGISTER
    assert doc["revocation_endpoint"] == ISSUER + paths.REVOKE
    assert doc["introspection_endpoint"] == ISSUER + paths.INTROSPECT
    assert doc["jwks_uri"] == ISSUER + paths.JWKS
    for path in paths.PUBLIC_ENDPOINTS:
        preflight = as_client.options(
            path, headers={"Origin": "https://inspector.example", "Access-Control-Request-Method": "POST"}
        )
        assert preflight.headers.get("access-control-allow-origin") == "*", path
    for path in (paths.AUTHORIZE, paths.LOGIN, paths.CONSENT):
        preflight = as_client.options(
            path, headers={"Origin": "https://inspector.example", "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in preflight.headers, path


def test_other_well_known_paths_are_404_with_cors(as_client: TestClient) -> None:
    response = as_client.get("/.well-known/oauth-protected-resource", headers={"Origin": "https://x.example"})
    assert response.status_code == 404
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json()["error"] == "not_found"


def test_cors_preflight_on_token_endpoint(as_client: TestClient) -> None:
    response = as_client.options(
        "/oauth2/token",
        headers={"Origin": "http://localhost:6274", "Access-Control-Request-Method": "POST"},
    )
    # Starlette's CORSMiddleware answers a preflight with 200 (any 2xx passes, Fetch standard).
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "mcp-protocol-version" in allowed
    assert response.headers["access-control-max-age"] == "86400"


def test_pages_get_no_cors(as_client: TestClient) -> None:
    # The login and consent pages are navigations: no site may read them with fetch.
    response = as_client.get("/oauth2/login?request_id=x", headers={"Origin": "https://x.example"})
    assert "access-control-allow-origin" not in response.headers
    response = as_client.post(
        "/oauth2/token", data={"grant_type": "nope"}, headers={"Origin": "https://x.example"}
    )
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-expose-headers"] == "WWW-Authenticate"


def test_whole_flow(as_client: TestClient) -> None:
    client = register_client(as_client, client_name="Flow Client")
    verifier, challenge = make_pair()
    query = authorize_in_browser(as_client, authorize_params(client["client_id"], challenge, state="s/1 +x"))
    assert query["state"] == "s/1 +x"
    assert query["iss"] == ISSUER

    response = exchange_code(as_client, client["client_id"], query["code"], verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 600
    assert tokens["scope"] == format_scope(RESOURCE_SCOPES)  # the default when no scope is asked for
    claims = verify(as_client, tokens["access_token"])
    assert claims["sub"] == "user_alex"
    assert claims["aud"] == RESOURCE
    assert claims["client_id"] == client["client_id"]
    assert claims["name"] == "Alex Demo"
    assert claims["email"] == "alex@example.com"
    assert claims["preferred_username"] == "alex"
    assert jwt.get_unverified_header(tokens["access_token"])["typ"] == "at+jwt"

    refreshed = refresh(as_client, client["client_id"], tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert verify(as_client, new["access_token"])["sub"] == "user_alex"

    revoked = post_token(
        as_client, {"token": new["refresh_token"]}, client["client_id"], path="/oauth2/revoke"
    )
    assert revoked.status_code == 200
    assert refresh(as_client, client["client_id"], new["refresh_token"]).json()["error"] == "invalid_grant"


def test_whole_flow_of_a_confidential_client_with_introspection(as_client: TestClient) -> None:
    """Introspection is for confidential clients, and each sees only its own tokens (RFC 7662 §4)."""
    client = register_client(as_client, token_endpoint_auth_method="client_secret_basic", client_name="Web")
    tokens = get_tokens(as_client, client)
    active = post_token(
        as_client,
        {"token": tokens.access_token},
        client["client_id"],
        client_secret=client["client_secret"],
        basic=True,
        path="/oauth2/introspect",
    ).json()
    assert active["active"] is True
    assert active["sub"] == "user_alex"
    assert active["client_id"] == client["client_id"]
    assert active["aud"] == RESOURCE
    assert active["iss"] == ISSUER
    assert active["scope"] == tokens.response["scope"]
    assert active["token_type"] == "Bearer"
    assert active["exp"] > active["iat"]
    # Another confidential client — anyone may register one — learns nothing about it.
    other = register_client(as_client, token_endpoint_auth_method="client_secret_basic")
    assert introspect_with(as_client, other, tokens.access_token) == {"active": False}

    revoked = post_token(
        as_client,
        {"token": tokens.refresh_token},
        client["client_id"],
        client_secret=client["client_secret"],
        path="/oauth2/revoke",
    )
    assert revoked.status_code == 200
    # Revoking the refresh token revoked its family, including the access tokens it issued.
    assert introspect_with(as_client, client, tokens.access_token) == {"active": False}


def test_second_authorization_skips_login(as_client: TestClient) -> None:
    first = get_tokens(as_client)
    _, challenge = make_pair()
    response = start_authorization(as_client, authorize_params(first.client_id, challenge))
    assert response.headers["location"].startswith("/oauth2/consent")


def test_deny_redirects_access_denied_with_state_and_iss(as_client: TestClient) -> None:
    client = register_client(as_client)
    _, challenge = make_pair()
    query = authorize_in_browser(as_client, authorize_params(client["client_id"], challenge), action="deny")
    assert query["error"] == "access_denied"
    assert query["state"] == "state-123"
    assert query["iss"] == ISSUER
    assert "code" not in query


def test_state_is_omitted_when_absent(as_client: TestClient) -> None:
    client = register_client(as_client)
    _, challenge = make_pair()
    query = authorize_in_browser(as_client, authorize_params(client["client_id"], challenge, state=None))
    assert "state" not in query and "code" in query


def test_explicit_scope_and_offline_access(as_client: TestClient) -> None:
    tokens = get_tokens(as_client, scope="notes:read offline_access")
    assert tokens.response["scope"] == "notes:read offline_access"
    assert "refresh_token" in tokens.response


def test_redirect_uri_with_query_keeps_it(as_client: TestClient) -> None:
    redirect = "http://localhost:9999/cb?tenant=a"
    client = register_client(as_client, redirect_uris=[redirect])
    _, challenge = make_pair()
    response = start_authorization(
        as_client,
        authorize_params(client["client_id"], challenge, redirect_uri=redirect, response_type="token"),
    )
    assert response.headers["location"].startswith(
        "http://localhost:9999/cb?tenant=a&error=unsupported_response_type"
    )
    assert query_of(response.headers["location"])["iss"] == ISSUER


def test_loopback_redirect_any_port(as_client: TestClient) -> None:
    client = register_client(as_client, redirect_uris=["http://127.0.0.1/callback"])
    verifier, challenge = make_pair()
    redirect = "http://127.0.0.1:51234/callback"
    query = authorize_in_browser(
        as_client, authorize_params(client["client_id"], challenge, redirect_uri=redirect)
    )
    response = exchange_code(as_client, client["client_id"], query["code"], verifier, redirect_uri=redirect)
    assert response.status_code == 200, response.text
    assert LOOPBACK_REDIRECT != redirect
