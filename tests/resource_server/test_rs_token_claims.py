"""Unit tests of :func:`shared.tokens.check_claims`: the one place claim types and lifetimes are checked.

The attacks themselves (signed tokens with malformed claims, over HTTP against the real app)
are in ``tests/security/test_sec_rs_hardening.py``; here are the boundaries.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.settings import ConfigError, load_settings
from shared.tokens import CLAIM_TYPES, MAX_NUMERIC_DATE, REQUIRED_CLAIMS, InvalidToken, check_claims

NOW = 1_800_000_000
ISS = "https://as.example"
AUD = "https://rs.example/mcp"


def _claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISS,
        "sub": "user-alex",
        "aud": AUD,
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 600,
        "jti": "j1",
        "client_id": "c1",
        "scope": "notes:read",
    }
    claims.update(overrides)
    return claims


def _check(claims: dict[str, Any], now: float = NOW, **kwargs: Any) -> None:
    check_claims(claims, issuer=ISS, audience=AUD, leeway_sec=30, now=now, **kwargs)


def _refusal(claims: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(InvalidToken) as caught:
        _check(claims, **kwargs)
    return caught.value.description


def test_every_required_claim_has_a_type_rule() -> None:
    assert set(REQUIRED_CLAIMS) <= set(CLAIM_TYPES)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"iat": NOW + 0.5, "exp": NOW + 600.25, "nbf": float(NOW)},  # RFC 7519 allows fractions
        {"aud": ["https://other.example", AUD]},
        {"scope": ""},
        {"scope": "notes:read  notes:write"},
        {"nbf": 0},
    ],
)
def test_well_formed_claims_pass(overrides: dict[str, Any]) -> None:
    _check(_claims(**overrides), max_lifetime_sec=86400)


def test_the_last_numeric_date_is_still_a_date() -> None:
    claims = _claims(exp=MAX_NUMERIC_DATE, iat=MAX_NUMERIC_DATE - 600, nbf=MAX_NUMERIC_DATE - 600)
    _check(claims, now=MAX_NUMERIC_DATE - 300, max_lifetime_sec=600)


def test_absent_optional_claims_pass() -> None:
    claims = _claims()
    del claims["scope"], claims["nbf"]
    _check(claims)


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("exp", MAX_NUMERIC_DATE + 1),
        ("exp", float("nan")),
        ("exp", float("-inf")),
        ("iat", -0.5),
        ("nbf", True),
        ("scope", b"notes:read"),
        ("aud", (AUD,)),  # a tuple never comes out of JSON: only list or str are arrays/strings
    ],
)
def test_malformed_claim_names_the_claim(claim: str, value: Any) -> None:
    assert _refusal(_claims(**{claim: value})).startswith(f"the access token's {claim!r} claim is malformed")


def test_types_are_checked_before_values() -> None:
    """A wrong type is reported as such, even on a token that is also expired."""
    assert "'sub' claim is malformed" in _refusal(_claims(sub=5, exp=NOW - 3600))


def test_lifetime_bound_is_inclusive() -> None:
    _check(_claims(exp=NOW + 3600), max_lifetime_sec=3600)
    assert "MAX_TOKEN_LIFETIME_SEC" in _refusal(_claims(exp=NOW + 3601), max_lifetime_sec=3600)
    _check(_claims(exp=NOW + 10 * 86400))  # no bound unless asked (the AS's own tokens)


def test_iat_in_the_future_within_and_beyond_the_leeway() -> None:
    _check(_claims(iat=NOW + 30, nbf=NOW))
    assert "issued in the future" in _refusal(_claims(iat=NOW + 31, nbf=NOW))


def test_iss_and_aud_values() -> None:
    assert "not issued by" in _refusal(_claims(iss=ISS + "/"))
    assert "not issued for this resource" in _refusal(_claims(aud=["https://other.example/mcp"]))


def test_max_token_lifetime_setting_must_cover_the_access_token_ttl(tmp_path: Any) -> None:
    base = {"_env_file": None, "data_dir": tmp_path}
    assert load_settings(**base).max_token_lifetime_sec == 86400
    shorter = "MAX_TOKEN_LIFETIME_SEC=600 is shorter than ACCESS_TOKEN_TTL_SEC=900"
    with pytest.raises(ConfigError, match=shorter):
        load_settings(**base, access_token_ttl_sec=900, max_token_lifetime_sec=600)
