"""The ``mcp`` SDK's own OAuth client against the live servers (MCP "Authorization").

No step is done by hand here: ``OAuthClientProvider`` — an auth flow of the SDK's
``httpx2.AsyncClient`` — meets the 401 on ``tools/call``, discovers the protected resource
metadata from the challenge (RFC 9728 §5.1, §3), then the AS metadata (RFC 8414 §3),
registers (RFC 7591), sends the user to authorize with PKCE and ``resource`` (RFC 7636,
RFC 8707), checks ``state`` and ``iss`` (RFC 9207), exchanges the code, and retries the call.
The test's redirect handler hands the authorization URL to the project's user agent, which
plays the demo user and returns the code to the SDK's callback handler. The SDK asks only for
the scopes a challenge names, so each tool needing a new scope makes it step up (403
``insufficient_scope`` → a new authorization for the union of scopes, SEP-2350).

The access token lives 10 s (``ACCESS_TOKEN_TTL_SEC=10``). The RS accepts tokens 30 s past
``exp`` (its leeway), so expiry never shows as a 401 here; what the test observes is the SDK
noticing the expiry itself and using the refresh token (RFC 6749 §6): a new access token in its
token storage, sent to the AS as a ``refresh_token`` grant, and further calls still succeed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qsl

import anyio
import httpx
import httpx2
import pytest
from mcp.client.auth import OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from mcp_oauth_demo.launcher import Pair, free_port, running_pair
from mcp_oauth_demo.user_agent import sign_in_async

pytestmark = pytest.mark.e2e

ACCESS_TOKEN_TTL_SEC = 10


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def short_lived_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with running_pair(
        tmp_path_factory.mktemp("sdk-pair"), ACCESS_TOKEN_TTL_SEC=str(ACCESS_TOKEN_TTL_SEC)
    ) as pair:
        yield pair


class MemoryTokenStorage:
    """The SDK's ``TokenStorage`` protocol, remembering every token set it was given."""

    def __init__(self) -> None:
        self.history: list[OAuthToken] = []
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.history[-1] if self.history else None

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.history.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class PlayedUser:
    """The SDK's redirect and callback handlers, with the user agent as the person at the browser."""

    def __init__(self) -> None:
        self.authorization_urls: list[str] = []
        self.result: AuthorizationCodeResult | None = None

    async def redirect_handler(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        async with httpx.AsyncClient(timeout=10) as browser:
            answer = await sign_in_async(browser, authorization_url)
        self.result = AuthorizationCodeResult(code=answer.require_code(), state=answer.state, iss=answer.iss)

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self.result is not None, "the redirect handler did not run"
        return self.result


def authorization_params(url: str) -> dict[str, str]:
    return dict(parse_qsl(url.split("?", 1)[1]))


def token_grants(requests: list[httpx2.Request], token_endpoint_path: str) -> list[str]:
    """The grant_type of every request the SDK sent to the token endpoint, in order."""
    return [
        dict(parse_qsl(request.content.decode())).get("grant_type", "")
        for request in requests
        if request.method == "POST" and request.url.path == token_endpoint_path
    ]


@pytest.mark.anyio
async def test_mcp_sdk_oauth_client_signs_in_calls_tools_and_refreshes(short_lived_pair: Pair) -> None:
    pair = short_lived_pair
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    storage = MemoryTokenStorage()
    user = PlayedUser()
    provider = OAuthClientProvider(
        server_url=pair.mcp_url,
        client_metadata=OAuthClientMetadata(
            client_name="mcp SDK e2e test",
            redirect_uris=[redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=user.redirect_handler,
        callback_handler=user.callback_handler,
    )
    sent: list[httpx2.Request] = []

    async def remember(request: httpx2.Request) -> None:
        sent.append(request)

    started = time.monotonic()
    async with (
        httpx2.AsyncClient(auth=provider, timeout=30, event_hooks={"request": [remember]}) as http,
        streamable_http_client(pair.mcp_url, http_client=http) as (read_stream, write_stream),
        ClientSession(read_stream, write_stream) as session,
    ):
        await session.initialize()
        assert storage.history == [], "initialize is anonymous: no sign-in yet"

        # The first protected call gets the 401; the SDK signs in and retries it.
        added = await session.call_tool("notes_add", {"text": "written by the mcp SDK's OAuth client"})
        assert not added.is_error, added.content
        assert added.structured_content is not None
        assert added.structured_content["text"] == "written by the mcp SDK's OAuth client"

        # What the SDK did on its own: discovery from the challenge, DCR, authorization, exchange.
        paths = [request.url.path for request in sent]
        assert "/.well-known/oauth-protected-resource/mcp" in paths
        assert "/.well-known/oauth-authorization-server" in paths
        assert storage.client_info is not None and storage.client_info.client_id
        assert len(user.authorization_urls) == 1
        first_request = authorization_params(user.authorization_urls[0])
        assert first_request["resource"] == pair.mcp_url
        assert first_request["code_challenge_method"] == "S256"
        # The SDK asks for the scope the challenge names, plus offline_access for a refresh token.
        assert set(first_request["scope"].split()) == {"notes:write", "offline_access"}
        token_path = provider.context.oauth_metadata.token_endpoint.path  # type: ignore[union-attr]
        assert token_grants(sent, token_path) == ["authorization_code"]
        assert storage.history[-1].refresh_token, (
            "the AS must issue a refresh token when asked for offline_access"
        )

        # notes_list needs notes:read, which the first grant lacks: 403 insufficient_scope, and the
        # SDK steps up, asking for the union of the old and the new scopes (SEP-2350).
        listed = await session.call_tool("notes_list", {})
        assert not listed.is_error, listed.content
        assert listed.structured_content is not None
        assert [note["text"] for note in listed.structured_content["notes"]] == [
            "written by the mcp SDK's OAuth client"
        ]
        assert len(user.authorization_urls) == 2
        assert {"notes:read", "notes:write"} <= set(
            authorization_params(user.authorization_urls[1])["scope"].split()
        )

        whoami = await session.call_tool("auth_whoami", {})
        assert not whoami.is_error, whoami.content
        assert whoami.structured_content is not None
        assert whoami.structured_content["client_id"] == storage.client_info.client_id
        assert whoami.structured_content["sub"]
        assert len(user.authorization_urls) == 3
        assert token_grants(sent, token_path) == ["authorization_code"] * 3
        signed_in = storage.history[-1]

        # Let the access token expire; the SDK notices and refreshes before its next request.
        await anyio.sleep(ACCESS_TOKEN_TTL_SEC + 1)
        again = await session.call_tool("notes_list", {})
        assert not again.is_error, again.content
        assert token_grants(sent, token_path) == ["authorization_code"] * 3 + ["refresh_token"]
        refreshed = storage.history[-1]
        assert refreshed.access_token != signed_in.access_token
        assert refreshed.refresh_token and refreshed.refresh_token != signed_in.refresh_token, (
            "refresh tokens rotate"
        )
        assert len(user.authorization_urls) == 3, "a refresh needs no new sign-in"

        whoami_again = await session.call_tool("auth_whoami", {})
        assert not whoami_again.is_error, whoami_again.content

    print(f"\nSDK OAuth client: 3 sign-ins, 5 tool calls and a refresh in {time.monotonic() - started:.1f}s")
