"""Fetching a URL that a client chose: the fences against server-side request forgery.

Two things the AS fetches are named by whoever sends the request, not by the operator:

* a client's **metadata document** — its ``client_id`` is an HTTPS URL
  (``client_metadata_documents.py``);
* the **key set** that document points at with ``jwks_uri``, to check the client's signed
  assertions (``private_key_jwt``, RFC 7523).

A stranger who can make a server fetch a URL can aim it at the server's own network (an admin
port on loopback, a database on a private address, the cloud metadata service at
169.254.169.254). So every such fetch goes through :class:`PublicFetcher`, which allows only:

* an ``https`` URL with a path, no fragment, no ``user:password@``, no dot segments, on a host
  in ``OAUTH_ALLOWED_CLIENT_METADATA_HOSTS`` (``*`` = any public host);
* a host that resolves only to global addresses — never loopback, private, link-local or
  reserved ones;
* one response, not a redirect (a 3xx is an error), read as a stream and abandoned past a size
  bound, within a time bound;
* a JSON body. Its lifetime for a cache comes from ``Cache-Control: max-age`` (with a default
  and a cap); ``no-store`` / ``no-cache`` mean "do not keep".

What the body must contain is the caller's business; this module only gets it safely.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import httpx

Resolver = Callable[[str, int], Awaitable[list[str]]]
_MAX_AGE_RE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)


class FetchRefused(Exception):
    """A URL the AS will not fetch, or a response it will not use; ``description`` says why."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class PublicFetcher:
    """GETs JSON from public HTTPS URLs on allowed hosts, under size, time and address bounds."""

    timeout_sec = 5.0
    default_max_age_sec = 300
    max_max_age_sec = 24 * 3600

    def __init__(
        self,
        http_client: httpx.AsyncClient | None,
        allowed_hosts: Sequence[str],
        *,
        resolver: Resolver | None = None,
    ) -> None:
        # Without an injected client one is created on first use (building its TLS context
        # costs a few hundred milliseconds, which a server that never fetches anything saves).
        self._http = http_client
        self._owns_client = http_client is None
        self._any_host = "*" in allowed_hosts
        self._allowed_hosts = frozenset(host.lower() for host in allowed_hosts)
        self._resolve = resolver or system_resolver

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx  # on first use: most runs of the AS never fetch anything

            self._http = httpx.AsyncClient(headers={"User-Agent": "mcp-oauth-demo-auth-server"})
        return self._http

    async def aclose(self) -> None:
        if self._owns_client and self._http is not None:
            await self._http.aclose()
            self._http = None

    def check_url(self, url: str, *, field: str) -> tuple[str, int]:
        """The host and port of ``url`` if its shape and host are acceptable; ``field`` names it in errors."""
        try:
            parts = urlsplit(url)
            port = parts.port or 443
        except ValueError:
            raise FetchRefused(f"{field} {url!r} is not a valid URL") from None
        host = (parts.hostname or "").lower()
        if parts.scheme != "https" or not host or parts.username or parts.password or parts.fragment:
            raise FetchRefused(f"{field} {url!r} must be an https URL without user:password@ or fragment")
        if parts.path in ("", "/") or any(seg in (".", "..") for seg in parts.path.split("/")):
            raise FetchRefused(f"{field} {url!r} must have a path without '.' or '..' segments")
        if not self._any_host and host not in self._allowed_hosts:
            raise FetchRefused(
                f"{field} {url!r}: documents from {host} are not accepted; add {host} to "
                "OAUTH_ALLOWED_CLIENT_METADATA_HOSTS (or register the client at /oauth2/register)"
            )
        return host, port

    async def get_json(self, url: str, *, field: str, what: str, max_bytes: int) -> tuple[Any, int]:
        """The JSON at ``url`` and how long it may be cached (seconds, 0 = not at all).

        ``field`` is the parameter that carried the URL (``client_id``, ``jwks_uri``) and
        ``what`` the kind of document (``client metadata document``), for the error messages.
        """
        host, port = self.check_url(url, field=field)
        await self._check_addresses(host, port, what)
        body, max_age = await self._fetch(url, what, max_bytes)
        try:
            return json.loads(body), max_age
        except (ValueError, RecursionError):
            raise FetchRefused(f"the {what} at {url} is not valid JSON") from None

    async def _check_addresses(self, host: str, port: int, what: str) -> None:
        try:
            async with asyncio.timeout(self.timeout_sec):
                addresses = await self._resolve(host, port)
        except (OSError, TimeoutError) as exc:
            raise FetchRefused(f"cannot resolve {host} to fetch the {what} ({exc})") from None
        if not addresses:
            raise FetchRefused(f"{host} has no address")
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global:
                raise FetchRefused(
                    f"{host} resolves to the non-public address {ip}; a {what} is only fetched from "
                    "public hosts"
                )

    async def _fetch(self, url: str, what: str, max_bytes: int) -> tuple[bytes, int]:
        import httpx

        too_large = f"the {what} at {url} is larger than {max_bytes} bytes"
        try:
            async with asyncio.timeout(self.timeout_sec):
                async with self._client().stream(
                    "GET", url, headers={"Accept": "application/json"}, follow_redirects=False
                ) as response:
                    if response.is_redirect:
                        raise FetchRefused(
                            f"fetching {url} returned a redirect ({response.status_code}); a {what} must be "
                            "served at its own URL"
                        )
                    if response.status_code != 200:
                        raise FetchRefused(f"fetching {url} returned HTTP {response.status_code}, not 200")
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        raise FetchRefused(too_large)
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > max_bytes:
                            raise FetchRefused(too_large)
                    return bytes(body), self.max_age(response.headers.get("cache-control", ""))
        except TimeoutError:
            raise FetchRefused(
                f"fetching {url} took longer than {self.timeout_sec:g} s; the host is too slow"
            ) from None
        except httpx.HTTPError as exc:
            raise FetchRefused(f"cannot fetch {url} ({type(exc).__name__}: {exc})") from None

    def max_age(self, cache_control: str) -> int:
        """Seconds a response may be reused, from its ``Cache-Control`` (RFC 9111 §5.2.2)."""
        directives = cache_control.lower()
        if "no-store" in directives or "no-cache" in directives:
            return 0
        match = _MAX_AGE_RE.search(directives)
        max_age = int(match.group(1)) if match else self.default_max_age_sec
        return min(max_age, self.max_max_age_sec)
