"""The AS connects to the address it vetted: DNS rebinding cannot slip between check and connect.

``PublicFetcher``'s own HTTP client resolves, vets and connects in one step
(``VettedNetworkBackend``), while TLS keeps the URL's host for SNI and the certificate check.
These tests use real sockets and real TLS against :mod:`tests.e2e.vendor_hosts` (a test CA,
trusted through ``SSL_CERT_FILE``) — no MockTransport — and a resolver the test controls.

``OAUTH_FETCH_HOST_OVERRIDES`` (a testing aid) is covered here too: it changes where the
connection goes and nothing else.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpcore
import pytest

from auth_server.public_fetch import FetchRefused, PublicFetcher, VettedNetworkBackend
from shared.settings import ConfigError, load_settings
from tests.e2e.vendor_hosts import VendorHosts, vendor_hosts

PUBLIC = "93.184.215.14"
DOCUMENT = {"client_id": "https://docs.invalid/client.json", "client_name": "pinned"}


def _fetch(fetcher: PublicFetcher, url: str) -> Any:
    async def run() -> Any:
        try:
            return (await fetcher.get_json(url, field="client_id", what="document", max_bytes=5000))[0]
        finally:
            await fetcher.aclose()

    return asyncio.run(run())


def _refusal(fetcher: PublicFetcher, url: str) -> str:
    with pytest.raises(FetchRefused) as refused:
        _fetch(fetcher, url)
    return refused.value.description


class FlippingResolver:
    """A DNS-rebinding attacker: a public answer first, then a loopback one."""

    def __init__(self, first: str, then: str) -> None:
        self.answers = [first, then]
        self.calls = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return [self.answers[min(self.calls, 2) - 1]]


@pytest.fixture
def vendor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VendorHosts]:
    with vendor_hosts(tmp_path, ("docs.invalid", "keys.invalid")) as hosts:
        monkeypatch.setenv("SSL_CERT_FILE", str(hosts.ca_file))  # httpx's trust_env
        hosts.serve(DOCUMENT["client_id"], DOCUMENT)
        yield hosts


@pytest.fixture
def vendor_on_443(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VendorHosts]:
    """A TLS server on port 443 of a loopback address no other test uses, as the rebinding target."""
    try:
        with vendor_hosts(tmp_path, ("rebind.invalid",), address="127.83.41.7", port=443) as hosts:
            monkeypatch.setenv("SSL_CERT_FILE", str(hosts.ca_file))
            hosts.serve("https://rebind.invalid/client.json", DOCUMENT)
            yield hosts
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EADDRINUSE, errno.EADDRNOTAVAIL):
            raise
        pytest.skip(f"cannot listen on 127.83.41.7:443 here ({exc.strerror})")


# -- rebinding between the check and the connection ----------------------------------------------
def test_a_name_rebound_to_loopback_after_the_check_is_never_connected_to(vendor_on_443: VendorHosts) -> None:
    resolver = FlippingResolver(PUBLIC, vendor_on_443.address)
    fetcher = PublicFetcher(None, ["rebind.invalid"], resolver=resolver)
    description = _refusal(fetcher, "https://rebind.invalid/client.json")
    # The check passed on the public answer; the connection step asked again and refused.
    assert resolver.calls == 2
    assert f"non-public address {vendor_on_443.address}" in description
    assert vendor_on_443.connections == 0 and vendor_on_443.requests == []
    # Control: the target was listening and would have answered a connection.
    pinned = PublicFetcher(
        None, ["rebind.invalid"], host_overrides={"rebind.invalid": (vendor_on_443.address, 443)}
    )
    assert _fetch(pinned, "https://rebind.invalid/client.json") == DOCUMENT
    assert vendor_on_443.connections == 1


class RecordingBackend:
    """Stands in for the socket layer under ``VettedNetworkBackend``; refuses the first address."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.connects: list[tuple[str, int]] = []
        self.refuse = refuse or set()

    async def connect_tcp(self, host: str, port: int, **_kwargs: Any) -> Any:
        self.connects.append((host, port))
        if host in self.refuse:
            raise httpcore.ConnectError(f"{host} refused")
        return "stream"


def test_the_backend_connects_to_the_vetted_addresses_not_the_name() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["2606:4700::6810:84e5", PUBLIC]

    backend = VettedNetworkBackend(PublicFetcher(None, ["*"], resolver=resolve).vetted_targets)
    recorder = RecordingBackend(refuse={"2606:4700::6810:84e5"})
    backend._inner = recorder  # type: ignore[assignment]
    assert asyncio.run(backend.connect_tcp("docs.example", 443)) == "stream"
    # The first vetted address failed, so the next vetted one was tried; never the name itself.
    assert recorder.connects == [("2606:4700::6810:84e5", 443), (PUBLIC, 443)]


def test_the_backend_refuses_before_any_socket_when_one_address_is_not_public() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return [PUBLIC, "64:ff9b::a9fe:a9fe"]

    backend = VettedNetworkBackend(PublicFetcher(None, ["*"], resolver=resolve).vetted_targets)
    recorder = RecordingBackend()
    backend._inner = recorder  # type: ignore[assignment]
    with pytest.raises(FetchRefused, match="non-public address 64:ff9b::a9fe:a9fe"):
        asyncio.run(backend.connect_tcp("docs.example", 443))
    assert recorder.connects == []


# -- real TLS through a host override --------------------------------------------------------------
def test_an_override_connects_to_its_address_with_tls_for_the_urls_host(vendor: VendorHosts) -> None:
    # docs.invalid exists in no DNS: the document arrives only if the override chose the address.
    fetcher = PublicFetcher(
        None, ["docs.invalid"], host_overrides={"docs.invalid": ("127.0.0.1", vendor.port)}
    )
    assert _fetch(fetcher, DOCUMENT["client_id"]) == DOCUMENT
    (seen,) = vendor.fetched(DOCUMENT["client_id"])
    assert seen.sni == "docs.invalid" and seen.host == "docs.invalid"


def test_an_override_keeps_the_certificate_check(vendor: VendorHosts) -> None:
    url = "https://elsewhere.invalid/client.json"  # the test certificate does not name this host
    fetcher = PublicFetcher(
        None, ["elsewhere.invalid"], host_overrides={"elsewhere.invalid": ("127.0.0.1", vendor.port)}
    )
    assert "certificate" in _refusal(fetcher, url).lower()
    assert vendor.requests == []  # the handshake failed before any request


def test_without_the_test_ca_the_certificate_is_not_trusted(
    vendor: VendorHosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    fetcher = PublicFetcher(
        None, ["docs.invalid"], host_overrides={"docs.invalid": ("127.0.0.1", vendor.port)}
    )
    assert "certificate verify failed" in _refusal(fetcher, DOCUMENT["client_id"])


def test_an_override_does_not_relax_the_url_rules(vendor: VendorHosts) -> None:
    overrides = {"docs.invalid": ("127.0.0.1", vendor.port)}
    for url, mention in [
        (f"https://docs.invalid:{vendor.port}/client.json", "port 443"),
        ("http://docs.invalid/client.json", "https"),
        ("https://docs.invalid/a/.%2e/client.json", "%2e"),
    ]:
        assert mention in _refusal(PublicFetcher(None, ["docs.invalid"], host_overrides=overrides), url)
    assert vendor.connections == 0


def test_host_overrides_setting_is_parsed_and_checked() -> None:
    settings = load_settings(oauth_fetch_host_overrides="Claude.ai=127.0.0.1:8443, chatgpt.com=[::1]:9443")
    assert settings.oauth_fetch_host_overrides == {
        "claude.ai": ("127.0.0.1", 8443),
        "chatgpt.com": ("::1", 9443),
    }
    assert load_settings().oauth_fetch_host_overrides == {}
    for bad in (
        "claude.ai",
        "claude.ai=localhost:8443",
        "claude.ai=127.0.0.1",
        "=127.0.0.1:1",
        "a=1.2.3.4:0",
    ):
        with pytest.raises(ConfigError, match="OAUTH_FETCH_HOST_OVERRIDES"):
            load_settings(oauth_fetch_host_overrides=bad)
