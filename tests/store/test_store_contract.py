"""The authorization server's store contract, against SQLite and against a real PostgreSQL.

Every test opens the store the way the AS does (``open_store`` with ``DATABASE_URL`` set or
not) and checks behaviour through the :class:`~auth_server.store.Store` methods only. The
races open *two* stores on one database — two worker processes' worth of connections — and
fire their calls concurrently, so the database, not an in-process lock, must decide.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from auth_server.storage import open_store
from auth_server.store import (
    ClientRecord,
    CodeRecord,
    GrantRecord,
    KeyRecord,
    PendingLimits,
    PendingRecord,
    RefreshTokenRecord,
    Store,
    UserRecord,
)
from shared.settings import load_settings
from tests.store.store_engines import Engine

RACERS = 20


def run(engine: Engine, scenario: Callable[..., Awaitable[Any]], stores: int = 1) -> Any:
    """Open ``stores`` stores on the engine's database, run ``scenario(*stores)``, close them."""

    async def main() -> Any:
        settings = load_settings(_env_file=None, data_dir=engine.data_dir, database_url=engine.database_url)
        opened: list[Store] = []
        try:
            for _ in range(stores):
                opened.append(await open_store(settings))
            return await scenario(*opened)
        finally:
            for store in opened:
                await store.close()

    return anyio.run(main)


async def race(calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run every call concurrently; their results in call order."""
    results: list[Any] = [None] * len(calls)

    async def one(index: int) -> None:
        results[index] = await calls[index]()

    async with anyio.create_task_group() as group:
        for index in range(len(calls)):
            group.start_soon(one, index)
    return results


def _code(code_hash: str, expires_at: int | None = None) -> CodeRecord:
    return CodeRecord(
        code_hash=code_hash,
        client_id="client-1",
        redirect_uri="http://127.0.0.1:9/cb",
        redirect_uri_sent=True,
        code_challenge="challenge",
        scope="notes:read",
        resource="http://localhost:3000/mcp",
        sub="user-alex",
        expires_at=expires_at or int(time.time()) + 600,
    )


def _grant(grant_id: str) -> GrantRecord:
    return GrantRecord(
        grant_id, "client-1", "user-alex", "notes:read", "http://localhost:3000/mcp", int(time.time())
    )


async def _granted(store: Store) -> str:
    grant_id = "grant-" + secrets.token_hex(4)
    await store.add_code(_code("code-" + grant_id))
    assert await store.redeem_code(
        "code-" + grant_id, _grant(grant_id), "jti-" + grant_id, int(time.time()) + 600
    )
    return grant_id


def _refresh(grant_id: str, token_hash: str | None = None) -> RefreshTokenRecord:
    return RefreshTokenRecord(token_hash or "rt-" + secrets.token_hex(8), grant_id, int(time.time()) + 3600)


def test_clients_round_trip(engine: Engine) -> None:
    async def scenario(store: Store) -> None:
        metadata = {"client_name": "Notes ✓", "redirect_uris": ["http://127.0.0.1:9/cb"]}
        await store.add_client(ClientRecord("c-1", metadata, 1_700_000_000, "secret-hash", "rat-hash"))
        assert await store.get_client("c-1") == ClientRecord(
            "c-1", metadata, 1_700_000_000, "secret-hash", "rat-hash"
        )
        assert await store.get_client("c-2") is None

    run(engine, scenario)


def test_a_code_is_redeemed_exactly_once_under_concurrency(engine: Engine) -> None:
    async def scenario(first: Store, second: Store) -> None:
        await first.add_code(_code("code-race"))
        grants = [_grant(f"grant-{n}") for n in range(RACERS)]
        stores = [first, second]
        won = await race(
            [
                (
                    lambda n=n: stores[n % 2].redeem_code(
                        "code-race", grants[n], f"jti-{n}", int(time.time()) + 60
                    )
                )
                for n in range(RACERS)
            ]
        )
        assert won.count(True) == 1
        winner = grants[won.index(True)].grant_id
        code = await second.get_code("code-race")
        assert code is not None and code.used and code.grant_id == winner
        assert [await first.get_grant(g.grant_id) is not None for g in grants].count(True) == 1

    run(engine, scenario, stores=2)


def test_refresh_rotation_leaves_one_live_token_per_family_under_concurrency(engine: Engine) -> None:
    """Concurrent presentations are served one after another; each later one is a retry of the first.

    With the retry window open every presentation rotates (the previous successor dies), so
    all succeed and exactly one refresh token of the family — the last successor — is live.
    """

    async def scenario(first: Store, second: Store) -> None:
        grant_id = await _granted(first)
        await first.add_refresh_token(_refresh(grant_id, "rt-root"))
        successors = [_refresh(grant_id) for _ in range(RACERS)]
        stores = [first, second]
        now = int(time.time())
        won = await race(
            [
                (lambda n=n: stores[n % 2].rotate_refresh_token("rt-root", successors[n], now, 60))
                for n in range(RACERS)
            ]
        )
        assert won == [True] * RACERS
        records = [await first.get_refresh_token(s.token_hash) for s in successors]
        live = [r for r in records if r is not None and not r.used]
        assert len(live) == 1
        root = await first.get_refresh_token("rt-root")
        assert root is not None and root.successor_hash == live[0].token_hash
        # Once the live successor is presented, the root is no longer a retry: reuse.
        assert await second.rotate_refresh_token(live[0].token_hash, _refresh(grant_id), now, 60)
        assert not await first.rotate_refresh_token("rt-root", _refresh(grant_id), now, 60)

    run(engine, scenario, stores=2)


def test_without_a_retry_window_exactly_one_rotation_wins(engine: Engine) -> None:
    async def scenario(first: Store, second: Store) -> None:
        grant_id = await _granted(first)
        await first.add_refresh_token(_refresh(grant_id, "rt-strict"))
        stores = [first, second]
        now = int(time.time())
        won = await race(
            [
                (lambda n=n: stores[n % 2].rotate_refresh_token("rt-strict", _refresh(grant_id), now, -1))
                for n in range(RACERS)
            ]
        )
        assert won.count(True) == 1

    run(engine, scenario, stores=2)


def test_a_rotated_token_outside_the_window_is_reuse(engine: Engine) -> None:
    async def scenario(store: Store) -> None:
        grant_id = await _granted(store)
        await store.add_refresh_token(_refresh(grant_id, "rt-old"))
        assert await store.rotate_refresh_token("rt-old", _refresh(grant_id), 1_000, 60)
        assert not await store.rotate_refresh_token("rt-old", _refresh(grant_id), 1_061, 60)
        assert not await store.rotate_refresh_token("rt-unknown", _refresh(grant_id), 1_000, 60)

    run(engine, scenario)


def test_revoking_a_grant_revokes_its_access_tokens(engine: Engine) -> None:
    async def scenario(store: Store) -> None:
        grant_id = await _granted(store)
        await store.record_access_token("jti-second", grant_id, int(time.time()) + 600)
        assert not await store.is_jti_revoked("jti-" + grant_id)
        await store.revoke_grant(grant_id)
        await store.revoke_grant(grant_id)  # twice is harmless
        grant = await store.get_grant(grant_id)
        assert grant is not None and grant.revoked
        assert await store.is_jti_revoked("jti-" + grant_id) and await store.is_jti_revoked("jti-second")
        await store.revoke_jti("jti-other", int(time.time()) + 60)
        await store.revoke_jti("jti-other", int(time.time()) + 60)
        assert await store.is_jti_revoked("jti-other")

    run(engine, scenario)


def test_workers_starting_at_once_create_one_signing_key_and_one_secret(engine: Engine) -> None:
    async def scenario(first: Store, second: Store) -> None:
        stores = [first, second]
        keys = [KeyRecord(f"kid-{n}", "ES256", f"pem-{n}", time.time()) for n in range(RACERS)]
        added = await race(
            [(lambda n=n: stores[n % 2].add_first_signing_key(keys[n])) for n in range(RACERS)]
        )
        assert added.count(True) == 1
        assert [k.kid for k in await second.signing_keys()] == [keys[added.index(True)].kid]
        # Another algorithm is another current key.
        assert await first.add_first_signing_key(KeyRecord("kid-rs", "RS256", "pem", time.time()))
        secrets_seen = await race(
            [
                (lambda n=n: stores[n % 2].shared_secret("session_secret", f"candidate-{n}"))
                for n in range(RACERS)
            ]
        )
        assert len(set(secrets_seen)) == 1 and secrets_seen[0].startswith("candidate-")

    run(engine, scenario, stores=2)


def test_an_upstream_user_is_kept_updated_and_seen_by_every_store(engine: Engine) -> None:
    async def scenario(first: Store, second: Store) -> None:
        assert await first.get_user("oidc_abc") is None
        await first.save_user(UserRecord("oidc_abc", "Pat", "pat@idp.example", 100))
        await second.save_user(UserRecord("oidc_abc", "Pat Renamed", "pat@new.example", 200))
        renamed = UserRecord("oidc_abc", "Pat Renamed", "pat@new.example", 200)
        assert await first.get_user("oidc_abc") == renamed
        assert await second.get_user("oidc_other") is None

    run(engine, scenario, stores=2)


def test_signing_keys_newest_first_and_retirement(engine: Engine) -> None:
    async def scenario(store: Store) -> None:
        await store.add_signing_key(KeyRecord("old", "ES256", "pem-old", 1.0))
        await store.add_signing_key(KeyRecord("new", "ES256", "pem-new", 2.0))
        await store.retire_signing_key("old", 5_000_000_000)
        await store.retire_signing_key("old", 6_000_000_000)  # only the first retirement counts
        assert await store.signing_keys() == [
            KeyRecord("new", "ES256", "pem-new", 2.0),
            KeyRecord("old", "ES256", "pem-old", 1.0, 5_000_000_000),
        ]
        assert not await store.add_first_signing_key(KeyRecord("third", "ES256", "pem", 3.0))

    run(engine, scenario)


def test_a_client_assertion_jti_is_used_once_under_concurrency(engine: Engine) -> None:
    async def scenario(first: Store, second: Store) -> None:
        stores = [first, second]
        expires = int(time.time()) + 60
        used = await race(
            [
                (lambda n=n: stores[n % 2].use_client_assertion_jti("c-1", "jti-1", expires))
                for n in range(RACERS)
            ]
        )
        assert used.count(True) == 1
        assert await first.use_client_assertion_jti("c-2", "jti-1", expires)  # per client
        # A remembered jti whose time is up no longer blocks it.
        assert await first.use_client_assertion_jti("c-3", "jti-2", int(time.time()) - 5)
        assert await second.use_client_assertion_jti("c-3", "jti-2", expires)

    run(engine, scenario, stores=2)


LIMITS = PendingLimits(max_per_source=2, max_per_client=2, max_entries=4)


def _pending(
    request_id: str, client_id: str, source: str, expires_at: float, sid: str = "sid"
) -> PendingRecord:
    return PendingRecord(request_id, sid, client_id, source, f'{{"id": "{request_id}"}}', expires_at)


def test_pending_requests_bounds(engine: Engine) -> None:
    """The per-source eviction, the per-client and global refusals of ``sessions.PendingRequests``."""

    async def scenario(store: Store) -> None:
        now = 1_000.0
        assert await store.add_pending(_pending("s-0", "c1", "s", now + 600), LIMITS, now) is None
        assert await store.add_pending(_pending("s-1", "c1", "s", now + 601), LIMITS, now) is None
        assert await store.add_pending(_pending("t-0", "c2", "t1", now + 602), LIMITS, now) is None
        assert await store.add_pending(_pending("t-1", "c2", "t2", now + 603), LIMITS, now) is None
        # s is at its bound and c2 is full: refused, and s keeps both its rows.
        refusal = await store.add_pending(_pending("s-2", "c2", "s", now + 604), LIMITS, now)
        assert refusal is not None and refusal.bucket == "client" and refusal.oldest_expires_at == now + 602
        assert await store.get_pending("s-0", now) is not None
        # For a client with room, s's next request replaces s's own oldest.
        assert await store.add_pending(_pending("s-3", "c1", "s", now + 605), LIMITS, now) is None
        assert await store.get_pending("s-0", now) is None
        assert await store.get_pending("s-1", now) is not None
        # The table is full (4): a new source and client is refused by the global cap.
        refusal = await store.add_pending(_pending("u-0", "c3", "u", now + 606), LIMITS, now)
        assert refusal is not None and refusal.bucket == "server" and refusal.oldest_expires_at == now + 601
        assert await store.count_pending(now) == 4
        # Expired rows free their slots.
        later = now + 602.5
        assert await store.count_pending(later) == 2
        assert await store.add_pending(_pending("u-1", "c3", "u", later + 600), LIMITS, later) is None
        assert await store.get_pending("s-1", later) is None

    run(engine, scenario)


def test_pending_requests_are_bound_to_their_session(engine: Engine) -> None:
    async def scenario(first: Store, second: Store) -> None:
        now = time.time()
        await first.add_pending(_pending("r-1", "c1", "s", now + 600, sid="sid-a"), LIMITS, now)
        record = await second.get_pending("r-1", now)
        assert record == _pending("r-1", "c1", "s", now + 600, sid="sid-a")
        await second.rebind_pending("r-1", "sid-wrong", "sid-b", now)
        assert (await first.get_pending("r-1", now)).sid == "sid-a"  # type: ignore[union-attr]
        await second.rebind_pending("r-1", "sid-a", "sid-b", now)
        assert not await first.delete_pending("r-1", "sid-a")
        popped = await race(
            [(lambda n=n: [first, second][n % 2].delete_pending("r-1", "sid-b")) for n in range(10)]
        )
        assert popped.count(True) == 1
        assert await first.get_pending("r-1", now) is None

    run(engine, scenario, stores=2)


def test_pending_bounds_hold_under_concurrency(engine: Engine) -> None:
    async def scenario(first: Store, second: Store) -> None:
        now = time.time()
        limits = PendingLimits(max_per_source=5, max_per_client=1_000, max_entries=1_000)
        stores = [first, second]
        await race(
            [
                (
                    lambda n=n: stores[n % 2].add_pending(
                        _pending(f"r-{n}", "c1", "one-address", now + 600), limits, now
                    )
                )
                for n in range(RACERS)
            ]
        )
        assert await first.count_pending(now) == 5

    run(engine, scenario, stores=2)


def test_login_failures(engine: Engine) -> None:
    async def scenario(first: Store, second: Store) -> None:
        await race(
            [
                (lambda n=n: [first, second][n % 2].add_login_failures(["user:alex", "ip:1"], 100.0 + n, 0))
                for n in range(10)
            ]
        )
        failures = await second.login_failures(["user:alex", "ip:1", "ip:2"], 104.5)
        assert failures == {
            "user:alex": [105.0, 106.0, 107.0, 108.0, 109.0],
            "ip:1": [105.0, 106.0, 107.0, 108.0, 109.0],
        }
        await first.clear_login_failures("user:alex")
        assert await second.login_failures(["user:alex", "ip:1"], 0) == {
            "ip:1": [100.0 + n for n in range(10)]
        }
        # Old failures are forgotten as new ones arrive, whatever their key.
        await first.add_login_failures(["ip:2"], 500.0, forget_before=200.0)
        assert await second.login_failures(["ip:1", "ip:2"], 0) == {"ip:2": [500.0]}

    run(engine, scenario, stores=2)


def test_purge_expired_keeps_what_is_still_usable(engine: Engine) -> None:
    async def scenario(store: Store) -> None:
        now = int(time.time())
        grant_id = await _granted(store)
        await store.add_refresh_token(_refresh(grant_id, "rt-live"))
        await store.add_refresh_token(RefreshTokenRecord("rt-dead", grant_id, now - 1))
        await store.revoke_jti("jti-dead", now - 1)
        await store.add_code(_code("code-ancient", now - 86_401))
        await store.purge_expired(now)
        assert await store.get_refresh_token("rt-live") is not None
        assert await store.get_refresh_token("rt-dead") is None
        assert not await store.is_jti_revoked("jti-dead")
        assert await store.get_code("code-ancient") is None
        assert await store.get_grant(grant_id) is not None

    run(engine, scenario)


def test_state_survives_reopening(engine: Engine) -> None:
    """A restart (or another instance) opens the same database: the schema is created once."""

    async def write(first: Store, second: Store) -> None:
        await first.add_client(ClientRecord("c-durable", {"client_name": "x"}, 1))

    async def read(store: Store) -> None:
        assert await store.get_client("c-durable") is not None

    run(engine, write, stores=2)
    run(engine, read)


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_an_unreachable_database_is_one_line_naming_database_url(engine: Engine) -> None:
    from shared.settings import ConfigError

    broken = Engine("postgresql", engine.data_dir, engine.database_url.rsplit(":", 1)[0] + ":1/nowhere")
    with pytest.raises(ConfigError, match=r"DATABASE_URL \(127\.0\.0\.1:1/nowhere\): cannot connect"):
        run(broken, lambda store: anyio.lowlevel.checkpoint())
