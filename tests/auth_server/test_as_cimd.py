"""Client ID Metadata Documents: an HTTPS URL as client_id, fetched under SSRF fences.

``documents`` (conftest) is a fake internet: the AS's httpx client runs on an
``httpx.MockTransport`` and its resolver answers from a table, so no test touches the network.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from shared.pkce import make_pair
from tests.auth_server.as_flow_helpers import (
    authorize_params,
    exchange_code,
    login,
    query_of,
    refresh,
    start_authorization,
)
from tests.auth_server.as_support import Documents

CLAUDE = "https://claude.ai/oauth/mcp-oauth-client-metadata"
CLAUDE_CALLBACK = "https://claude.ai/api/mcp/auth_callback"


def claude_document(**overrides: Any) -> dict[str, Any]:
    document = {
        "client_id": CLAUDE,
        "client_name": "Claude",
        "client_uri": "https://claude.ai",
        "redirect_uris": [CLAUDE_CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    return {k: v for k, v in (document | overrides).items() if v is not None}


def authorize(as_client: TestClient, client_id: str = CLAUDE, redirect_uri: str = CLAUDE_CALLBACK) -> Any:
    _, challenge = make_pair()
    return start_authorization(as_client, authorize_params(client_id, challenge, redirect_uri=redirect_uri))


def assert_refused(response: Any, *mentions: str) -> None:
    """Refused on an HTML page (the client, hence its redirect URI, is not trusted)."""
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert "Client metadata document refused" in response.text
    text = response.text.replace("&#39;", "'")
    for mention in mentions:
        assert mention in text, text


def test_a_valid_document_is_used_like_a_registered_client(
    as_client: TestClient, documents: Documents
) -> None:
    documents.serve(CLAUDE, claude_document())
    verifier, challenge = make_pair()
    response = start_authorization(
        as_client, authorize_params(CLAUDE, challenge, redirect_uri=CLAUDE_CALLBACK)
    )
    consent_url = login(as_client, response.headers["location"]).headers["location"]
    page = as_client.get(consent_url)
    assert "Claude" in page.text and "claude.ai" in page.text
    assert 'class="warning"' not in page.text
    from tests.auth_server.as_flow_helpers import hidden_fields

    approved = as_client.post(
        "/oauth2/consent", data=hidden_fields(page.text) | {"action": "approve"}, follow_redirects=False
    )
    query = query_of(approved.headers["location"])
    assert approved.headers["location"].startswith(CLAUDE_CALLBACK + "?")
    tokens = exchange_code(as_client, CLAUDE, query["code"], verifier, redirect_uri=CLAUDE_CALLBACK)
    assert tokens.status_code == 200, tokens.text
    assert refresh(as_client, CLAUDE, tokens.json()["refresh_token"]).status_code == 200


def test_consent_warns_when_a_document_client_only_has_localhost_redirects(
    as_client: TestClient, documents: Documents
) -> None:
    url = "https://claude.ai/oauth/local-tool"
    documents.serve(url, claude_document(client_id=url, redirect_uris=["http://localhost:3334/cb"]))
    response = authorize(as_client, url, "http://localhost:3334/cb")
    page = as_client.get(login(as_client, response.headers["location"]).headers["location"])
    assert 'class="warning"' in page.text and "localhost" in page.text


def test_documents_are_cached_per_max_age(as_client: TestClient, documents: Documents) -> None:
    documents.serve(CLAUDE, claude_document(), headers={"Cache-Control": "public, max-age=3600"})
    for _ in range(3):
        assert authorize(as_client).status_code == 303
    assert documents.fetches == [CLAUDE]


def test_no_store_documents_are_fetched_every_time(as_client: TestClient, documents: Documents) -> None:
    documents.serve(CLAUDE, claude_document(), headers={"Cache-Control": "no-store"})
    for _ in range(2):
        assert authorize(as_client).status_code == 303
    assert documents.fetches == [CLAUDE, CLAUDE]


def test_cache_lifetime_is_capped(as_client: TestClient, documents: Documents) -> None:
    fetcher = as_client.app.state.context.clients.documents.fetcher  # type: ignore[attr-defined]
    assert fetcher.max_age("max-age=99999999") == fetcher.max_max_age_sec
    assert fetcher.max_age("") == fetcher.default_max_age_sec


@pytest.mark.parametrize(
    ("document", "mentions"),
    [
        (claude_document(client_id="https://claude.ai/other"), ("client_id", "must equal the document URL")),
        (claude_document(client_name=None), ("no client_name",)),
        (claude_document(redirect_uris=None), ("redirect_uris",)),
        (claude_document(token_endpoint_auth_method="client_secret_post"), ("public client",)),
        (claude_document(client_secret="s3cret"), ("public client",)),
        (claude_document(redirect_uris=["javascript:alert(1)"]), ("javascript",)),
        (claude_document(application_type="web", redirect_uris=["com.example.app:/cb"]), ("native",)),
        ([1, 2, 3], ("JSON object",)),
    ],
)
def test_invalid_documents_are_refused(
    as_client: TestClient, documents: Documents, document: Any, mentions: tuple[str, ...]
) -> None:
    documents.serve(CLAUDE, document)
    assert_refused(authorize(as_client), *mentions)


def test_redirect_uri_not_listed_in_the_document(as_client: TestClient, documents: Documents) -> None:
    documents.serve(CLAUDE, claude_document())
    response = authorize(as_client, redirect_uri="https://claude.ai/api/mcp/other")
    assert response.status_code == 400 and "location" not in response.headers
    assert "Redirect URI not registered" in response.text


def test_document_redirect_must_also_pass_the_allowlist(as_client: TestClient, documents: Documents) -> None:
    documents.serve(CLAUDE, claude_document(redirect_uris=["https://claude.ai/elsewhere"]))
    response = authorize(as_client, redirect_uri="https://claude.ai/elsewhere")
    assert response.status_code == 400 and "OAUTH_ALLOWED_REDIRECT_URIS" in response.text


def test_too_large_documents_are_refused(as_client: TestClient, documents: Documents) -> None:
    big = claude_document(client_uri="https://claude.ai/" + "x" * 6000)
    documents.serve(CLAUDE, big)
    assert_refused(authorize(as_client), "larger than 5120 bytes")


def test_streamed_documents_are_cut_off_beyond_the_limit(as_client: TestClient, documents: Documents) -> None:
    """No Content-Length: the AS reads chunk by chunk and gives up at the bound."""
    chunks_sent = []

    async def endless() -> Any:
        for index in range(1000):
            chunks_sent.append(index)
            yield b" " * 1024

    documents.handlers[CLAUDE] = lambda _request: httpx.Response(200, content=endless())
    assert_refused(authorize(as_client), "larger than")
    assert len(chunks_sent) < 10


def test_slow_hosts_are_given_up_on(as_client: TestClient, documents: Documents) -> None:
    fetcher = as_client.app.state.context.clients.documents.fetcher  # type: ignore[attr-defined]
    fetcher.timeout_sec = 0.2

    async def slow(_request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json=claude_document())

    documents.handlers[CLAUDE] = slow
    assert_refused(authorize(as_client), "took longer than 0.2 s")


@pytest.mark.parametrize("status", [302, 307])
def test_redirects_are_not_followed(as_client: TestClient, documents: Documents, status: int) -> None:
    """Not even to the cloud metadata service: a redirect would turn the fetch into request forgery."""
    documents.serve(CLAUDE, None, status_code=status, headers={"Location": "http://169.254.169.254/latest"})
    assert_refused(authorize(as_client), f"redirect ({status})")
    assert documents.fetches == [CLAUDE]  # the metadata service was never asked


def test_error_statuses_are_refused(as_client: TestClient, documents: Documents) -> None:
    documents.serve(CLAUDE, None, status_code=500)
    assert_refused(authorize(as_client), "HTTP 500")
    documents.serve(CLAUDE, None, content=b"<html>", headers={"Content-Type": "text/html"})
    assert_refused(authorize(as_client), "not valid JSON")


def test_transport_errors_are_refused(as_client: TestClient, documents: Documents) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    documents.handlers[CLAUDE] = fail
    assert_refused(authorize(as_client), "cannot fetch", "ConnectError")


def test_hosts_outside_the_allowlist_are_not_fetched(as_client: TestClient, documents: Documents) -> None:
    url = "https://evil.example/client.json"
    documents.serve(url, claude_document(client_id=url))
    assert_refused(authorize(as_client, url), "OAUTH_ALLOWED_CLIENT_METADATA_HOSTS", "evil.example")
    assert documents.fetches == []


def test_star_allows_any_public_host(make_client: Any, documents: Documents) -> None:
    as_client = make_client(
        oauth_allowed_client_metadata_hosts="*", oauth_allowed_redirect_uris="https://tool.example/cb"
    )
    url = "https://tool.example/client.json"
    documents.serve(url, claude_document(client_id=url, redirect_uris=["https://tool.example/cb"]))
    assert authorize(as_client, url, "https://tool.example/cb").status_code == 303


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.7",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "100.64.0.1",
    ],
)
def test_private_addresses_are_refused(make_client: Any, documents: Documents, address: str) -> None:
    as_client = make_client(oauth_allowed_client_metadata_hosts="*")
    url = "https://internal.example/client.json"
    documents.addresses["internal.example"] = ["93.184.215.14", address]  # one bad address is enough
    documents.serve(url, claude_document(client_id=url))
    assert_refused(authorize(as_client, url), "non-public address")
    assert documents.fetches == []


def test_unresolvable_hosts_are_refused(as_client: TestClient, documents: Documents) -> None:
    async def no_such_host(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    as_client.app.state.context.clients.documents.fetcher._resolve = no_such_host  # type: ignore[attr-defined]
    assert_refused(authorize(as_client), "cannot resolve claude.ai")


@pytest.mark.parametrize(
    ("client_id", "mentions"),
    [
        ("https://claude.ai", "must have a path"),
        ("https://claude.ai/", "must have a path"),
        ("https://claude.ai/a/../b", "'.' or '..'"),
        ("https://user:pw@claude.ai/doc", "user:password@"),
        ("https://claude.ai:99999/doc", "not a valid URL"),
    ],
)
def test_malformed_document_urls(as_client: TestClient, client_id: str, mentions: str) -> None:
    assert_refused(authorize(as_client, client_id), mentions)


def test_document_clients_cannot_introspect(as_client: TestClient, documents: Documents) -> None:
    documents.serve(CLAUDE, claude_document())
    response = as_client.post("/oauth2/introspect", data={"client_id": CLAUDE, "token": "x"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_document_errors_at_the_token_endpoint_are_invalid_client(
    as_client: TestClient, documents: Documents
) -> None:
    response = as_client.post(
        "/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": "x", "client_id": CLAUDE}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "HTTP 404" in response.json()["error_description"]


# --- redirect URIs pass the operator's policy when the document is read -----------------------


def test_a_document_whose_only_redirect_is_not_allowed_is_refused(
    as_client: TestClient, documents: Documents
) -> None:
    """Publishing a document on an allowed host must not be a way to send codes anywhere."""
    documents.serve(CLAUDE, claude_document(redirect_uris=["https://evil.example/steal"]))
    response = authorize(as_client, redirect_uri="https://evil.example/steal")
    assert_refused(response, "https://evil.example/steal", "OAUTH_ALLOWED_REDIRECT_URIS")


def test_redirects_outside_the_policy_are_dropped_from_a_document(
    as_client: TestClient, documents: Documents
) -> None:
    documents.serve(CLAUDE, claude_document(redirect_uris=["https://evil.example/steal", CLAUDE_CALLBACK]))
    refused = authorize(as_client, redirect_uri="https://evil.example/steal")
    assert refused.status_code == 400 and "location" not in refused.headers
    assert "Redirect URI not registered" in refused.text
    assert authorize(as_client).status_code == 303


def test_portless_loopback_redirects_match_any_port(as_client: TestClient, documents: Documents) -> None:
    """Claude Code publishes http://localhost/callback and listens on a port it picks (RFC 8252 §7.3)."""
    url = "https://claude.ai/oauth/claude-code-client-metadata"
    documents.serve(url, claude_document(client_id=url, redirect_uris=["http://localhost/callback"]))
    assert authorize(as_client, url, "http://localhost:53172/callback").status_code == 303
    refused = authorize(as_client, url, "http://localhost:53172/other")
    assert refused.status_code == 400 and "location" not in refused.headers
