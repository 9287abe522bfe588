"""Finding and caching the authorization server's signing keys (RFC 8414 §3, RFC 7517 §5).

The resource server verifies access tokens locally, so it needs the AS's public keys. It
finds them the way any OAuth client would: fetch the AS metadata at
``{AUTH_ISSUER}/.well-known/oauth-authorization-server`` (RFC 8414 §3), check that its
``issuer`` is ``AUTH_ISSUER`` byte for byte (§3.3), then fetch the JWK Set at ``jwks_uri``.

The set is cached for the life of the process: in steady state verifying a token costs no
request to the AS at all (``as_request_count`` lets a benchmark assert exactly that). A token
naming a ``kid`` the cache does not hold means the AS rotated its key, so the set is fetched
again — once per unknown ``kid``, and no more often than ``unknown_kid_interval_sec`` in
total, so a flood of tokens with random ``kid`` values cannot turn the RS into an amplifier
against the AS. Every fetch has a deadline: an AS that is down or hanging yields
:class:`JwksUnavailable` within ``timeout_sec``, never a hung request.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from shared.jwks import UnusableKey, verification_key

if TYPE_CHECKING:
    import httpx

DEFAULT_TIMEOUT_SEC = 3.0
DEFAULT_UNKNOWN_KID_INTERVAL_SEC = 10.0
DEFAULT_FAILURE_BACKOFF_SEC = 1.0
_MAX_REMEMBERED_UNKNOWN_KIDS = 1024
_MAX_DOCUMENT_BYTES = 256 * 1024


class JwksUnavailable(Exception):
    """The keys could not be fetched; ``description`` says where and what to check."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class UnknownKey(Exception):
    """The JWK Set, even freshly fetched, has no key for the token's ``kid``."""


class JwksCache:
    """The AS's verification keys by ``kid``, fetched on first use and on rotation."""

    def __init__(
        self,
        *,
        issuer: str,
        metadata_url: str,
        algorithm: str,
        http_client: httpx.AsyncClient | None = None,
        timeout_sec: float = DEFAULT_TIMEOUT_SEC,
        unknown_kid_interval_sec: float = DEFAULT_UNKNOWN_KID_INTERVAL_SEC,
        failure_backoff_sec: float = DEFAULT_FAILURE_BACKOFF_SEC,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.metadata_url = metadata_url
        self.algorithm = algorithm
        self.timeout_sec = timeout_sec
        self.unknown_kid_interval_sec = unknown_kid_interval_sec
        self.failure_backoff_sec = failure_backoff_sec
        self.as_request_count = 0  # every HTTP request this cache sent to the AS
        self._http = http_client  # created on first use when not given, so building the app does no I/O
        self._owns_http = http_client is None
        self.clock = clock
        self._jwks_uri: str | None = None
        self._keys: dict[str, Any] | None = None  # kid -> key object; None until the first fetch
        self._lock = anyio.Lock()
        self._last_unknown_kid_fetch = -math.inf
        self._failed_until = -math.inf
        self._last_failure = ""
        # kids already refetched for and still not found: asking again would not help.
        self._unknown_kids: OrderedDict[str, None] = OrderedDict()

    @property
    def jwks_uri(self) -> str | None:
        return self._jwks_uri

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def key_for(self, kid: str | None) -> Any:
        """The verification key for ``kid``; raises :class:`UnknownKey` or :class:`JwksUnavailable`."""
        key = self.cached_key(kid)
        if key is not None:
            return key
        async with self._lock:
            # Another request may have refreshed the set while this one waited for the lock.
            key = self.cached_key(kid)
            if key is not None:
                return key
            refreshed = False
            if self._keys is None:
                await self._refresh()
                refreshed = True
            elif self._may_refetch_for(kid):
                self._last_unknown_kid_fetch = self.clock()
                await self._refresh()
                refreshed = True
            key = self.cached_key(kid)
            if key is None:
                # Only a set fetched *for* this kid proves it unknown. A kid refused because the
                # refetch budget was spent (say, by a junk kid a moment before a rotation) must get
                # its refetch once the interval has passed, or the new key stays locked out.
                if kid is not None and refreshed:
                    self._remember_unknown(kid)
                raise UnknownKey(kid)
            return key

    def cached_key(self, kid: str | None) -> Any:
        """The key held for ``kid`` right now, ``None`` if none; never fetches."""
        if self._keys is None:
            return None
        if kid is None:
            # A token without kid is only unambiguous while the AS publishes a single key.
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _may_refetch_for(self, kid: str | None) -> bool:
        if kid is None or kid in self._unknown_kids:
            return False
        return self.clock() - self._last_unknown_kid_fetch >= self.unknown_kid_interval_sec

    def _remember_unknown(self, kid: str) -> None:
        self._unknown_kids[kid] = None
        while len(self._unknown_kids) > _MAX_REMEMBERED_UNKNOWN_KIDS:
            self._unknown_kids.popitem(last=False)

    async def _refresh(self) -> None:
        if self.clock() < self._failed_until:
            # The AS just failed us: answer at once instead of queueing up behind timeouts.
            raise JwksUnavailable(self._last_failure)
        try:
            if self._jwks_uri is None:
                self._jwks_uri = self._jwks_uri_from(await self._get_json(self.metadata_url))
            self._keys = self._keys_from(await self._get_json(self._jwks_uri))
        except JwksUnavailable as exc:
            self._failed_until = self.clock() + self.failure_backoff_sec
            self._last_failure = exc.description
            raise
        self._unknown_kids.clear()

    async def _get_json(self, url: str) -> dict[str, Any]:
        # Imported on first use, not at start-up: the RS answers sooner after a restart, and
        # nothing needs httpx until the first token arrives.
        import httpx

        self.as_request_count += 1
        if self._http is None:
            self._http = httpx.AsyncClient()
        problem: str
        try:
            # fail_after bounds the whole exchange, whatever the transport does with its own timeouts.
            with anyio.fail_after(self.timeout_sec):
                response = await self._http.get(url, timeout=self.timeout_sec, follow_redirects=False)
        except TimeoutError:
            problem = f"no answer within {self.timeout_sec:g} s"
        except httpx.HTTPError as exc:
            problem = type(exc).__name__
        else:
            if response.status_code != 200:
                problem = f"HTTP {response.status_code}"
            elif len(response.content) > _MAX_DOCUMENT_BYTES:
                problem = "the document is too large"
            else:
                try:
                    document = response.json()
                except ValueError:
                    document = None
                if isinstance(document, dict):
                    return document
                problem = "the answer is not a JSON object"
        raise JwksUnavailable(
            f"cannot reach the authorization server's keys at {url} ({problem}); "
            f"is the AS running at {self.issuer}?"
        )

    def _jwks_uri_from(self, metadata: dict[str, Any]) -> str:
        if metadata.get("issuer") != self.issuer:
            raise JwksUnavailable(
                f"the metadata at {self.metadata_url} names issuer {metadata.get('issuer')!r}, "
                f"not AUTH_ISSUER {self.issuer!r} (RFC 8414 §3.3); make them identical"
            )
        jwks_uri = metadata.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise JwksUnavailable(f"the metadata at {self.metadata_url} has no usable jwks_uri")
        return jwks_uri

    def _keys_from(self, jwks: dict[str, Any]) -> dict[str, Any]:
        keys: dict[str, Any] = {}
        for jwk in jwks.get("keys") or []:
            if (
                not isinstance(jwk, dict)
                or jwk.get("use", "sig") != "sig"
                or not isinstance(jwk.get("kid"), str)
            ):
                continue
            try:
                keys[jwk["kid"]] = verification_key(jwk, self.algorithm)
            except UnusableKey:
                continue  # a key for another algorithm can never verify our pinned one
        return keys
