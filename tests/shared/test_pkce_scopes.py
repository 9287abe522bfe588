"""Unit tests of the PKCE (RFC 7636) and scope (RFC 6749 §3.3) helpers."""

import pytest

from shared import pkce
from shared.scopes import (
    ScopeError,
    format_scope,
    has_scopes,
    missing_scopes,
    parse_scope,
    unknown_scopes,
)


def test_rfc7636_appendix_b_vector() -> None:
    # The RFC's own example: verifier -> challenge.
    assert pkce.s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_pair_verifies_and_other_verifier_does_not() -> None:
    verifier, challenge = pkce.make_pair()
    assert pkce.is_valid_verifier(verifier) and pkce.is_valid_challenge(challenge)
    assert pkce.verify_s256(verifier, challenge)
    other, _ = pkce.make_pair()
    assert not pkce.verify_s256(other, challenge)


@pytest.mark.parametrize("verifier", ["short", "x" * 129, "a" * 42 + "!", ""])
def test_malformed_verifiers_never_verify(verifier: str) -> None:
    assert not pkce.verify_s256(verifier, pkce.s256_challenge("a" * 43))


def test_plain_challenge_equal_to_verifier_is_refused() -> None:
    verifier = "a" * 43
    assert not pkce.verify_s256(verifier, verifier)


def test_scope_parsing_and_formatting() -> None:
    assert parse_scope(None) == frozenset()
    assert parse_scope("notes:write  profile:read") == {"notes:write", "profile:read"}
    assert format_scope({"notes:write", "offline_access", "profile:read", "zeta"}) == (
        "profile:read notes:write offline_access zeta"
    )
    with pytest.raises(ScopeError):
        parse_scope('bad"quote')


def test_scope_checks() -> None:
    assert has_scopes({"notes:read", "notes:write"}, {"notes:read"})
    assert missing_scopes({"notes:read"}, {"notes:read", "notes:write"}) == {"notes:write"}
    assert unknown_scopes({"notes:read", "admin"}) == {"admin"}
