"""Key rotation at the resource server's JWKS cache, including under a stream of junk ``kid`` values.

The cache refetches the AS's JWK Set once per unknown ``kid``, rate-limited so that random
``kid`` values cannot turn the RS into an amplifier against the AS. The attack checked here:
an attacker spends that refetch budget with a junk ``kid`` just before the AS rotates its key.
The first genuine token with the new ``kid`` is then refused (no refetch allowed yet) — but
once the interval has passed, that ``kid`` must get its refetch and be accepted, not stay
blacklisted until the process restarts.
"""

from __future__ import annotations

from shared.jwks import generate_signing_key
from tests.resource_server.rs_support import OTHER_KEY, SIGNING_KEY, AppFactory, mint

ALL = "profile:read notes:read notes:write"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rotated_key_is_accepted_after_one_refetch(start_rs: AppFactory) -> None:
    rs = start_rs()
    assert rs.rpc.call("notes_list", token=mint(ALL)).status_code == 200
    rs.fake_as.keys = [OTHER_KEY, SIGNING_KEY]  # the AS rotated
    before = rs.fake_as.jwks_fetches
    assert rs.rpc.call("notes_list", token=mint(ALL, key=OTHER_KEY)).status_code == 200
    assert rs.rpc.call("notes_list", token=mint(ALL, key=OTHER_KEY)).status_code == 200
    assert rs.fake_as.jwks_fetches - before == 1


def test_junk_kid_just_before_a_rotation_does_not_lock_the_new_key_out(start_rs: AppFactory) -> None:
    rs = start_rs()
    clock = Clock()
    rs.app.state.jwks.clock = clock
    assert rs.rpc.call("notes_list", token=mint(ALL)).status_code == 200

    # The attacker's junk kid spends the refetch budget…
    junk = mint(ALL, key=generate_signing_key("ES256"))
    assert rs.rpc.call("notes_list", token=junk).status_code == 401
    # …then the AS rotates and the first genuine token with the new kid arrives within the interval.
    rs.fake_as.keys = [OTHER_KEY, SIGNING_KEY]
    clock.now += 1
    assert rs.rpc.call("notes_list", token=mint(ALL, key=OTHER_KEY)).status_code == 401

    # Once the interval has passed, the new kid gets its refetch and works from then on.
    clock.now += rs.app.state.jwks.unknown_kid_interval_sec
    assert rs.rpc.call("notes_list", token=mint(ALL, key=OTHER_KEY)).status_code == 200
    assert rs.rpc.call("notes_list", token=mint(ALL)).status_code == 200  # the old key too, until retired
