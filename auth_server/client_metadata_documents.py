"""Client ID Metadata Documents: an HTTPS URL as ``client_id`` (draft-ietf-oauth-client-id-metadata-document,
preferred by the MCP authorization spec 2026-07-28).

Instead of registering, a client such as Claude uses the URL of a JSON document it
publishes — ``https://claude.ai/oauth/mcp-oauth-client-metadata`` — as its ``client_id``.
The AS fetches that document and treats its contents like registered metadata.

Fetching a URL a stranger chose is a server-side request forgery risk, so the fetch is
fenced in:

* the URL must be ``https`` with a path, no fragment, no user:password@, no dot segments,
  on a host in ``OAUTH_ALLOWED_CLIENT_METADATA_HOSTS`` (``*`` = any public host);
* the host must resolve only to global addresses — never loopback, private, link-local
  (cloud metadata at 169.254.169.254) or reserved ones;
* redirects are not followed (a 3xx is an error), the body is streamed and abandoned
  beyond :attr:`ClientMetadataFetcher.max_bytes`, the whole fetch is bounded in time;
* the document is cached per its ``Cache-Control: max-age`` (with a default and a cap).

The document must name itself (``client_id`` equal to the URL, byte for byte), have a
``client_name`` and ``redirect_uris``, and be a public client: a document anyone can read
cannot hold a secret, so ``token_endpoint_auth_method`` is ``none`` or absent.

Residual risk, stated plainly: the address check and httpx's own connection resolve the
name separately, so a DNS-rebinding attacker controlling an *allowed* host's DNS could race
them. Keep the host allowlist tight in production (the default lists three hosts).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from auth_server.clients import Client, ClientMetadata, describe_validation_error
from auth_server.redirect_uris import RedirectURIError, parse_redirect_uri, resolve_application_type

if TYPE_CHECKING:
    import httpx

Resolver = Callable[[str, int], Awaitable[list[str]]]
_MAX_AGE_RE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)


class ClientMetadataError(Exception):
    """A metadata document that cannot be used; ``description`` says why and how to fix it."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class ClientMetadataFetcher:
    """Fetches, validates and caches client metadata documents."""

    max_bytes = 5 * 1024
    timeout_sec = 5.0
    default_max_age_sec = 300
    max_max_age_sec = 24 * 3600
    max_cache_entries = 1000

    def __init__(
        self,
        http_client: httpx.AsyncClient | None,
        allowed_hosts: Sequence[str],
        *,
        resolver: Resolver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Without an injected client one is created on first use (building its TLS context
        # costs a few hundred milliseconds, which a server that never sees a document URL saves).
        self._http = http_client
        self._owns_client = http_client is None
        self._any_host = "*" in allowed_hosts
        self._allowed_hosts = frozenset(host.lower() for host in allowed_hosts)
        self._resolve = resolver or system_resolver
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, Client]] = OrderedDict()

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx  # on first use: most runs of the AS never fetch a document

            self._http = httpx.AsyncClient(headers={"User-Agent": "mcp-oauth-demo-auth-server"})
        return self._http

    async def aclose(self) -> None:
        if self._owns_client and self._http is not None:
            await self._http.aclose()
            self._http = None

    @staticmethod
    def is_document_url(client_id: str) -> bool:
        return client_id.startswith("https://")

    async def get(self, url: str) -> Client:
        cached = self._cache.get(url)
        if cached and cached[0] > self._clock():
            return cached[1]
        self._cache.pop(url, None)
        host, port = self._check_url(url)
        await self._check_addresses(host, port)
        body, max_age = await self._fetch(url)
        client = self._validate(url, body)
        if max_age > 0:
            self._cache[url] = (self._clock() + max_age, client)
            while len(self._cache) > self.max_cache_entries:
                self._cache.popitem(last=False)
        return client

    def _check_url(self, url: str) -> tuple[str, int]:
        try:
            parts = urlsplit(url)
            port = parts.port or 443
        except ValueError:
            raise ClientMetadataError(f"client_id {url!r} is not a valid URL") from None
        host = (parts.hostname or "").lower()
        if parts.scheme != "https" or not host or parts.username or parts.password or parts.fragment:
            raise ClientMetadataError(
                f"client_id {url!r} must be an https URL without user:password@ or fragment"
            )
        if parts.path in ("", "/") or any(seg in (".", "..") for seg in parts.path.split("/")):
            raise ClientMetadataError(f"client_id {url!r} must have a path without '.' or '..' segments")
        if not self._any_host and host not in self._allowed_hosts:
            raise ClientMetadataError(
                f"client_id {url!r}: metadata documents from {host} are not accepted; add {host} to "
                "OAUTH_ALLOWED_CLIENT_METADATA_HOSTS (or register the client at /oauth2/register)"
            )
        return host, port

    async def _check_addresses(self, host: str, port: int) -> None:
        try:
            async with asyncio.timeout(self.timeout_sec):
                addresses = await self._resolve(host, port)
        except (OSError, TimeoutError) as exc:
            raise ClientMetadataError(
                f"cannot resolve {host} to fetch the client metadata document ({exc})"
            ) from None
        if not addresses:
            raise ClientMetadataError(f"{host} has no address")
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global:
                raise ClientMetadataError(
                    f"{host} resolves to the non-public address {ip}; client metadata documents are only "
                    "fetched from public hosts"
                )

    async def _fetch(self, url: str) -> tuple[bytes, int]:
        import httpx

        limit = f"{self.max_bytes} bytes"
        try:
            async with asyncio.timeout(self.timeout_sec):
                async with self._client().stream(
                    "GET", url, headers={"Accept": "application/json"}, follow_redirects=False
                ) as response:
                    if response.is_redirect:
                        raise ClientMetadataError(
                            f"fetching {url} returned a redirect ({response.status_code}); a client metadata "
                            "document must be served at its client_id URL itself"
                        )
                    if response.status_code != 200:
                        raise ClientMetadataError(
                            f"fetching {url} returned HTTP {response.status_code}, not 200"
                        )
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > self.max_bytes:
                        raise ClientMetadataError(
                            f"the client metadata document at {url} is larger than {limit}"
                        )
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > self.max_bytes:
                            raise ClientMetadataError(
                                f"the client metadata document at {url} is larger than {limit}"
                            )
                    return bytes(body), self._max_age(response.headers.get("cache-control", ""))
        except TimeoutError:
            raise ClientMetadataError(
                f"fetching {url} took longer than {self.timeout_sec:g} s; the document host is too slow"
            ) from None
        except httpx.HTTPError as exc:
            raise ClientMetadataError(f"cannot fetch {url} ({type(exc).__name__}: {exc})") from None

    def _max_age(self, cache_control: str) -> int:
        directives = cache_control.lower()
        if "no-store" in directives or "no-cache" in directives:
            return 0
        match = _MAX_AGE_RE.search(directives)
        max_age = int(match.group(1)) if match else self.default_max_age_sec
        return min(max_age, self.max_max_age_sec)

    def _validate(self, url: str, body: bytes) -> Client:
        def refuse(problem: str) -> ClientMetadataError:
            return ClientMetadataError(f"the client metadata document at {url} {problem}")

        try:
            raw: Any = json.loads(body)
        except (ValueError, RecursionError):
            raise refuse("is not valid JSON") from None
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
