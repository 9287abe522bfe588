"""ChatGPT's sign-in end to end: its published document and key set over real HTTPS, signed assertions.

``tests/e2e/vendor_hosts.py`` serves ``https://chatgpt.com/oauth/client.json`` — ChatGPT's
published Client ID Metadata Document, unchanged (``tests/fixtures/client_metadata/chatgpt.json``)
— and a key set at its ``jwks_uri`` holding the public half of a key this test generates. Both
servers run as real processes; the AS fetches both documents over TLS through its real fetch
path (``OAUTH_FETCH_HOST_OVERRIDES`` moves only the connection to 127.0.0.1; the name, SNI and
certificate check stay ``chatgpt.com``).

The client side is what ChatGPT does: the user signs in and consents, the code arrives at
ChatGPT's callback (not followed), and every token request carries an RS256 client assertion
(``private_key_jwt``, RFC 7523 §2.2) instead of a secret. Then the access token calls a tool at
the RS. The negative cases each get a fresh code, present a bad assertion (``invalid_client``,
401), and then show the code still works with a good one — so the refusal was the assertion's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from mcp_oauth_demo import oauth_client as oc
from mcp_oauth_demo.launcher import Pair, running_pair
from mcp_oauth_demo.user_agent import sign_in
from shared.pkce import make_pair
from tests.e2e.vendor_hosts import VendorHosts, vendor_hosts
from tests.security.client_assertion_support import (
    ASSERTION_TYPE,
    CLIENT_KEY,
    KID,
    OTHER_KEY,
    public_jwk,
    published_document,
    sign_assertion,
)

pytestmark = pytest.mark.e2e

CHATGPT = published_document("chatgpt")
CLIENT_ID: str = CHATGPT["client_id"]
CALLBACK: str = CHATGPT["redirect_uris"][0]


@dataclass
class Live:
    pair: Pair
    vendor: VendorHosts

    @property
    def token_endpoint(self) -> str:
        return self.pair.issuer + "/oauth2/token"

    @property
    def resource(self) -> str:
        return self.pair.mcp_url


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    directory = tmp_path_factory.mktemp("pkjwt-https")
    with vendor_hosts(directory) as vendor:
        vendor.serve(CLIENT_ID, CHATGPT, headers={"Cache-Control": "max-age=300"})
        vendor.serve(CHATGPT["jwks_uri"], {"keys": [public_jwk()]}, headers={"Cache-Control": "max-age=300"})
        with running_pair(directory / "data", **vendor.environment()) as pair:
            yield Live(pair, vendor)


@dataclass(frozen=True)
class Code:
    code: str
    verifier: str


def get_code(live: Live, http: httpx.Client) -> Code:
    verifier, challenge = make_pair()
    state = secrets.token_urlsafe(8)
    url = oc.authorization_url(
        live.pair.issuer + "/oauth2/authorize",
        client_id=CLIENT_ID,
        redirect_uri=CALLBACK,
        code_challenge=challenge,
        state=state,
        resource=live.resource,
    )
    answer = sign_in(http, url)
    assert answer.redirect_url.startswith(CALLBACK + "?")
    assert answer.state == state and answer.iss == live.pair.issuer
    return Code(answer.require_code(), verifier)


def assertion(live: Live, **overrides: Any) -> str:
    return sign_assertion(CLIENT_ID, **({"aud": live.token_endpoint} | overrides))


def redeem(live: Live, http: httpx.Client, code: Code, client_assertion: str | None) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code.code,
        "redirect_uri": CALLBACK,
        "code_verifier": code.verifier,
        "resource": live.resource,
        "client_id": CLIENT_ID,
    }
    if client_assertion is not None:
        form |= {"client_assertion_type": ASSERTION_TYPE, "client_assertion": client_assertion}
    return http.post(live.token_endpoint, data=form)


def test_chatgpt_signs_in_refreshes_and_calls_a_tool(live: Live) -> None:
    with httpx.Client(timeout=15) as http:
        tokens = redeem(live, http, get_code(live, http), assertion(live))
        assert tokens.status_code == 200, tokens.text
        body = tokens.json()
        # The 401 asked for the whole sign-in set, so one consent covers every tool.
        assert set(body["scope"].split()) >= {"profile:read", "notes:read", "notes:write"}

        # A refresh authenticates the same way; ChatGPT leaves client_id out (RFC 7521 §4.2).
        refreshed = http.post(
            live.token_endpoint,
            data={
                "grant_type": "refresh_token",
                "refresh_token": body["refresh_token"],
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(live),
            },
        )
        assert refreshed.status_code == 200, refreshed.text

        session = oc.McpSession(http, live.pair.mcp_url, access_token=refreshed.json()["access_token"])
        session.initialize("ChatGPT e2e")
        response, message = session.call_tool("auth_whoami", {})
        assert response.status_code == 200, response.text
        assert message["result"]["structuredContent"]["client_id"] == CLIENT_ID
        session.close()

    # The document and the key set were fetched from chatgpt.com over TLS, once each (cached).
    for url in (CLIENT_ID, CHATGPT["jwks_uri"]):
        seen = live.vendor.fetched(url)
        assert seen and all(
            request.sni == "chatgpt.com" and request.host == "chatgpt.com" for request in seen
        )


def _hs256_with_public_key(live: Live) -> str:
    """The classic key-confusion attack: the public key's bytes used as an HMAC secret."""
    public_pem = CLIENT_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = jwt.decode(assertion(live), options={"verify_signature": False})

    # PyJWT refuses to HMAC-sign with a PEM key, so the token is assembled by hand.
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = (
        f"{b64(json.dumps({'alg': 'HS256', 'kid': KID}).encode())}.{b64(json.dumps(claims).encode())}"
    )
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def _alg_none(live: Live) -> str:
    claims = jwt.decode(assertion(live), options={"verify_signature": False})
    return jwt.encode(claims, None, algorithm="none", headers={"kid": KID})


BAD_ASSERTIONS: dict[str, Callable[[Live], str | None]] = {
    "missing assertion": lambda live: None,
    "signed with another key": lambda live: assertion(live, key=OTHER_KEY),
    "expired": lambda live: assertion(live, iat=1_000_000_000, exp=1_000_000_060),
    "alg none": _alg_none,
    "HS256 with the public key as secret": _hs256_with_public_key,
    "audience of another server": lambda live: assertion(live, aud="https://as.example/oauth2/token"),
    "issuer is not the client": lambda live: assertion(live, iss="https://chatgpt.com/other.json"),
}


@pytest.mark.parametrize("attack", list(BAD_ASSERTIONS))
def test_a_bad_client_assertion_is_invalid_client(live: Live, attack: str) -> None:
    with httpx.Client(timeout=15) as http:
        code = get_code(live, http)
        refused = redeem(live, http, code, BAD_ASSERTIONS[attack](live))
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == "invalid_client"
        assert refused.json()["error_description"]
        # The refusal came from client authentication: the same code still works when signed properly.
        assert redeem(live, http, code, assertion(live)).status_code == 200


def test_a_replayed_assertion_is_refused(live: Live) -> None:
    """A jti is single-use (RFC 7523 §3, item 7): the same assertion cannot authenticate twice."""
    with httpx.Client(timeout=15) as http:
        once = assertion(live)
        assert redeem(live, http, get_code(live, http), once).status_code == 200
        code = get_code(live, http)
        replayed = redeem(live, http, code, once)
        assert replayed.status_code == 401 and replayed.json()["error"] == "invalid_client", replayed.text
        assert "jti" in replayed.json()["error_description"]
        assert redeem(live, http, code, assertion(live)).status_code == 200
