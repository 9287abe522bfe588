"""Fetching a URL that a client chose: the fences against server-side request forgery.

Two things the AS fetches are named by whoever sends the request, not by the operator:

* a client's **metadata document** — its ``client_id`` is an HTTPS URL
  (``client_metadata_documents.py``);
* the **key set** that document points at with ``jwks_uri``, to check the client's signed
  assertions (``private_key_jwt``, RFC 7523).

A stranger who can make a server fetch a URL can aim it at the server's own network (an admin
port on loopback, a database on a private address, the cloud metadata service at
169.254.169.254). So every such fetch goes through :class:`PublicFetcher`, which allows only:

* an ``https`` URL on the default port (443) with a path, no fragment, no
  ``user:password@``, and a path every reader understands alike — no dot segments, no encoded
  dots or slashes (:mod:`auth_server.url_paths`);
* a host that is a DNS name — never an IP literal, in any of the spellings browsers and
  ``getaddrinfo`` accept (``[::1]``, ``2852039166``, ``0xa9.0xfe.0xa9.0xfe``) — and is listed
  in ``OAUTH_ALLOWED_CLIENT_METADATA_HOSTS`` (``*`` = any public host);
* a host that resolves only to public addresses (:func:`auth_server.addresses.is_public_address`:
  no loopback, private, link-local or reserved address, nor an IPv6 wrapper such as NAT64
  ``64:ff9b::a9fe:a9fe`` around one);
* one response, not a redirect (a 3xx is an error), read as a stream and abandoned past a size
  bound, within a time bound;
* a JSON body. Its lifetime for a cache comes from ``Cache-Control: max-age`` (with a default
  and a cap); ``no-store`` / ``no-cache`` mean "do not keep".

**The connection goes to an address that was checked.** Checking the name and then letting
the HTTP client resolve it again would leave a race: a DNS-rebinding attacker answers the
check with a public address and the connection with 127.0.0.1. So :class:`PublicFetcher`'s
own HTTP client connects through :class:`VettedNetworkBackend`, which resolves the name,
checks every address and connects to a checked one, in one step; TLS still sends the URL's
host as SNI and verifies the certificate for it, and ``Host`` is still the URL's host.

**Host overrides, for tests and development** (``OAUTH_FETCH_HOST_OVERRIDES``,
``host=ip:port``): for a listed host, DNS is not asked and the address check is skipped — the
operator chose the address — and the connection goes to ``ip:port``; everything else (https,
port 443 in the URL, SNI, the certificate check, ``Host``) is unchanged. httpx trusts the CA
file named by ``SSL_CERT_FILE`` (its ``trust_env``), so a test CA can sign the certificates.

What the body must contain is the caller's business; this module only gets it safely.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from auth_server import paths
from auth_server.addresses import is_ip_literal, is_public_address, parse_address
from auth_server.errors import Refused
from auth_server.url_paths import character_problem, path_problem

if TYPE_CHECKING:
    import httpcore
    import httpx

Resolver = Callable[[str, int], Awaitable[list[str]]]
# host -> (ip, port) chosen by the operator (OAUTH_FETCH_HOST_OVERRIDES)
HostOverrides = Mapping[str, tuple[str, int]]
_MAX_AGE_RE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)
# LDH labels (RFC 1123 §2.1); an internationalized name is written in its punycode form.
_DNS_NAME_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")
HTTPS_PORT = 443


class FetchRefused(Refused):
    """A URL the AS will not fetch, or a response it will not use; ``description`` says why."""


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
        host_overrides: HostOverrides | None = None,
    ) -> None:
        # Without an injected client one is created on first use (building its TLS context
        # costs a few hundred milliseconds, which a server that never fetches anything saves).
        # An injected client (the tests' MockTransport) is trusted to connect where it likes;
        # only the AS's own client pins its connections (VettedNetworkBackend).
        self._http = http_client
        self._owns_client = http_client is None
        self._any_host = "*" in allowed_hosts
        self._allowed_hosts = frozenset(host.lower() for host in allowed_hosts)
        self._resolve = resolver or system_resolver
        self.host_overrides: dict[str, tuple[str, int]] = dict(host_overrides or {})

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpcore  # on first use: most runs of the AS never fetch anything
            import httpx

            limits = httpx.Limits(max_connections=20, max_keepalive_connections=5)
            transport = httpx.AsyncHTTPTransport(limits=limits)  # reads SSL_CERT_FILE (trust_env)
            # httpx has no argument for a network backend; its pool is rebuilt around ours with
            # the same TLS context and limits, so nothing else about the transport changes.
            transport._pool = httpcore.AsyncConnectionPool(
                ssl_context=transport._pool._ssl_context,
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=VettedNetworkBackend(self.vetted_targets),
            )
            self._http = httpx.AsyncClient(
                transport=transport, headers={"User-Agent": "mcp-oauth-demo-auth-server"}
            )
        return self._http

    async def aclose(self) -> None:
        if self._owns_client and self._http is not None:
            await self._http.aclose()
            self._http = None

    def check_url(self, url: str, *, field: str) -> tuple[str, int]:
        """The host and port of ``url`` if its shape and host are acceptable; ``field`` names it in errors."""
        problem = character_problem(url)
        if problem:
            raise FetchRefused(f"{field} {url!r} {problem}")
        try:
            parts = urlsplit(url)
            port = parts.port or HTTPS_PORT
        except ValueError:
            raise FetchRefused(f"{field} {url!r} is not a valid URL") from None
        host = (parts.hostname or "").lower()
        if (
            parts.scheme != "https"
            or not host
            or parts.username is not None
            or parts.password is not None
            or "#" in url
        ):
            raise FetchRefused(f"{field} {url!r} must be an https URL without user:password@ or fragment")
        if is_ip_literal(host) or not _DNS_NAME_RE.match(host):
            raise FetchRefused(
                f"{field} {url!r}: the host must be a DNS name (letters, digits, '-'; an "
                "internationalized name in its xn-- form), not an IP address"
            )
        if port != HTTPS_PORT:
            raise FetchRefused(
                f"{field} {url!r} names port {port}; documents and keys are only fetched from port 443"
            )
        if parts.path in ("", "/"):
            raise FetchRefused(f"{field} {url!r} must have a path")
        problem = path_problem(parts.path)
        if problem:
            raise FetchRefused(f"{field} {url!r} {problem}")
        if not self._any_host and host not in self._allowed_hosts:
            raise FetchRefused(
                f"{field} {url!r}: documents from {host} are not accepted; add {host} to "
                f"OAUTH_ALLOWED_CLIENT_METADATA_HOSTS (or register the client at {paths.REGISTER})"
            )
        return host, port

    async def get_json(self, url: str, *, field: str, what: str, max_bytes: int) -> tuple[Any, int]:
        """The JSON at ``url`` and how long it may be cached (seconds, 0 = not at all).

        ``field`` is the parameter that carried the URL (``client_id``, ``jwks_uri``) and
        ``what`` the kind of document (``client metadata document``), for the error messages.
        """
        host, port = self.check_url(url, field=field)
        # Checked here for an early, precise refusal (and for an injected client); the AS's own
        # client checks again in the very step that connects (VettedNetworkBackend).
        await self.vetted_targets(host, port)
        body, max_age = await self._fetch(url, what, max_bytes)
        try:
            return json.loads(body), max_age
        except (ValueError, RecursionError):
            raise FetchRefused(f"the {what} at {url} is not valid JSON") from None

    async def vetted_targets(self, host: str, port: int) -> list[tuple[str, int]]:
        """The (address, port) pairs a fetch from ``host`` may connect to; refuses if any is not public.

        One non-public address refuses the host: which of its addresses a client picks is not
        the AS's to predict, and an attacker would list a public one first.
        """
        override = self.host_overrides.get(host.lower())
        if override is not None:
            return [override]  # the operator's explicit choice: no DNS, no address check
        try:
            async with asyncio.timeout(self.timeout_sec):
                addresses = await self._resolve(host, port)
        except (OSError, TimeoutError) as exc:
            raise FetchRefused(f"cannot resolve {host} to fetch it ({exc})") from None
        if not addresses:
            raise FetchRefused(f"{host} has no address")
        for address in addresses:
            ip = parse_address(address)
            if not is_public_address(ip):
                raise FetchRefused(
                    f"{host} resolves to the non-public address {ip}; documents and keys are only "
                    "fetched from public hosts"
                )
        return [(str(parse_address(address)), port) for address in dict.fromkeys(addresses)]

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


class VettedNetworkBackend:
    """An httpcore network backend that connects only to addresses :class:`PublicFetcher` vetted.

    httpcore asks its backend to ``connect_tcp(host, port)`` with the URL's host, then wraps
    the stream in TLS with that same host as SNI. This backend resolves and vets the host in
    ``connect_tcp`` itself and connects to a vetted address, so the address that was checked
    is the address that is connected to; TLS, the certificate check and ``Host`` are untouched.
    """

    def __init__(self, vet: Callable[[str, int], Awaitable[list[tuple[str, int]]]]) -> None:
        import httpcore

        self._vet = vet
        self._inner: httpcore.AsyncNetworkBackend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        import httpcore

        error: Exception = httpcore.ConnectError(f"no address to connect to for {host}")
        for address, target_port in await self._vet(host, port):
            try:
                return await self._inner.connect_tcp(
                    address,
                    target_port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc  # try the next vetted address, as a resolver-driven connect would
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        import httpcore

        raise httpcore.ConnectError("a public fetch never uses a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
