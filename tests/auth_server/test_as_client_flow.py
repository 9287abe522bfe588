"""The project's one client flow (:mod:`mcp_oauth_demo.flow`) against the authorization server app.

The doctor, the benchmarks and the end-to-end tests sign in through this flow against live
servers; here it drives the ASGI app through a starlette ``TestClient`` (an ``httpx.Client``),
including the checks a client makes on the answers: the metadata's ``issuer`` (RFC 8414 §3.3)
and the redirect's ``state`` and ``iss`` (RFC 6749 §10.12, RFC 9207 §2.4).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from starlette.testclient import TestClient

from mcp_oauth_demo import flow, user_agent
from mcp_oauth_demo.constants import DEMO_SCOPE
from mcp_oauth_demo.oauth_client import ProtocolError, jwt_claims
from tests.auth_server.as_flow_helpers import RESOURCE
from tests.auth_server.as_support import ISSUER, Documents


def test_the_flow_signs_in_refreshes_and_reports_each_step(as_client: TestClient) -> None:
    steps: list[str] = []
    discovery = flow.discover_issuer(as_client, ISSUER, RESOURCE)
    signed_in = flow.sign_in(
        as_client, discovery, client_name="flow test", on_step=lambda name, seconds: steps.append(name)
    )
    assert steps == ["discovery", "register (DCR)", "authorize+login+consent", "token"]
    claims = jwt_claims(signed_in.access_token)
    assert claims["aud"] == RESOURCE and claims["iss"] == ISSUER
    assert set(claims["scope"].split()) == set(DEMO_SCOPE.split())
    assert signed_in.refresh_token
    refreshed = flow.refresh(
        as_client, discovery, client_id=signed_in.client_id, refresh_token=signed_in.refresh_token
    )
    assert refreshed["access_token"] != signed_in.access_token
    assert refreshed["refresh_token"] != signed_in.refresh_token  # rotated (RFC 9700 §4.14.2)


def test_a_client_metadata_document_url_skips_registration(
    as_client: TestClient, documents: Documents
) -> None:
    """CIMD: the client id is the URL of the client's metadata document, nothing is registered."""
    client_id = "https://claude.ai/oauth/mcp-oauth-client-metadata"
    redirect_uri = "https://claude.ai/api/mcp/auth_callback"
    documents.serve(
        client_id,
        {
            "client_id": client_id,
            "client_name": "CIMD flow test",
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        },
    )
    steps: list[str] = []
    signed_in = flow.sign_in(
        as_client,
        flow.discover_issuer(as_client, ISSUER, RESOURCE),
        client_name="-",
        client_id=client_id,
        redirect_uri=redirect_uri,
        on_step=lambda name, seconds: steps.append(name),
    )
    assert steps == ["discovery", "authorize+login+consent", "token"]
    assert jwt_claims(signed_in.access_token)["client_id"] == client_id
    assert documents.fetches == [client_id]


def _tampered(location: str, **changes: str) -> str:
    parts = urlsplit(location)
    query = dict(parse_qsl(parts.query)) | changes
    return parts._replace(query=urlencode(query)).geturl()


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [({"state": "forged"}, "state"), ({"iss": "https://mix-up.example"}, "iss")],
)
def test_the_flow_refuses_a_redirect_that_is_not_its_own(
    as_client: TestClient, changes: dict[str, str], complaint: str
) -> None:
    discovery = flow.discover_issuer(as_client, ISSUER, RESOURCE)
    redirect_uri = flow.UNFOLLOWED_REDIRECT_URI
    client_id = flow.register(as_client, discovery, client_name="flow test", redirect_uri=redirect_uri)
    request = flow.authorization_request(discovery, client_id=client_id, redirect_uri=redirect_uri)
    location = user_agent.sign_in(as_client, request.url).redirect_url
    assert flow.code_from_redirect(request, location)
    with pytest.raises(ProtocolError, match=complaint):
        flow.code_from_redirect(request, _tampered(location, **changes))


def test_discovery_refuses_metadata_for_another_issuer(as_client: TestClient) -> None:
    """``issuer`` must equal the URL the metadata was fetched for, byte for byte (RFC 8414 §3.3)."""
    with pytest.raises(ProtocolError, match="RFC 8414"):
        flow.discover_issuer(as_client, ISSUER + "/", RESOURCE)
