"""Finding the AS's keys (RFC 8414 → JWKS): cached, refetched once on rotation, bounded on failure."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from resource_server.jwks_cache import JwksCache, JwksUnavailable, UnknownKey
from shared.jwks import hs256_key
from shared.tokens import mint_access_token
from tests.resource_server.rs_support import (
    ISSUER,
    JWKS_URI,
    OTHER_KEY,
    SIGNING_KEY,
    AppFactory,
    FakeAuthServer,
    RunningRS,
    mint,
    tool_result,
)

METADATA = ISSUER + "/.well-known/oauth-authorization-server"


def test_keys_are_fetched_once_and_cached(rs: RunningRS) -> None:
    token = mint("notes:read notes:write")
    for _ in range(10):
        assert rs.rpc.call("notes_list", token=token).status_code == 200
        assert rs.rpc.call("notes_teaser", token=mint("notes:read")).status_code == 200
    assert rs.fake_as.requests == [METADATA, JWKS_URI]
    assert rs.as_requests == 2  # the counter a benchmark asserts stays flat in steady state


def test_unknown_kid_triggers_exactly_one_refetch(rs: RunningRS) -> None:
    assert rs.rpc.call("notes_list", token=mint("notes:read")).status_code == 200
    assert rs.as_requests == 2

    stranger = mint("notes:read", key=OTHER_KEY)
    for _ in range(5):
        response = rs.rpc.call("notes_list", token=stranger)
        assert response.status_code == 401
        assert "does not publish" in response.headers["www-authenticate"]
    assert rs.fake_as.jwks_fetches == 2 and rs.as_requests == 3  # one refetch, not five


def test_rotated_key_is_picked_up_after_one_refetch(rs: RunningRS) -> None:
    assert rs.rpc.call("notes_list", token=mint("notes:read")).status_code == 200
    rs.fake_as.keys = [SIGNING_KEY, OTHER_KEY]  # the AS rotated; the old key stays published
    for _ in range(3):
        assert rs.rpc.call("notes_list", token=mint("notes:read", key=OTHER_KEY)).status_code == 200
        assert rs.rpc.call("notes_list", token=mint("notes:read")).status_code == 200
    assert rs.as_requests == 3


def test_jwks_outage_is_a_clear_401_not_a_500(rs: RunningRS) -> None:
    clock = rs.app.state.jwks.clock = Clock()
    rs.fake_as.mode = "down"
    response = rs.rpc.call("notes_list", token=mint("notes:read"))
    assert response.status_code == 401
    header = response.headers["www-authenticate"]
    assert 'error="invalid_token"' in header
    assert f"cannot reach the authorization server's keys at {METADATA} (ConnectError)" in header
    assert f"is the AS running at {ISSUER}?" in header
    assert "is the AS running" in tool_result(response)["content"][0]["text"]

    # Within the back-off the RS answers at once instead of asking the AS again.
    assert rs.rpc.call("notes_list", token=mint("notes:read")).status_code == 401
    assert rs.as_requests == 1

    # The AS is back: after the back-off the next request fetches the keys and succeeds.
    rs.fake_as.mode = "up"
    clock.now += rs.app.state.jwks.failure_backoff_sec
    assert rs.rpc.call("notes_list", token=mint("notes:read")).status_code == 200


def test_hanging_as_times_out(rs: RunningRS) -> None:
    rs.app.state.jwks.timeout_sec = 0.3
    rs.fake_as.mode = "hang"
    started = time.monotonic()
    response = rs.rpc.call("notes_list", token=mint("notes:read"))
    assert time.monotonic() - started < 5
    assert response.status_code == 401
    assert "no answer within 0.3 s" in response.headers["www-authenticate"]


def test_as_error_status_is_reported(rs: RunningRS) -> None:
    rs.fake_as.mode = "500"
    response = rs.rpc.call("auth_whoami", token=mint())
    assert response.status_code == 401 and "(HTTP 500)" in response.headers["www-authenticate"]


def test_metadata_with_another_issuer_is_refused(rs: RunningRS) -> None:
    rs.fake_as.issuer = ISSUER + "/"
    response = rs.rpc.call("notes_list", token=mint("notes:read"))
    assert response.status_code == 401
    assert "RFC 8414 ?3.3" in response.headers["www-authenticate"]  # non-ASCII is replaced in headers
    assert "RFC 8414 §3.3" in tool_result(response)["content"][0]["text"]


def test_hs256_demo_mode_needs_no_as(start_rs: AppFactory) -> None:
    secret = "s" * 40
    rs = start_rs(jwt_alg="HS256", jwt_secret=secret)
    token, _ = mint_access_token(
        hs256_key(secret),
        issuer=ISSUER,
        subject="user-alex",
        audience="http://localhost:3000/mcp",
        client_id="c",
        scope="notes:read",
        ttl_sec=60,
    )
    assert rs.rpc.call("notes_list", token=token).status_code == 200
    assert rs.rpc.call("notes_list", token=mint("notes:read")).status_code == 401  # ES256 is not HS256
    assert rs.app.state.jwks is None and rs.fake_as.requests == []


# ----- JwksCache on its own: rate limit and concurrency -----


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _cache(fake_as: FakeAuthServer, clock: Clock) -> JwksCache:
    return JwksCache(
        issuer=ISSUER,
        metadata_url=METADATA,
        algorithm="ES256",
        http_client=fake_as.client(),
        unknown_kid_interval_sec=10,
        clock=clock,
    )


def test_unknown_kid_refetches_are_rate_limited() -> None:
    async def scenario() -> None:
        fake_as, clock = FakeAuthServer(), Clock()
        cache = _cache(fake_as, clock)
        assert await cache.key_for(SIGNING_KEY.kid) is not None
        for kid in ("random-1", "random-2", "random-3"):  # a flood of made-up kids
            with pytest.raises(UnknownKey):
                await cache.key_for(kid)
        assert fake_as.jwks_fetches == 2  # the first unknown kid only
        clock.now += 11
        with pytest.raises(UnknownKey):
            await cache.key_for("random-4")
        assert fake_as.jwks_fetches == 3
        with pytest.raises(UnknownKey):
            await cache.key_for("random-1")  # already refetched for, and the interval is not over
        assert fake_as.jwks_fetches == 3

    asyncio.run(scenario())


def test_concurrent_first_requests_share_one_fetch() -> None:
    async def scenario() -> None:
        fake_as = FakeAuthServer()
        cache = _cache(fake_as, Clock())
        keys = await asyncio.gather(*(cache.key_for(SIGNING_KEY.kid) for _ in range(20)))
        assert len({id(key) for key in keys}) == 1
        assert cache.as_request_count == 2

    asyncio.run(scenario())


def test_failure_is_an_exception_with_a_description() -> None:
    async def scenario() -> None:
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

        cache = JwksCache(
            issuer=ISSUER,
            metadata_url=METADATA,
            algorithm="ES256",
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(refuse)),
        )
        with pytest.raises(JwksUnavailable, match="is the AS running"):
            await cache.key_for("kid")

    asyncio.run(scenario())
