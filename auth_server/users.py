"""The demo's user directory: the users of ``DEMO_USERS``, in memory.

A real deployment would delegate sign-in to an identity provider; what matters for the
tutorial is what the AS does *after* it knows who the user is. There are two users by
default, ``alex`` and ``sam`` (both with the password ``password``), so that one can see
that each user's notes and tokens are their own.

The password is compared in constant time (through fixed-length digests, so even its
length does not leak), and an unknown username costs the same work as a wrong password.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from shared.settings import DEFAULT_DEMO_USERS, parse_demo_users


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


_NOBODY_DIGEST = _digest("no user has this password")


def demo_user(username: str, password: str) -> User:
    """The user ``username``: its ``sub`` (``user_<username>``) stays the same across restarts."""
    return User(
        sub=f"user_{username}",
        username=username,
        name=f"{username.capitalize()} Demo",
        email=f"{username}@example.com",
        password_digest=_digest(password),
    )


def account_hints(demo_users: str) -> list[tuple[str, str | None]]:
    """The accounts the login page and the banner name, with passwords only while they are the defaults.

    The default passwords are in the README anyway; passwords an operator chose in
    ``DEMO_USERS`` are never printed on a public page or in a log.
    """
    shown = demo_users == DEFAULT_DEMO_USERS
    return [(name, password if shown else None) for name, password in parse_demo_users(demo_users)]


class UserDirectory:
    """Who may sign in with a password: one :class:`User` per ``DEMO_USERS`` entry."""

    def __init__(self, users: list[User]) -> None:
        self._by_username = {user.username: user for user in users}
        self._by_sub = {user.sub: user for user in users}

    @classmethod
    def from_setting(cls, demo_users: str) -> UserDirectory:
        return cls([demo_user(name, password) for name, password in parse_demo_users(demo_users)])

    @property
    def usernames(self) -> list[str]:
        return list(self._by_username)

    def authenticate(self, username: str, password: str) -> User | None:
        user = self._by_username.get(username.strip().lower())
        expected = user.password_digest if user else _NOBODY_DIGEST
        matches = hmac.compare_digest(_digest(password), expected)
        return user if matches and user else None

    def get(self, sub: str) -> User | None:
        return self._by_sub.get(sub)

    def add_upstream(self, sub: str, name: str, email: str) -> User:
        """A user the upstream provider vouched for (``auth_server.upstream``), kept in memory.

        Not durable yet: after a restart such a user's refresh tokens get ``invalid_grant`` and
        the client signs in again (a users table in the store would keep them).
        """
        user = User(sub=sub, username=email or sub, name=name, email=email, password_digest=b"")
        self._by_sub[sub] = user
        return user
