"""Client ID Metadata Documents: an HTTPS URL as ``client_id`` (draft-ietf-oauth-client-id-metadata-document,
preferred by the MCP authorization spec 2026-07-28).

Instead of registering, a client such as Claude uses the URL of a JSON document it
publishes — ``https://claude.ai/oauth/mcp-oauth-client-metadata`` — as its ``client_id``.
The AS fetches that document and treats its contents like registered metadata.

Fetching a URL a stranger chose is a server-side request forgery risk, so the fetch goes
through :class:`~auth_server.public_fetch.PublicFetcher` (https only, allowed hosts, public
addresses, no redirects, size and time bounds). The document is cached per its
``Cache-Control: max-age`` (with a default and a cap).

The document must name itself (``client_id`` equal to the URL, byte for byte), have a
``client_name`` and ``redirect_uris``, and be a public client: a document anyone can read
cannot hold a secret, so ``token_endpoint_auth_method`` is ``none`` or absent.

Residual risk, stated plainly: the address check and httpx's own connection resolve the
name separately, so a DNS-rebinding attacker controlling an *allowed* host's DNS could race
them. Keep the host allowlist tight in production (the default lists three hosts).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from auth_server.clients import Client, ClientMetadata, describe_validation_error
from auth_server.public_fetch import FetchRefused, PublicFetcher, Resolver
from auth_server.redirect_uris import RedirectURIError, parse_redirect_uri, resolve_application_type

if TYPE_CHECKING:
    import httpx


class ClientMetadataError(Exception):
    """A metadata document that cannot be used; ``description`` says why and how to fix it."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class ClientMetadataFetcher:
    """Fetches, validates and caches client metadata documents."""

    max_bytes = 5 * 1024
    max_cache_entries = 1000

    def __init__(
        self,
        http_client: httpx.AsyncClient | None,
        allowed_hosts: Sequence[str],
        *,
        resolver: Resolver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fetcher = PublicFetcher(http_client, allowed_hosts, resolver=resolver)
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, Client]] = OrderedDict()

    async def aclose(self) -> None:
        await self.fetcher.aclose()

    @staticmethod
    def is_document_url(client_id: str) -> bool:
        return client_id.startswith("https://")

    async def get(self, url: str) -> Client:
        cached = self._cache.get(url)
        if cached and cached[0] > self._clock():
            return cached[1]
        self._cache.pop(url, None)
        try:
            raw, max_age = await self.fetcher.get_json(
                url, field="client_id", what="client metadata document", max_bytes=self.max_bytes
            )
        except FetchRefused as exc:
            raise ClientMetadataError(exc.description) from None
        client = self._validate(url, raw)
        if max_age > 0:
            self._cache[url] = (self._clock() + max_age, client)
            while len(self._cache) > self.max_cache_entries:
                self._cache.popitem(last=False)
        return client

    def _validate(self, url: str, raw: Any) -> Client:
        def refuse(problem: str) -> ClientMetadataError:
            return ClientMetadataError(f"the client metadata document at {url} {problem}")

        if not isinstance(raw, dict):
            raise refuse("is not a JSON object")
        if raw.get("client_id") != url:
            raise refuse(f"names client_id {raw.get('client_id')!r}; it must equal the document URL exactly")
        if not raw.get("client_name"):
            raise refuse("has no client_name")
        if raw.get("token_endpoint_auth_method", "none") != "none" or "client_secret" in raw:
            raise refuse(
                "asks for a client secret; a public document can only describe a public client ('none')"
            )
        try:
            metadata = ClientMetadata.model_validate({**raw, "token_endpoint_auth_method": "none"})
        except ValidationError as exc:
            raise refuse(f"is invalid: {describe_validation_error(exc)}") from None
        try:
            for uri in metadata.redirect_uris:
                parse_redirect_uri(uri)
            application_type = resolve_application_type(metadata.application_type, metadata.redirect_uris)
        except RedirectURIError as exc:
            raise refuse(f"is invalid: {exc}") from None
        stored = metadata.model_dump(exclude_none=True) | {
            "client_id": url,
            "application_type": application_type,
        }
        return Client(client_id=url, metadata=stored, from_metadata_document=True)
