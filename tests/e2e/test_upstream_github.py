"""IDENTITY=github against a local stand-in serving GitHub's documented OAuth and REST endpoints.

The stand-in (a small Starlette app under uvicorn on 127.0.0.1) implements what GitHub's docs
describe for OAuth apps — ``/login/oauth/authorize`` redirecting back with ``code`` and
``state``, ``/login/oauth/access_token`` (JSON with ``Accept: application/json``, checking
the client secret and the PKCE verifier), ``/user`` and ``/user/emails`` — and the AS reaches
it through ``UPSTREAM_GITHUB_URL`` and ``UPSTREAM_GITHUB_API_URL``, as GitHub Enterprise would.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import jwt
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from mcp_oauth_demo.launcher import free_port
from shared.pkce import make_pair, verify_s256
from tests.auth_server.as_flow_helpers import (
    authorize_params,
    exchange_code,
    hidden_fields,
    query_of,
    register_client,
    start_authorization,
)
from tests.auth_server.as_support import ISSUER

CLIENT_ID = "Iv1.standin"
CLIENT_SECRET = "standin-secret-0123456789abcdef"
CALLBACK = f"{ISSUER}/oauth2/upstream/callback"
USER = {"id": 4242, "login": "octo-cat", "name": "Octo Cat", "email": None}
EMAILS = [
    {"email": "octo@unverified.example", "verified": False, "primary": False},
    {"email": "Octo@GitHub.example", "verified": True, "primary": True},
]


class GitHubStandIn:
    def __init__(self) -> None:
        self.codes: dict[str, str] = {}  # code -> code_challenge
        self.tokens: set[str] = set()

    async def authorize(self, request: Request) -> RedirectResponse:
        query = request.query_params
        assert query["client_id"] == CLIENT_ID and query["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(8)
        self.codes[code] = query["code_challenge"]
        target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        return RedirectResponse(target, status_code=302)

    async def access_token(self, request: Request) -> JSONResponse:
        form = await request.form()
        if form.get("client_secret") != CLIENT_SECRET:
            return JSONResponse({"error": "incorrect_client_credentials"})
        challenge = self.codes.pop(str(form.get("code")), None)
        if challenge is None or not verify_s256(str(form.get("code_verifier")), challenge):
            return JSONResponse({"error": "bad_verification_code"})
        token = secrets.token_urlsafe(8)
        self.tokens.add(token)
        return JSONResponse({"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"})

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization", "").removeprefix("Bearer ") in self.tokens

    async def user(self, request: Request) -> JSONResponse:
        return JSONResponse(USER) if self._authorized(request) else JSONResponse({}, status_code=401)

    async def emails(self, request: Request) -> JSONResponse:
        return JSONResponse(EMAILS) if self._authorized(request) else JSONResponse({}, status_code=401)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/login/oauth/authorize", self.authorize),
                Route("/login/oauth/access_token", self.access_token, methods=["POST"]),
                Route("/api/v3/user", self.user),
                Route("/api/v3/user/emails", self.emails),
            ]
        )


@pytest.fixture(autouse=True)
def _clean_environment(clean_environment: None) -> None:
    pass


@pytest.fixture(scope="module")
def github() -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(GitHubStandIn().app(), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def make_as(make_client: Callable[..., TestClient], github: str) -> Callable[..., TestClient]:
    """The in-process AS (the shared ``make_client``) signing users in through the GitHub stand-in."""

    def factory(**overrides: Any) -> TestClient:
        return make_client(
            **(
                {
                    "identity": "github",
                    "upstream_client_id": CLIENT_ID,
                    "upstream_client_secret": CLIENT_SECRET,
                    "upstream_github_url": github,
                    "upstream_github_api_url": f"{github}/api/v3",
                }
                | overrides
            )
        )

    return factory


def _through_github(as_client: TestClient) -> tuple[dict[str, Any], str, httpx.Response]:
    """Register, authorize, approve our consent page, visit the stand-in; the AS's callback answer."""
    client = register_client(as_client)
    verifier, challenge = make_pair()
    consent_url = start_authorization(as_client, authorize_params(client["client_id"], challenge)).headers[
        "location"
    ]
    page = as_client.get(consent_url)
    assert page.status_code == 200 and "data-upstream" in page.text
    leaving = as_client.post(
        "/oauth2/consent", data=hidden_fields(page.text) | {"action": "approve"}, follow_redirects=False
    )
    assert leaving.status_code == 303, leaving.text
    back = httpx.get(leaving.headers["location"], follow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["location"].startswith(CALLBACK)
    parts = urlsplit(back.headers["location"])
    return client, verifier, as_client.get(f"{parts.path}?{parts.query}", follow_redirects=False)


def test_github_user_gets_tokens_with_the_verified_primary_email(make_as: Callable[..., TestClient]) -> None:
    as_client = make_as()
    client, verifier, answer = _through_github(as_client)
    assert answer.status_code == 303, answer.text
    code = query_of(answer.headers["location"])["code"]
    body = exchange_code(as_client, client["client_id"], code, verifier).json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"].startswith("github_") and claims["email"] == "octo@github.example"
    assert claims["name"] == "Octo Cat"


def test_allowed_github_users_refuses_others(make_as: Callable[..., TestClient]) -> None:
    refused = _through_github(make_as(allowed_github_users="someone-else"))[2]
    assert refused.status_code == 403 and "allow list" in refused.text and "location" not in refused.headers


def test_allowed_github_users_admits_the_login(make_as: Callable[..., TestClient]) -> None:
    assert _through_github(make_as(allowed_github_users="Octo-Cat"))[2].status_code == 303


def test_a_wrong_client_secret_is_a_page_naming_the_setting(make_as: Callable[..., TestClient]) -> None:
    answer = _through_github(make_as(upstream_client_secret="not-the-right-secret-00000"))[2]
    assert answer.status_code == 502 and "UPSTREAM_CLIENT_SECRET" in answer.text
