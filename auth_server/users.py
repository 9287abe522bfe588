"""The demo's user directory: one user, in memory.

A real deployment would delegate sign-in to an identity provider; what matters for the
tutorial is what the AS does *after* it knows who the user is. The password is compared
in constant time (through fixed-length digests, so even its length does not leak), and an
unknown username costs the same work as a wrong password.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class User:
    sub: str
    username: str
    name: str
    email: str
    password_digest: bytes

    def profile_claims(self) -> dict[str, str]:
        """Claims added to access tokens next to RFC 9068's (OpenID Connect Core §5.1 names)."""
        return {"name": self.name, "email": self.email, "preferred_username": self.username}


def _digest(password: str) -> bytes:
    return hashlib.sha256(password.encode()).digest()


DEMO_USER = User(
    sub="user_alex",
    username="alex",
    name="Alex Demo",
    email="alex@example.com",
    password_digest=_digest("password"),
)
_USERS = {DEMO_USER.username: DEMO_USER}
_NOBODY_DIGEST = _digest("no user has this password")


def authenticate(username: str, password: str) -> User | None:
    user = _USERS.get(username.strip().lower())
    expected = user.password_digest if user else _NOBODY_DIGEST
    matches = hmac.compare_digest(_digest(password), expected)
    return user if matches and user else None


def get_user(sub: str) -> User | None:
    return next((user for user in _USERS.values() if user.sub == sub), None)
