"""A flood of anonymous authorization requests must not end a real user's sign-in in progress.

``GET /oauth2/authorize`` needs no credentials and each valid request is kept for 10 minutes
until login and consent (``auth_server.sessions.PendingRequests``). Seen in the wild: with one
global first-in-first-out table of 10,000, 10,050 requests in 39 s expired a real user's
sign-in. The bounds are now per source address (the flood drops only its own oldest) and per
client, with a global cap that refuses instead of evicting. The tests shrink the bounds so a
flood takes a few dozen requests; each attacker is its own browser at its own address.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

from auth_server.sessions import PendingRequests, PendingRequestsFull
from auth_server.store import SqliteStore
from shared.pkce import make_pair
from tests.auth_server.as_flow_helpers import (
    authorize_params,
    consent,
    login,
    query_of,
    register_client,
    start_authorization,
)
from tests.auth_server.as_support import ISSUER


def browser_at(as_client: TestClient, address: str) -> TestClient:
    """Another browser (own cookies) reaching the same app from ``address``."""
    return TestClient(as_client.app, base_url=ISSUER, client=(address, 40000))


@pytest.fixture
def pending(as_client: TestClient) -> PendingRequests:
    table: PendingRequests = as_client.app.state.context.pending  # type: ignore[attr-defined]
    table.max_per_source, table.max_per_client, table.max_entries = 5, 12, 20
    return table


def begin(browser: TestClient, client_id: str) -> Any:
    _, challenge = make_pair()
    return start_authorization(browser, authorize_params(client_id, challenge))


def finish(browser: TestClient, login_url: str) -> dict[str, str]:
    """Log in and allow; the query the browser is sent back to the client with."""
    consent_url = login(browser, login_url).headers["location"]
    return query_of(consent(browser, consent_url).headers["location"])


def test_a_flood_from_one_address_drops_only_its_own_oldest_requests(
    as_client: TestClient, pending: PendingRequests
) -> None:
    client_id = register_client(as_client)["client_id"]
    victim, attacker = browser_at(as_client, "198.51.100.1"), browser_at(as_client, "203.0.113.66")
    in_progress = begin(victim, client_id).headers["location"]
    flood = [begin(attacker, client_id) for _ in range(4 * pending.max_per_source)]
    assert all(response.status_code == 303 for response in flood)  # the flood is not refused…
    assert (
        as_client.portal.call(pending.count) == 1 + pending.max_per_source
    )  # …it just cycles through its own bucket
    assert "code" in finish(victim, in_progress)
    # The attacker's first request went, its last one stayed.
    assert "expired" in attacker.get(flood[0].headers["location"]).text
    assert attacker.get(flood[-1].headers["location"]).status_code == 200


def test_a_flood_sent_as_the_same_client_is_refused_and_evicts_nobody(
    as_client: TestClient, pending: PendingRequests
) -> None:
    """client_id is public: a flood "as Claude" from many addresses fills Claude's bucket."""
    client_id = register_client(as_client)["client_id"]
    victim = browser_at(as_client, "198.51.100.1")
    in_progress = begin(victim, client_id).headers["location"]
    answers = [
        begin(browser_at(as_client, f"203.0.113.{n}"), client_id) for n in range(1, 5) for _ in range(5)
    ]
    refused = [response for response in answers if response.status_code != 303]
    assert len(refused) == 20 - (pending.max_per_client - 1)
    for response in refused:
        assert response.status_code == 429 and "location" not in response.headers
        assert 0 < int(response.headers["retry-after"]) <= pending.ttl_sec
        assert "Too many sign-ins in progress" in response.text
    assert "code" in finish(victim, in_progress)
    # Another client's users are not affected by this client's full bucket.
    other = register_client(as_client)["client_id"]
    assert begin(browser_at(as_client, "198.51.100.2"), other).status_code == 303


def test_the_global_cap_refuses_with_503_and_evicts_nobody(
    as_client: TestClient, pending: PendingRequests
) -> None:
    victim = browser_at(as_client, "198.51.100.1")
    in_progress = begin(victim, register_client(as_client)["client_id"]).headers["location"]
    answers = []
    for n in range(1, 6):  # five attacker addresses, each with its own registered client
        client_id = register_client(as_client)["client_id"]
        attacker = browser_at(as_client, f"203.0.113.{n}")
        answers += [begin(attacker, client_id) for _ in range(pending.max_per_source)]
    refused = [response for response in answers if response.status_code != 303]
    assert as_client.portal.call(pending.count) == pending.max_entries
    assert len(refused) == 25 - (pending.max_entries - 1)
    for response in refused:
        assert response.status_code == 503 and "location" not in response.headers
        assert int(response.headers["retry-after"]) > 0
        assert "busy" in response.text
    assert "code" in finish(victim, in_progress)


@dataclass(frozen=True)
class Item:
    name: str


def table_of(clock: Any = None) -> PendingRequests[Item]:
    """A table on a store of its own (in memory), with a clock the test moves."""
    store = SqliteStore.in_memory()
    return PendingRequests(store, Item, clock=clock) if clock else PendingRequests(store, Item)


def test_requests_expire_and_free_their_slots() -> None:
    async def scenario() -> None:
        now = [0.0]
        table = table_of(lambda: now[0])
        table.max_per_client = 2
        first = await table.add(Item("a"), "sid", client_id="c", source="s1")
        now[0] = 100.0
        second = await table.add(Item("b"), "sid", client_id="c", source="s2")
        with pytest.raises(PendingRequestsFull) as refused:
            await table.add(Item("c"), "sid", client_id="c", source="s3")
        assert refused.value.retry_after == table.ttl_sec - 100 + 1  # when the oldest, "a", expires
        now[0] = table.ttl_sec - 10.0
        with pytest.raises(PendingRequestsFull) as refused:
            await table.add(Item("c"), "sid", client_id="c", source="s3")
        assert refused.value.retry_after == 11
        now[0] = table.ttl_sec + 0.5
        assert await table.get(first, "sid") is None and await table.get(second, "sid") == Item("b")
        await table.add(Item("c"), "sid", client_id="c", source="s3")
        assert await table.count() == 2

    asyncio.run(scenario())


def test_a_refused_request_does_not_cost_its_address_a_row() -> None:
    async def scenario() -> None:
        table = table_of()
        table.max_per_source, table.max_per_client = 2, 2
        own = [await table.add(Item(name), "sid", client_id="c1", source="s") for name in ("s-0", "s-1")]
        await table.add(Item("t-0"), "sid", client_id="c2", source="t1")
        await table.add(Item("t-1"), "sid", client_id="c2", source="t2")
        # s is at its bound and c2 is full: the request is refused, and s keeps both its rows.
        with pytest.raises(PendingRequestsFull):
            await table.add(Item("s-2"), "sid", client_id="c2", source="s")
        assert [await table.get(request_id, "sid") for request_id in own] == [Item("s-0"), Item("s-1")]
        # For a client with room, s's next request replaces s's own oldest.
        await table.add(Item("s-3"), "sid", client_id="c1", source="s")
        assert [await table.get(request_id, "sid") for request_id in own] == [None, Item("s-1")]

    asyncio.run(scenario())
