"""Real clients' published metadata documents, end to end through the real AS and RS apps.

Each document in ``tests/fixtures/client_metadata`` (where and when it was seen:
``_seen.json``) is served unchanged at its ``client_id`` URL. The client then does what the
real one does: authorize → login → consent → token → refresh, and calls a tool at the
resource server with the access token. ChatGPT's documents negotiate ``private_key_jwt``, so
its token requests carry an RS256 assertion signed with a key whose public half the fake web
serves at the document's ``jwks_uri``; Claude's, Claude Code's and opencode's are public
clients (``none`` + PKCE).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from shared.pkce import make_pair
from tests.auth_server.as_flow_helpers import authorize_in_browser, authorize_params, exchange_code, refresh
from tests.auth_server.as_support import ISSUER, Documents
from tests.resource_server.rs_support import AppFactory, tool_result
from tests.security.client_assertion_support import (
    post_token,
    published_document,
    serve_client,
    sign_assertion,
)

ALLOWED_HOSTS = "claude.ai,chatgpt.com,openai.com,opencode.ai"

# name of the fixture, the redirect URI the real client sends, whether it signs assertions
REAL_CLIENTS = [
    ("chatgpt", "https://chatgpt.com/connector_platform_oauth_redirect", True),
    ("chatgpt-connector", "https://chatgpt.com/connector/oauth/kDmjx77UnKOM", True),
    ("claude", "https://claude.ai/api/mcp/auth_callback", False),
    # Claude Code and opencode publish portless loopback redirects and listen on any port (RFC 8252 §7.3).
    ("claude-code", "http://localhost:53172/callback", False),
    ("opencode", "http://127.0.0.1:49152/callback", False),
]


def authorize(as_client: TestClient, client_id: str, redirect_uri: str) -> tuple[str, str]:
    """Browser part of the flow; the code and the PKCE verifier."""
    verifier, challenge = make_pair()
    query = authorize_in_browser(as_client, authorize_params(client_id, challenge, redirect_uri=redirect_uri))
    assert "code" in query, query
    assert query["iss"] == ISSUER  # RFC 9207, which makes ChatGPT use its stable document
    return query["code"], verifier


def tokens_for(
    as_client: TestClient, document: dict[str, Any], redirect_uri: str, signs: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Code → tokens → refreshed tokens, authenticating the way the real client does."""
    client_id = document["client_id"]
    code, verifier = authorize(as_client, client_id, redirect_uri)
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": redirect_uri,
    }
    if signs:
        first = post_token(as_client, exchange, sign_assertion(client_id), client_id)
        assert first.status_code == 200, first.text
        # RFC 7521 §4.2: client_id may be left out, the assertion names the client.
        again = {"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]}
        second = post_token(as_client, again, sign_assertion(client_id), None)
    else:
        first = exchange_code(as_client, client_id, code, verifier, redirect_uri=redirect_uri)
        assert first.status_code == 200, first.text
        second = refresh(as_client, client_id, first.json()["refresh_token"])
    assert second.status_code == 200, second.text
    return first.json(), second.json()


@pytest.mark.parametrize(("name", "redirect_uri", "signs"), REAL_CLIENTS)
def test_a_published_document_completes_the_whole_flow(
    make_client: Callable[..., TestClient],
    documents: Documents,
    start_rs: AppFactory,
    name: str,
    redirect_uri: str,
    signs: bool,
) -> None:
    as_client = make_client(oauth_allowed_client_metadata_hosts=ALLOWED_HOSTS)
    document = published_document(name)
    serve_client(documents, document)

    first, refreshed = tokens_for(as_client, document, redirect_uri, signs)

    assert first["refresh_token"] != refreshed["refresh_token"]  # rotated
    jwks_fetches = [url for url in documents.fetches if url == document.get("jwks_uri")]
    assert len(jwks_fetches) == (1 if signs else 0)  # one fetch, then the cached key set
    rs = start_rs()
    rs.fake_as.keys = [as_client.portal.call(as_client.app.state.context.keys.current)]  # type: ignore[attr-defined]
    for token in (first["access_token"], refreshed["access_token"]):
        response = rs.rpc.call("notes_list", token=token)
        assert response.status_code == 200, response.text
        assert not tool_result(response).get("isError"), response.text


@pytest.mark.parametrize("name", ["chatgpt", "chatgpt-connector"])
def test_chatgpt_documents_negotiate_private_key_jwt(
    make_client: Callable[..., TestClient], documents: Documents, name: str
) -> None:
    """The stable document offers none too, but with a usable key set the stronger method wins."""
    as_client = make_client()
    document = published_document(name)
    serve_client(documents, document)
    code, verifier = authorize(as_client, document["client_id"], document["redirect_uris"][0])
    response = exchange_code(
        as_client, document["client_id"], code, verifier, redirect_uri=document["redirect_uris"][0]
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "private_key_jwt" in response.json()["error_description"]


def test_claudes_extra_grant_type_is_ignored_not_refused(as_client: TestClient, documents: Documents) -> None:
    """Claude lists the jwt-bearer grant; the client is used with the two grants offered here."""
    document = published_document("claude")
    assert "urn:ietf:params:oauth:grant-type:jwt-bearer" in document["grant_types"]
    serve_client(documents, document)
    code, _verifier = authorize(as_client, document["client_id"], document["redirect_uris"][0])
    assert code
    directory = as_client.app.state.context.clients  # type: ignore[attr-defined]
    client = as_client.portal.call(directory.find, document["client_id"])  # type: ignore[union-attr]
    assert client.grant_types == ["authorization_code", "refresh_token"]
