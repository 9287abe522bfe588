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
import time
from dataclasses import dataclass

from auth_server.store import Store, UserRecord
from shared.settings import DEFAULT_DEMO_USERS, Settings, parse_demo_users


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
    """Who the users are: one :class:`User` per ``DEMO_USERS`` entry (in memory, with a password),
    and those an upstream provider vouched for (in the store's ``users`` table, without one).
    """

    def __init__(self, users: list[User], store: Store) -> None:
        self._by_username = {user.username: user for user in users}
        self._by_sub = {user.sub: user for user in users}
        self._store = store

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> UserDirectory:
        """The demo users with ``IDENTITY=demo``; none otherwise, so no password works then."""
        if settings.identity != "demo":
            return cls([], store)
        pairs = parse_demo_users(settings.demo_users)
        return cls([demo_user(name, password) for name, password in pairs], store)

    @property
    def usernames(self) -> list[str]:
        return list(self._by_username)

    def authenticate(self, username: str, password: str) -> User | None:
        user = self._by_username.get(username.strip().lower())
        expected = user.password_digest if user else _NOBODY_DIGEST
        matches = hmac.compare_digest(_digest(password), expected)
        return user if matches and user else None

    async def get(self, sub: str) -> User | None:
        """The user ``sub``: a demo user, or one an upstream provider vouched for earlier."""
        if user := self._by_sub.get(sub):
            return user
        record = await self._store.get_user(sub)
        return _upstream_user(record) if record else None

    async def add_upstream(self, sub: str, name: str, email: str) -> User:
        """Keep what the upstream provider says about ``sub`` now (``auth_server.upstream``).

        Durable, so that a refresh after a restart, or in another worker, still knows the
        user; updated at every sign-in, so a changed name or email follows.
        """
        record = UserRecord(sub=sub, name=name, email=email, updated_at=int(time.time()))
        await self._store.save_user(record)
        return _upstream_user(record)


def _upstream_user(record: UserRecord) -> User:
    # No password: such a user signs in only through the upstream provider.
    return User(
        sub=record.sub,
        username=record.email or record.sub,
        name=record.name,
        email=record.email,
        password_digest=b"",
    )
