"""Signing keys: generated on first start, persisted, published as a JWKS, rotatable.

* The AS signs access tokens with the *current* key (ES256 by default, RS256 with
  ``JWT_ALG=RS256``) and names it in the JWT header's ``kid``.
* ``GET /oauth2/jwks`` (``published_keys.py``) publishes the public half of every key that
  is not yet retired (RFC 7517 §5). The resource server caches that set and refetches it
  once when a token names an unknown ``kid``.
* ``python -m auth_server.keys rotate`` adds a new current key and retires the old one
  at ``now + ACCESS_TOKEN_TTL_SEC + 60 s``: until then the old key stays published, so
  the tokens it signed keep verifying until they have expired anyway.
* Keys live in the store (the SQLite file, mode 0600, or the PostgreSQL database), so every
  worker and instance signs with the same key and one place holds all AS state. On a first
  start the workers agree on one key (``Store.add_first_signing_key``).
  A key that cannot be read stops startup with one line naming DATA_DIR and the fix.
* ``JWT_ALG=HS256`` is an explicit demo mode: the key is ``JWT_SECRET``, nothing is
  stored and the JWKS is empty (a shared secret is never published).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from auth_server.storage import open_store
from auth_server.store import KeyRecord, Store
from shared.jwks import (
    SigningKey,
    UnusableKey,
    generate_signing_key,
    hs256_key,
    load_signing_key,
)
from shared.settings import ConfigError, Settings, load_settings

# Rotated keys stay published this long after the last token they signed can expire.
RETIREMENT_MARGIN_SEC = 60


class KeyRing:
    """The signing keys as the rest of the AS sees them; reads the store on every call so a
    rotation made by the command-line tool in another process is picked up at once."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._parsed: dict[str, SigningKey] = {}
        self._hs256 = hs256_key(settings.jwt_secret or "") if settings.jwt_alg == "HS256" else None

    def _parse(self, record: KeyRecord) -> SigningKey:
        key = self._parsed.get(record.kid)
        if key is None:
            try:
                key = load_signing_key(record.pem.encode(), record.alg)
            except UnusableKey as exc:
                raise ConfigError(
                    f"DATA_DIR={self._settings.data_dir}: signing key {record.kid!r} cannot be read ({exc}); "
                    "restore the database from a backup, or move it away to start with a new key"
                ) from None
            self._parsed[record.kid] = key
        return key

    async def _live(self, now: float | None = None) -> list[SigningKey]:
        now = time.time() if now is None else now
        return [
            self._parse(r)
            for r in await self._store.signing_keys()
            if r.retire_at is None or r.retire_at > now
        ]

    async def ensure_current(self) -> SigningKey:
        """Load every key (failing loudly if one is unreadable) and create a current key if none."""
        if self._hs256 is not None:
            return self._hs256
        for record in await self._store.signing_keys():
            self._parse(record)
        current = await self._find_current()
        if current is not None:
            return current
        # A first start: of several workers (or instances) starting at once, one key wins.
        key = generate_signing_key(self._settings.jwt_alg)
        record = KeyRecord(key.kid, key.alg, key.private_pem().decode(), time.time())
        await self._store.add_first_signing_key(record)
        return await self.current()

    async def _find_current(self) -> SigningKey | None:
        return next((k for k in await self._live() if k.alg == self._settings.jwt_alg), None)

    async def current(self) -> SigningKey:
        if self._hs256 is not None:
            return self._hs256
        key = await self._find_current()
        if key is None:  # every key retired (e.g. the database was edited): start a new one
            key = await self.rotate()
        return key

    async def published(self) -> list[SigningKey]:
        return [] if self._hs256 is not None else await self._live()

    async def find(self, kid: str | None) -> SigningKey | None:
        """The key that may verify a token naming ``kid`` (only live keys of the pinned alg)."""
        candidates = [self._hs256] if self._hs256 is not None else await self._live()
        return next((k for k in candidates if k.kid == kid and k.alg == self._settings.jwt_alg), None)

    async def rotate(self) -> SigningKey:
        """Add a new current key and schedule the retirement of the previous ones."""
        if self._hs256 is not None:
            raise ConfigError("JWT_ALG=HS256 signs with JWT_SECRET; rotate by changing the secret")
        now = time.time()
        retire_at = int(now) + self._settings.access_token_ttl_sec + RETIREMENT_MARGIN_SEC
        for old in await self._store.signing_keys():
            if old.retire_at is None:
                await self._store.retire_signing_key(old.kid, retire_at)
        key = generate_signing_key(self._settings.jwt_alg)
        await self._store.add_signing_key(KeyRecord(key.kid, key.alg, key.private_pem().decode(), now))
        self._parsed[key.kid] = key
        return key


async def _run(command: str, settings: Settings) -> None:
    store = await open_store(settings)
    try:
        ring = KeyRing(store, settings)
        await ring.ensure_current()
        if command == "rotate":
            key = await ring.rotate()
            print(
                f"new current key {key.kid} ({key.alg}); older keys stay published for "
                f"{settings.access_token_ttl_sec + RETIREMENT_MARGIN_SEC} s"
            )
        for record in await store.signing_keys():
            state = "published" if record.retire_at is None else f"retires at {time.ctime(record.retire_at)}"
            print(f"{record.kid}  {record.alg}  created {time.ctime(record.created_at)}  {state}")
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m auth_server.keys {list,rotate}`` against DATA_DIR, or DATABASE_URL when set."""
    prog = ".venv/bin/python -m auth_server.keys"  # as README prints it: works without an activated venv
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("list", "rotate"))
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if settings.database_engine == "memory":
            raise ConfigError(
                "STORE=memory keeps keys inside the server process; restart it to get a new key"
            )
        asyncio.run(_run(args.command, settings))
    except (ConfigError, UnusableKey) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
