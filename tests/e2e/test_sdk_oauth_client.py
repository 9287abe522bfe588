"""The ``mcp`` SDK's own OAuth client against the live servers (MCP "Authorization").

No protocol step is done by hand here: ``OAuthClientProvider`` — an auth flow of the SDK's
``httpx2.AsyncClient`` — meets the 401 on ``tools/call``, discovers the protected resource
metadata from the challenge (RFC 9728 §5.1, §3), then the AS metadata (RFC 8414 §3),
registers (RFC 7591), sends the user to authorize with PKCE and ``resource`` (RFC 7636,
RFC 8707), checks ``state`` and ``iss`` (RFC 9207), exchanges the code and retries the call.
The test's redirect handler hands the authorization URL to the project's user agent, which
plays the demo user and gives the code to the SDK's callback handler.

The SDK asks for exactly the scopes a 401 names. The RS's 401 names the app's whole sign-in set
(:mod:`resource_server.tool_policies`), so one sign-in covers all five tools — with a 401 naming
only the called tool's scope, the same five calls took three sign-ins. A token narrowed on
purpose still steps up: 403 ``insufficient_scope`` names the granted plus the missing scopes,
and the SDK re-authorizes for the union (SEP-2350), asking for nothing the call does not need.

The access token lives 10 s (``ACCESS_TOKEN_TTL_SEC=10``). The RS accepts tokens 30 s past
``exp`` (its leeway), so expiry never shows as a 401 here; what the test observes is the SDK
noticing the expiry itself and using the refresh token (RFC 6749 §6): a ``refresh_token`` grant
at the AS, a new access token in its token storage, and further calls that still succeed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
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
from mcp_oauth_demo.user_agent import UserAgentError, sign_in, sign_in_async
from shared.scopes import RESOURCE_SCOPES as ALL_RESOURCE_SCOPES
from tests.e2e.oauth_flow import (
    authorization_request,
    code_from_redirect,
    every_tool,
    exchange_code,
    registration,
)

pytestmark = pytest.mark.e2e

ACCESS_TOKEN_TTL_SEC = 10
NOTE = "written by the mcp SDK's OAuth client"


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

    def __init__(
        self, client_info: OAuthClientInformationFull | None = None, tokens: OAuthToken | None = None
    ) -> None:
        self.history: list[OAuthToken] = [tokens] if tokens is not None else []
        self.client_info = client_info

    async def get_tokens(self) -> OAuthToken | None:
        return self.history[-1] if self.history else None

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.history.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class PlayedUser:
    """The SDK's redirect and callback handlers, with the user agent as the person at the browser."""

    authorization_urls: list[str] = field(default_factory=list)
    result: AuthorizationCodeResult | None = None
    refused: UserAgentError | None = None

    async def redirect_handler(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        async with httpx.AsyncClient(timeout=10) as browser:
            answer = await sign_in_async(browser, authorization_url)
        try:
            code = answer.require_code()
        except UserAgentError as exc:
            self.refused = exc
            raise
        self.result = AuthorizationCodeResult(code=code, state=answer.state, iss=answer.iss)

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self.result is not None, "the redirect handler did not run"
        return self.result

    def scopes(self, index: int) -> set[str]:
        return set(dict(parse_qsl(self.authorization_urls[index].split("?", 1)[1]))["scope"].split())


@dataclass
class SdkClient:
    """What one SDK client did: its storage, the user it asked, every HTTP request it sent."""

    provider: OAuthClientProvider
    storage: MemoryTokenStorage
    user: PlayedUser
    sent: list[httpx2.Request]

    def token_grants(self) -> list[str]:
        """The grant_type of every request sent to the token endpoint, in order."""
        assert self.provider.context.oauth_metadata is not None
        token_path = httpx2.URL(str(self.provider.context.oauth_metadata.token_endpoint)).path
        return [
            dict(parse_qsl(request.content.decode())).get("grant_type", "")
            for request in self.sent
            if request.method == "POST" and request.url.path == token_path
        ]


@asynccontextmanager
async def sdk_session(
    pair: Pair,
    user: PlayedUser,
    client_info: OAuthClientInformationFull | None = None,
    tokens: OAuthToken | None = None,
) -> AsyncIterator[tuple[ClientSession, SdkClient]]:
    redirect_uri = (
        str(client_info.redirect_uris[0]) if client_info else f"http://127.0.0.1:{free_port()}/callback"
    )
    client = SdkClient(
        provider=OAuthClientProvider(
            server_url=pair.mcp_url,
            client_metadata=OAuthClientMetadata(
                client_name="mcp SDK e2e test",
                redirect_uris=[redirect_uri],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
            ),
            storage=(storage := MemoryTokenStorage(client_info, tokens)),
            redirect_handler=user.redirect_handler,
            callback_handler=user.callback_handler,
        ),
        storage=storage,
        user=user,
        sent=[],
    )

    async def remember(request: httpx2.Request) -> None:
        client.sent.append(request)

    async with (
        httpx2.AsyncClient(auth=client.provider, timeout=30, event_hooks={"request": [remember]}) as http,
        streamable_http_client(pair.mcp_url, http_client=http) as (read_stream, write_stream),
        ClientSession(read_stream, write_stream) as session,
    ):
        await session.initialize()
        yield session, client


RESOURCE_SCOPES = set(ALL_RESOURCE_SCOPES)
FIVE_TOOLS = every_tool(NOTE)


@pytest.mark.anyio
async def test_sdk_discovers_registers_and_one_sign_in_covers_all_five_tools(short_lived_pair: Pair) -> None:
    """From nothing: discovery from the 401, DCR, one authorization, then every tool works."""
    pair = short_lived_pair
    async with sdk_session(pair, PlayedUser()) as (session, client):
        assert client.storage.history == [], "initialize is anonymous: no sign-in yet"
        for tool, arguments in FIVE_TOOLS:
            result = await session.call_tool(tool, arguments)
            assert not result.is_error, (tool, result.content)
        assert client.user.refused is None

        paths = [request.url.path for request in client.sent]
        assert "/.well-known/oauth-protected-resource/mcp" in paths
        assert "/.well-known/oauth-authorization-server" in paths
        assert client.storage.client_info is not None, "the SDK registered itself (DCR)"
        # One sign-in: the first 401 named every scope the tools use (the old RS needed three).
        assert len(client.user.authorization_urls) == 1, client.user.authorization_urls
        first = dict(parse_qsl(client.user.authorization_urls[0].split("?", 1)[1]))
        assert first["resource"] == pair.mcp_url
        assert first["code_challenge_method"] == "S256"
        # The challenged set, plus offline_access because the AS offers refresh tokens (SEP-2207).
        assert client.user.scopes(0) == RESOURCE_SCOPES | {"offline_access"}
        assert client.token_grants() == ["authorization_code"]
        teaser = await session.call_tool("notes_teaser", {})
        assert teaser.structured_content is not None
        assert NOTE in [note["text"] for note in teaser.structured_content["notes"]]


@dataclass
class NarrowGrant:
    """A client registered (RFC 7591) and signed in for a narrow scope, as a client that asked for less."""

    client_info: OAuthClientInformationFull
    tokens: OAuthToken


def narrow_grant(pair: Pair, scope: str) -> NarrowGrant:
    registered = registration(pair, client_name="mcp SDK e2e (narrow)", scope=scope)
    client_info = OAuthClientInformationFull.model_validate(registered)
    request = authorization_request(
        pair, client_id=client_info.client_id or "", redirect_uri=registered["redirect_uris"][0], scope=scope
    )
    with httpx.Client(timeout=10) as http:
        answer = sign_in(http, request.url)
    tokens = exchange_code(pair, request, code_from_redirect(request, answer.redirect_url, pair.issuer))
    assert tokens["scope"] == scope, tokens
    return NarrowGrant(client_info, OAuthToken.model_validate(tokens))


@pytest.mark.anyio
async def test_sdk_steps_up_a_token_narrowed_on_purpose(short_lived_pair: Pair) -> None:
    """A token for notes:read only: notes_add meets 403 and the SDK steps up by notes:write alone."""
    pair = short_lived_pair
    grant = narrow_grant(pair, "notes:read")
    user = PlayedUser()
    async with sdk_session(pair, user, grant.client_info, grant.tokens) as (session, client):
        listed = await session.call_tool("notes_list", {})
        assert not listed.is_error, listed.content
        assert user.authorization_urls == [], "the narrow token is enough for notes_list"

        added = await session.call_tool("notes_add", {"text": NOTE + " (after a step-up)"})
        assert not added.is_error, added.content
        assert len(user.authorization_urls) == 1, "one step-up"
        # The 403 named notes:read notes:write (granted + missing); profile:read was not asked for.
        assert user.scopes(0) - {"offline_access"} == {"notes:read", "notes:write"}
        again = await session.call_tool("notes_list", {})
        assert not again.is_error, "the step-up kept notes:read"
        assert len(user.authorization_urls) == 1
        assert set((client.storage.history[-1].scope or "").split()) >= {"notes:read", "notes:write"}


@pytest.fixture
def registered_for_every_scope(short_lived_pair: Pair) -> OAuthClientInformationFull:
    """A client registered (RFC 7591) for every scope the demo has, as the walkthrough registers."""
    registered = registration(short_lived_pair, client_name="mcp SDK e2e test (pre-registered)")
    return OAuthClientInformationFull.model_validate(registered)


@pytest.mark.anyio
async def test_sdk_calls_every_tool_and_refreshes_the_token(
    short_lived_pair: Pair, registered_for_every_scope: OAuthClientInformationFull
) -> None:
    """A client registered for every scope: one sign-in, three tools, then a refresh."""
    pair, client_info = short_lived_pair, registered_for_every_scope
    started = time.monotonic()
    async with sdk_session(pair, PlayedUser(), client_info) as (session, client):
        added = await session.call_tool("notes_add", {"text": NOTE})
        assert not added.is_error, added.content
        listed = await session.call_tool("notes_list", {})
        assert not listed.is_error, listed.content
        assert listed.structured_content is not None
        assert NOTE in [note["text"] for note in listed.structured_content["notes"]]
        whoami = await session.call_tool("auth_whoami", {})
        assert not whoami.is_error, whoami.content
        assert whoami.structured_content is not None
        assert whoami.structured_content["client_id"] == client_info.client_id
        assert whoami.structured_content["sub"]
        # One sign-in for all three (the 401 asked for every scope the tools use).
        sign_ins = len(client.user.authorization_urls)
        assert sign_ins == 1
        assert RESOURCE_SCOPES <= client.user.scopes(0)
        assert client.token_grants() == ["authorization_code"] * sign_ins
        signed_in = client.storage.history[-1]
        assert signed_in.refresh_token, "offline_access was asked for, so a refresh token is issued"

        # Let the access token expire: the SDK notices and refreshes before its next request.
        await anyio.sleep(ACCESS_TOKEN_TTL_SEC + 1)
        again = await session.call_tool("notes_list", {})
        assert not again.is_error, again.content
        assert client.token_grants() == ["authorization_code"] * sign_ins + ["refresh_token"]
        refreshed = client.storage.history[-1]
        assert refreshed.access_token != signed_in.access_token
        assert refreshed.refresh_token and refreshed.refresh_token != signed_in.refresh_token, (
            "refresh tokens rotate"
        )
        assert len(client.user.authorization_urls) == sign_ins, "a refresh needs no new sign-in"
        whoami_again = await session.call_tool("auth_whoami", {})
        assert not whoami_again.is_error, whoami_again.content

    elapsed = time.monotonic() - started
    print(f"\nSDK OAuth client: {sign_ins} sign-in, 6 tool calls and a refresh in {elapsed:.1f}s")
