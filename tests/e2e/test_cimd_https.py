"""Client ID Metadata Documents fetched over real HTTPS by a real AS process.

``tests/e2e/vendor_hosts.py`` serves ``https://claude.ai/…`` on a free 127.0.0.1 port with a
certificate from a throw-away CA. The AS runs as its own process (``python -m auth_server``)
with ``OAUTH_FETCH_HOST_OVERRIDES`` pointing ``claude.ai`` there and ``SSL_CERT_FILE`` trusting
the CA — so its real fetch path runs: the URL rules, the pinned connection, TLS with SNI
``claude.ai`` and the certificate check, the size and time bounds. Then the user signs in and
consents (``mcp_oauth_demo.user_agent``), the code arrives at Claude's callback (not followed)
and is exchanged for tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mcp_oauth_demo import oauth_client as oc
from mcp_oauth_demo.launcher import ServerProcess, free_port, pair_environment, start_auth
from mcp_oauth_demo.user_agent import sign_in
from shared.pkce import make_pair
from tests.e2e.vendor_hosts import (
    CLAUDE_CALLBACK,
    CLAUDE_CLIENT_ID,
    CLAUDE_DOCUMENT,
    VendorHosts,
    vendor_hosts,
)

pytestmark = pytest.mark.e2e

# A client of Claude's shape whose document the AS accepts today (no jwt-bearer grant).
TEST_CLIENT_ID = "https://claude.ai/oauth/e2e-test-client"


@dataclass
class LiveAS:
    auth: ServerProcess
    env: dict[str, str]
    vendor: VendorHosts

    @property
    def issuer(self) -> str:
        return self.env["AUTH_ISSUER"]

    @property
    def resource(self) -> str:
        return self.env["RS_BASE_URL"] + "/mcp"


@pytest.fixture(scope="module")
def live_as(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAS]:
    """The vendor hosts, and one AS process that fetches from them (no RS: none is needed)."""
    directory = tmp_path_factory.mktemp("cimd-https")
    with vendor_hosts(directory) as vendor:
        vendor.serve(CLAUDE_CLIENT_ID, CLAUDE_DOCUMENT, headers={"Cache-Control": "max-age=60"})
        vendor.serve(
            TEST_CLIENT_ID,
            CLAUDE_DOCUMENT
            | {"client_id": TEST_CLIENT_ID, "grant_types": ["authorization_code", "refresh_token"]},
        )
        env = pair_environment(directory, auth_port=free_port(), rs_port=free_port(), **vendor.environment())
        auth = start_auth(env, directory)
        try:
            yield LiveAS(auth=auth, env=env, vendor=vendor)
        finally:
            auth.stop()


def _sign_in_and_exchange(live: LiveAS, client_id: str) -> httpx.Response:
    verifier, challenge = make_pair()
    with httpx.Client(timeout=10) as http:
        url = oc.authorization_url(
            live.issuer + "/oauth2/authorize",
            client_id=client_id,
            redirect_uri=CLAUDE_CALLBACK,
            code_challenge=challenge,
            state="cimd-https",
            resource=live.resource,
        )
        answer = sign_in(http, url)
        assert answer.redirect_url.startswith(CLAUDE_CALLBACK + "?")
        assert answer.state == "cimd-https" and answer.iss == live.issuer
        return oc.exchange_code(
            http,
            live.issuer + "/oauth2/token",
            client_id=client_id,
            code=answer.require_code(),
            redirect_uri=CLAUDE_CALLBACK,
            code_verifier=verifier,
            resource=live.resource,
        )


def test_the_as_warns_at_startup_that_overrides_are_set(live_as: LiveAS) -> None:
    warning = "WARNING: OAUTH_FETCH_HOST_OVERRIDES sends fetches for https://claude.ai/ to 127.0.0.1:"
    assert f"{warning}{live_as.vendor.port}" in live_as.auth.log


def test_a_document_fetched_over_https_signs_a_client_in(live_as: LiveAS) -> None:
    tokens = _sign_in_and_exchange(live_as, TEST_CLIENT_ID)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["token_type"] == "Bearer" and tokens.json()["refresh_token"]
    seen = live_as.vendor.fetched(TEST_CLIENT_ID)
    assert seen and all(request.sni == "claude.ai" and request.host == "claude.ai" for request in seen)


def test_claudes_published_document_is_fetched_over_https(live_as: LiveAS) -> None:
    """Whatever the AS then decides about the document, it fetched it from claude.ai over TLS."""
    with httpx.Client(timeout=10) as http:
        http.get(
            live_as.issuer + "/oauth2/authorize",
            params={
                "response_type": "code",
                "client_id": CLAUDE_CLIENT_ID,
                "redirect_uri": CLAUDE_CALLBACK,
                "code_challenge": make_pair()[1],
                "code_challenge_method": "S256",
                "resource": live_as.resource,
            },
        )
    (seen, *_) = live_as.vendor.fetched(CLAUDE_CLIENT_ID)
    assert seen.sni == "claude.ai" and seen.host == "claude.ai"


def test_claudes_published_document_signs_claude_in(live_as: LiveAS) -> None:
    tokens = _sign_in_and_exchange(live_as, CLAUDE_CLIENT_ID)
    assert tokens.status_code == 200, tokens.text


def test_a_host_the_certificate_does_not_name_is_refused(live_as: LiveAS, tmp_path: Path) -> None:
    """The override moves the connection only; the certificate must still name the URL's host."""
    env = pair_environment(
        tmp_path,
        auth_port=free_port(),
        rs_port=free_port(),
        OAUTH_FETCH_HOST_OVERRIDES=f"openai.com=127.0.0.1:{live_as.vendor.port}",
        SSL_CERT_FILE=str(live_as.vendor.ca_file),
    )
    auth = start_auth(env, tmp_path)
    try:
        with httpx.Client(timeout=10) as http:
            page = http.get(
                env["AUTH_ISSUER"] + "/oauth2/authorize",
                params={"response_type": "code", "client_id": "https://openai.com/client.json"},
            )
    finally:
        auth.stop()
    assert page.status_code == 400
    assert "Client metadata document refused" in page.text and "certificate" in page.text.lower()
    assert live_as.vendor.fetched("https://openai.com/client.json") == []
