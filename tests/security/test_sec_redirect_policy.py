"""Every redirect URI passes the redirect policy before anything is sent to it (RFC 9700 §4.1, §4.11).

The attack: a Client ID Metadata Document — which anyone can publish on a host the AS
fetches from — lists only ``https://evil.example/steal`` (or a plain-http URI), and the
authorization request leaves ``redirect_uri`` out, so the AS picks the document's only one.
Had the AS trusted that pick, error redirects would leave with no user action and, after
login + Allow, the code would follow. Whatever way the URI was chosen, the answer must be an
error page — no ``Location`` header, no code. The same holds for a registered client whose
URI was allowed when it registered but not by the allowlist the server runs with now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from auth_server.redirect_uris import RedirectPolicy, RedirectURIError
from shared.pkce import make_pair
from tests.auth_server.as_flow_helpers import (
    authorize_params,
    consent,
    hidden_fields,
    login,
    register_client,
    start_authorization,
)
from tests.auth_server.as_support import Documents

STEAL = "https://evil.example/steal"
PLAIN_HTTP = "http://evil.example/steal"


def document(client_id: str, redirect_uri: str) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "client_name": "Claude",
        "redirect_uris": [redirect_uri],
        "token_endpoint_auth_method": "none",
    }


def assert_nothing_sent(response: Any) -> None:
    """An HTML error page: the browser is sent nowhere, so the attacker's URI learns nothing."""
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


class RefusingPolicy(RedirectPolicy):
    """A policy that allows nothing, not even loopback: stands in for a URI that fails the check."""

    def __init__(self) -> None:
        super().__init__([])

    def check(self, uri: str) -> None:
        raise RedirectURIError(f"redirect URI {uri!r} is not allowed by this server (test policy)")


@pytest.fixture(params=["default hosts", "any host"])
def attacker_document(request: pytest.FixtureRequest, make_client: Callable[..., TestClient]) -> Any:
    """(as_client, client_id) for a metadata document on a host the AS agrees to fetch from."""
    if request.param == "any host":
        return make_client(oauth_allowed_client_metadata_hosts="*"), "https://evil.example/client.json"
    return make_client(), "https://claude.ai/oauth/not-really-claude"


@pytest.mark.parametrize("redirect_uri", [STEAL, PLAIN_HTTP])
def test_document_with_only_an_evil_redirect_gets_no_error_redirect_without_redirect_uri(
    attacker_document: Any, documents: Documents, redirect_uri: str
) -> None:
    as_client, client_id = attacker_document
    documents.serve(client_id, document(client_id, redirect_uri))
    _, challenge = make_pair()
    params = authorize_params(client_id, challenge, redirect_uri=None, response_type="token")
    assert_nothing_sent(start_authorization(as_client, params))


@pytest.mark.parametrize("redirect_uri", [STEAL, PLAIN_HTTP])
def test_document_with_only_an_evil_redirect_never_reaches_login_so_no_code_can_follow(
    attacker_document: Any, documents: Documents, redirect_uri: str
) -> None:
    as_client, client_id = attacker_document
    documents.serve(client_id, document(client_id, redirect_uri))
    _, challenge = make_pair()
    for sent in (None, redirect_uri):  # defaulted or named, the same answer
        response = start_authorization(as_client, authorize_params(client_id, challenge, redirect_uri=sent))
        assert_nothing_sent(response)


def test_registered_client_whose_redirect_the_current_allowlist_refuses_gets_an_error_page(
    make_client: Callable[..., TestClient], tmp_path: Any
) -> None:
    """Registered under a looser OAUTH_ALLOWED_REDIRECT_URIS, authorized after it was tightened."""
    loose = make_client(tmp_path, oauth_allowed_redirect_uris=STEAL)
    client = register_client(loose, redirect_uris=[STEAL])
    strict = make_client(tmp_path)  # same DATA_DIR, default allowlist
    _, challenge = make_pair()
    for sent in (None, STEAL):
        for response_type in ("code", "token"):
            params = authorize_params(
                client["client_id"], challenge, redirect_uri=sent, response_type=response_type
            )
            response = start_authorization(strict, params)
            assert_nothing_sent(response)
            assert "Redirect URI not allowed" in response.text
            assert "OAUTH_ALLOWED_REDIRECT_URIS" in response.text  # the page names the fix


def test_consent_post_rechecks_the_policy_before_issuing_a_code(as_client: TestClient) -> None:
    """The redirect back to the client is the last gate: an approval cannot send a code past it."""
    client = register_client(as_client)
    _, challenge = make_pair()
    response = start_authorization(as_client, authorize_params(client["client_id"], challenge))
    consent_url = login(as_client, response.headers["location"]).headers["location"]
    page = as_client.get(consent_url)
    context = as_client.app.state.context  # type: ignore[attr-defined]
    context.redirect_policy = RefusingPolicy()
    approved = as_client.post(
        "/oauth2/consent", data=hidden_fields(page.text) | {"action": "approve"}, follow_redirects=False
    )
    assert approved.status_code == 400 and "location" not in approved.headers
    assert "Redirect URI not allowed" in approved.text
    assert context.store._one("SELECT count(*) AS n FROM authorization_codes")["n"] == 0


def test_deny_is_also_held_to_the_policy(as_client: TestClient) -> None:
    client = register_client(as_client)
    _, challenge = make_pair()
    response = start_authorization(as_client, authorize_params(client["client_id"], challenge))
    consent_url = login(as_client, response.headers["location"]).headers["location"]
    as_client.app.state.context.redirect_policy = RefusingPolicy()  # type: ignore[attr-defined]
    denied = consent(as_client, consent_url, action="deny")
    assert denied.status_code == 400 and "location" not in denied.headers
