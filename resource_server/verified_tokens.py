"""Verified tokens: what a caller is once its token passed every check, and remembering that.

:class:`VerifiedToken` is what the tools may know about the caller
(:func:`resource_server.authorization.caller`); :mod:`resource_server.token_verifier` makes one.
:class:`VerifiedTokenCache` remembers them, so a client pays for one signature check per token.

A client sends the same access token with every call until it expires. Checking it again each
time means an ECDSA (or RSA) signature check plus base64 and JSON decoding, which bench 1
measured as the largest cost an authenticated tool call has over an anonymous one. So after a
successful verification (:mod:`resource_server.token_verifier`) the result is kept, and the
next call with the same token reuses it — under rules that make a cached answer never more
permissive than a fresh check:

* **Only successes are kept.** A refused token is checked in full every time.
* **Expiry still applies.** An entry is used only while ``now < exp``; after that the token
  goes through the full check again, which refuses it (RFC 9068 §4) with the usual message.
* **Bound to the key that verified it.** An entry remembers the verification key object; it
  is used only while the JWKS cache still returns that same object for the token's ``kid``.
  Once a refetch drops or replaces the key, every token it signed is checked from scratch.
* **No credential is held.** Entries are keyed by the SHA-256 of the token, not the token.
* **Bounded.** At most ``max_entries`` (least recently used go first), so a flood of
  distinct valid tokens cannot grow the process's memory.

Revocation does not change: this RS verifies tokens locally and never asks the AS whether a
token was revoked (README, "Security notes"), with or without the cache.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DEFAULT_MAX_ENTRIES = 1024


@dataclass(frozen=True)
class VerifiedToken:
    """What the tools may know about the caller: the claims of a token that passed every check."""

    subject: str
    client_id: str
    scopes: frozenset[str]
    expires_at: int
    claims: Mapping[str, Any] = field(repr=False)  # read-only: one result serves many requests

    @property
    def expires_at_iso(self) -> str:
        return datetime.fromtimestamp(self.expires_at, UTC).isoformat().replace("+00:00", "Z")

    def has_scopes(self, required: Iterable[str]) -> bool:
        return set(required) <= self.scopes


@dataclass(frozen=True)
class _Entry:
    verified: VerifiedToken
    kid: str | None
    key: Any  # the key object the signature was checked with


class VerifiedTokenCache:
    """Verified tokens by SHA-256, each valid while unexpired and while its key is still current."""

    def __init__(
        self, *, max_entries: int = DEFAULT_MAX_ENTRIES, clock: Callable[[], float] = time.time
    ) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, current_key: Callable[[str | None], Any]) -> VerifiedToken | None:
        """The cached result for ``token``, or ``None`` when it must be verified in full.

        ``current_key(kid)`` is the key that would verify the token now, without any I/O
        (``None`` when there is none).
        """
        digest = _digest(token)
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if self.clock() >= entry.verified.expires_at or current_key(entry.kid) is not entry.key:
            del self._entries[digest]
            return None
        self._entries.move_to_end(digest)
        return entry.verified

    def put(self, token: str, verified: VerifiedToken, *, kid: str | None, key: Any) -> None:
        """Remember a token that has just passed the full check with ``key``."""
        digest = _digest(token)
        self._entries[digest] = _Entry(verified=verified, kid=kid, key=key)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
