"""The verified-token cache: one signature check per token, never more permissive than a fresh check."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

import resource_server.token_verifier as token_verifier_module
from resource_server.verified_tokens import VerifiedTokenCache
from shared.tokens import verify_access_token
from tests.resource_server.rs_support import OTHER_KEY, SIGNING_KEY, RunningRS, forged_token, mint


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token that went through the full check (signature and claims), in order."""
    checked: list[str] = []

    def counting(token: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        checked.append(token)
        return verify_access_token(token, *args, **kwargs)

    monkeypatch.setattr(token_verifier_module, "verify_access_token", counting)
    return checked


def test_a_token_is_fully_checked_once_then_served_from_the_cache(
    rs: RunningRS, signature_checks: list[str]
) -> None:
    token = mint("notes:read")
    for _ in range(5):
        assert rs.rpc.call("notes_list", token=token).status_code == 200
    other = mint("notes:read", subject="user-sam")
    assert rs.rpc.call("notes_list", token=other).status_code == 200
    assert signature_checks == [token, other]
    assert len(rs.app.state.verifier.cache) == 2


def test_refused_tokens_are_never_cached(rs: RunningRS, signature_checks: list[str]) -> None:
    forged = forged_token({"alg": "ES256", "typ": "at+jwt", "kid": SIGNING_KEY.kid})
    expired = mint("notes:read", ttl_sec=60, now=1_000_000)
    for token in (forged, forged, expired, expired):
        assert rs.rpc.call("notes_list", token=token).status_code == 401
    assert len(signature_checks) == 4
    assert len(rs.app.state.verifier.cache) == 0


def test_a_cached_token_is_checked_again_once_it_expires(rs: RunningRS, signature_checks: list[str]) -> None:
    token = mint("notes:read")
    assert rs.rpc.call("notes_list", token=token).status_code == 200
    cache: VerifiedTokenCache = rs.app.state.verifier.cache
    expires_at = next(iter(cache._entries.values())).verified.expires_at
    cache.clock = lambda: expires_at  # the cache's view of time reaches exp
    assert rs.rpc.call("notes_list", token=token).status_code == 200  # PyJWT's clock: still valid
    assert signature_checks == [token, token]


def test_a_key_that_leaves_the_jwks_takes_its_cached_tokens_with_it(rs: RunningRS) -> None:
    old = mint("notes:read")
    assert rs.rpc.call("notes_list", token=old).status_code == 200
    assert len(rs.app.state.verifier.cache) == 1

    # The AS retires the old key. A token with the new kid makes the RS fetch the new set.
    rs.fake_as.keys = [OTHER_KEY]
    assert rs.rpc.call("notes_list", token=mint("notes:read", key=OTHER_KEY)).status_code == 200

    response = rs.rpc.call("notes_list", token=old)
    assert response.status_code == 401
    assert "does not publish" in response.headers["www-authenticate"]


def test_scopes_come_from_the_cached_token_not_from_the_call(rs: RunningRS) -> None:
    reader = mint("notes:read")
    assert rs.rpc.call("notes_list", token=reader).status_code == 200
    # The same cached token must still be refused where it lacks the scope.
    response = rs.rpc.call("notes_add", {"text": "hi"}, token=reader)
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


# ----- VerifiedTokenCache on its own -----


def _verified(expires_at: int = 2_000) -> Any:
    from resource_server.verified_tokens import VerifiedToken

    return VerifiedToken(
        subject="user-alex", client_id="c", scopes=frozenset({"notes:read"}), expires_at=expires_at, claims={}
    )


def _key_is(key: object) -> Callable[[str | None], object]:
    return lambda kid: key


def test_the_cache_is_bounded_and_drops_the_least_recently_used() -> None:
    key = object()
    cache = VerifiedTokenCache(max_entries=3, clock=lambda: 1_000)
    for name in ("a", "b", "c"):
        cache.put(name, _verified(), kid="k", key=key)
    assert cache.get("a", _key_is(key)) is not None  # "a" is now the most recently used
    cache.put("d", _verified(), kid="k", key=key)
    assert len(cache) == 3
    assert cache.get("b", _key_is(key)) is None
    assert all(cache.get(name, _key_is(key)) is not None for name in ("a", "c", "d"))


def test_the_cache_holds_digests_not_tokens() -> None:
    cache = VerifiedTokenCache(clock=lambda: 1_000)
    cache.put("the-bearer-token", _verified(), kid="k", key=object())
    assert list(cache._entries) == [hashlib.sha256(b"the-bearer-token").digest()]
    assert "the-bearer-token" not in repr(cache._entries)


def test_an_entry_needs_the_very_same_key_object() -> None:
    key = object()
    cache = VerifiedTokenCache(clock=lambda: 1_000)
    cache.put("t", _verified(), kid="k", key=key)
    assert cache.get("t", _key_is(object())) is None  # same kid, another key: checked again
    assert len(cache) == 0
    cache.put("t", _verified(), kid="k", key=key)
    assert cache.get("t", _key_is(None)) is None  # the kid is gone from the set


def test_an_entry_ends_at_exp() -> None:
    key = object()
    now = [1_999.0]
    cache = VerifiedTokenCache(clock=lambda: now[0])
    cache.put("t", _verified(expires_at=2_000), kid="k", key=key)
    assert cache.get("t", _key_is(key)) is not None
    now[0] = 2_000.0
    assert cache.get("t", _key_is(key)) is None
