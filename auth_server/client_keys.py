"""The public keys of clients that sign their token requests (``private_key_jwt``, RFC 7523 §2.2).

Such a client publishes a JWK Set (RFC 7517 §5) and names it in its metadata, either

* by URL, ``jwks_uri`` — ChatGPT's documents point at ``https://chatgpt.com/oauth/jwks.json``; or
* inline, ``jwks`` — the set itself inside the metadata (RFC 7591 §2).

A ``jwks_uri`` is a URL a stranger chose, exactly like a metadata document's, so it is fetched
through the same fences: :meth:`~auth_server.public_fetch.PublicFetcher.get_json` (https,
allowed hosts, public addresses, no redirects, size and time bounds).

The fetched set is cached per its ``Cache-Control: max-age``, but for at least
``min_cache_sec``: every token request of such a client needs its keys, and a key set that
says ``no-store`` must not turn the AS into a client of the client's host on every request.
A client that rotates its key signs with a ``kid`` the cached set lacks; then the set is
fetched again once — at most once per ``refetch_interval_sec`` for each URL, so a flood of
assertions with made-up ``kid`` values costs the client's host one request, not thousands.

Only public RSA and EC signature keys are used. A set that contains private or symmetric key
material is refused whole: its owner has published a secret, and nothing signed with it
proves anything any more.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from cryptography.hazmat.primitives.asymmetric import rsa

from auth_server.clients import Client
from auth_server.errors import Refused
from auth_server.public_fetch import FetchRefused, PublicFetcher
from shared.jwks import UnusableKey, public_key_problem, verification_key

_KTY_FOR_ALG = {"RS256": "RSA", "PS256": "RSA", "ES256": "EC"}
MAX_KEYS = 20
MIN_RSA_BITS = 2048  # RFC 7518 §3.3


class ClientKeyError(Refused):
    """No usable key for an assertion; ``description`` says why and what the client should fix."""


def parse_key_set(document: Any, where: str) -> list[dict[str, Any]]:
    """The keys of a JWK Set document (RFC 7517 §5), each checked to be a public signature key.

    ``where`` names the set in error messages (``the jwks_uri https://…``).
    """
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ClientKeyError(f"{where} is not a JWK Set with a non-empty 'keys' list (RFC 7517 §5)")
    if len(keys) > MAX_KEYS:
        raise ClientKeyError(f"{where} holds {len(keys)} keys; at most {MAX_KEYS} are accepted")
    for jwk in keys:
        if problem := public_key_problem(jwk):
            raise ClientKeyError(f"{where}: {problem}")
    return list(keys)


def key_source(client: Client) -> str:
    """Where the client's keys are, for messages: ``jwks_uri https://…`` or ``the inline jwks``."""
    uri = client.metadata.get("jwks_uri")
    return f"jwks_uri {uri}" if uri else "the inline jwks of its metadata"


@dataclass
class _CachedSet:
    keys: list[dict[str, Any]]
    expires_at: float
    fetched_at: float


class ClientKeySets:
    """Finds the verification key for a client's assertion: inline, cached, or fetched."""

    max_bytes = 64 * 1024
    max_cache_entries = 1000
    min_cache_sec = 60
    refetch_interval_sec = 30.0

    def __init__(self, fetcher: PublicFetcher, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.fetcher = fetcher
        self._clock = clock
        self._cache: OrderedDict[str, _CachedSet] = OrderedDict()
        # One fetch at a time: concurrent requests of one client wait for the set the first one
        # fetches instead of each fetching it. A key found in a fresh cached set needs no lock.
        self._lock = anyio.Lock()

    async def key_for(self, client: Client, kid: str | None, alg: str) -> Any:
        """The public key that verifies ``client``'s assertion signed with ``alg`` and ``kid``."""
        inline = client.metadata.get("jwks")
        if inline is not None:
            keys = parse_key_set(inline, "the inline jwks")
            return self._select(keys, kid, alg, "the inline jwks of the client's metadata")
        uri = client.metadata.get("jwks_uri")
        if not isinstance(uri, str):
            raise ClientKeyError(
                "the client's metadata has neither jwks_uri nor jwks, so there is no key to check its "
                "assertion with; publish the public keys and name them with jwks_uri"
            )
        where = f"the key set at {uri}"
        cached = self._fresh(uri)
        if cached is not None and (jwk := self._find(cached.keys, kid, alg, where)) is not None:
            return self._key(jwk, alg)  # the common case: no lock, no fetch
        async with self._lock:
            cached, fresh = await self._current(uri)
            jwk = self._find(cached.keys, kid, alg, where)
            if jwk is None and not fresh and kid is not None and self._may_refetch(cached):
                cached = await self._fetch(uri)  # the client may have rotated its key
                jwk = self._find(cached.keys, kid, alg, where)
        if jwk is None:
            raise ClientKeyError(self._no_key(kid, alg, where))
        return self._key(jwk, alg)

    def _fresh(self, uri: str) -> _CachedSet | None:
        cached = self._cache.get(uri)
        if cached is None or cached.expires_at <= self._clock():
            return None
        self._cache.move_to_end(uri)
        return cached

    async def _current(self, uri: str) -> tuple[_CachedSet, bool]:
        """The cached set (fetched by a request that held the lock before us, perhaps), else a new one."""
        cached = self._fresh(uri)
        return (cached, False) if cached is not None else (await self._fetch(uri), True)

    def _may_refetch(self, cached: _CachedSet) -> bool:
        return self._clock() - cached.fetched_at >= self.refetch_interval_sec

    async def _fetch(self, uri: str) -> _CachedSet:
        try:
            document, max_age = await self.fetcher.get_json(
                uri, field="jwks_uri", what="client key set", max_bytes=self.max_bytes
            )
        except FetchRefused as exc:
            self._cache.pop(uri, None)
            raise ClientKeyError(exc.description) from None
        keys = parse_key_set(document, f"the key set at {uri}")
        now = self._clock()
        cached = _CachedSet(keys, now + max(max_age, self.min_cache_sec), now)
        self._cache[uri] = cached
        self._cache.move_to_end(uri)
        while len(self._cache) > self.max_cache_entries:
            self._cache.popitem(last=False)
        return cached

    def _select(self, keys: list[dict[str, Any]], kid: str | None, alg: str, where: str) -> Any:
        jwk = self._find(keys, kid, alg, where)
        if jwk is None:
            raise ClientKeyError(self._no_key(kid, alg, where))
        return self._key(jwk, alg)

    @staticmethod
    def _find(keys: list[dict[str, Any]], kid: str | None, alg: str, where: str) -> dict[str, Any] | None:
        if kid is not None:
            return next((jwk for jwk in keys if jwk.get("kid") == kid), None)
        # Without a kid the key is only unambiguous when one key in the set fits the algorithm.
        kty = _KTY_FOR_ALG[alg]
        fitting = [jwk for jwk in keys if jwk.get("kty") == kty and jwk.get("alg") in (None, alg)]
        if len(fitting) > 1:
            raise ClientKeyError(
                f"the assertion has no kid and {where} holds {len(fitting)} {alg} keys; "
                "put the kid of the signing key in the JWT header"
            )
        return fitting[0] if fitting else None

    @staticmethod
    def _no_key(kid: str | None, alg: str, where: str) -> str:
        if kid is None:
            return f"{where} has no key for {alg}; sign with a key the set publishes"
        return f"{where} has no key with kid {kid!r}; publish a new key there before signing with it"

    @staticmethod
    def _key(jwk: dict[str, Any], alg: str) -> Any:
        try:
            key = verification_key(jwk, alg)
        except UnusableKey as exc:
            raise ClientKeyError(f"the assertion is signed with {alg}, but {exc}") from None
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
            raise ClientKeyError(
                f"key {jwk.get('kid')!r} is a {key.key_size}-bit RSA key; at least {MIN_RSA_BITS} bits "
                "are required"
            )
        return key
