"""Every place a URL or an address is judged gets the same hostile table.

A URL check fails when the checker and the program that later reads the URL disagree about
what it means (see ``auth_server/url_paths.py``). One table of paths, one of hosts and one of
addresses, each entry named after its attack, is run against every checker:

* redirect URIs at registration (the ``https://chatgpt.com/connector/oauth/*`` prefix and
  loopback redirects, RFC 6749 §3.1.2, RFC 9700 §4.1.3) and at authorization (the
  redirect URIs a metadata document lists);
* the ``client_id`` of a Client ID Metadata Document and a ``jwks_uri`` — both fetched by
  ``PublicFetcher``, so both also get the host and address tables (SSRF);
* the loopback-redirect match at authorization, where only the port may differ (RFC 8252 §7.3);
* the resource server's ``Host`` / ``Origin`` judgement (DNS-rebinding protection, MCP
  streamable HTTP transport).

A checker that refuses an entry must also not have fetched anything.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from auth_server.addresses import embedded_ipv4, is_ip_literal, is_public_address
from auth_server.public_fetch import FetchRefused, PublicFetcher
from shared.pkce import make_pair
from tests.auth_server.as_flow_helpers import authorize_params, register_client, start_authorization
from tests.auth_server.as_support import Documents
from tests.resource_server.rs_support import MCP_HEADERS, RunningRS

# -- the tables ------------------------------------------------------------------------------
# Appended to a fixed path such as https://chatgpt.com/connector/oauth — each must be refused.
HOSTILE_PATHS = [
    pytest.param("/.%2e/.%2e/x", id="mixed-encoded-dot-dot-lower"),
    pytest.param("/%2e./%2e./x", id="mixed-encoded-dot-dot-first"),
    pytest.param("/.%2E/.%2E/x", id="mixed-encoded-dot-dot-upper"),
    pytest.param("/%2e%2e/%2e%2e/x", id="fully-encoded-dot-dot"),
    pytest.param("/%2E%2E/x", id="fully-encoded-dot-dot-upper"),
    pytest.param("/%2e/x", id="encoded-single-dot"),
    pytest.param("/../../x", id="plain-dot-dot"),
    pytest.param("/./x", id="plain-dot"),
    pytest.param("/..;/..;/x", id="dot-dot-with-path-parameter"),
    pytest.param("/..%2f..%2fx", id="encoded-slash"),
    pytest.param("/..%2F..%2Fx", id="encoded-slash-upper"),
    pytest.param("/..%5c..%5cx", id="encoded-backslash"),
    pytest.param("/..\\..\\x", id="raw-backslash"),
    pytest.param("/%252e%252e/x", id="double-encoded-dot-dot"),
    pytest.param("/.\t./x", id="tab-inside-dot-dot"),
    pytest.param("/.\n./x", id="newline-inside-dot-dot"),
    pytest.param("/\u3002\u3002/x", id="ideographic-full-stops"),
    pytest.param("/\uff0e\uff0e/x", id="fullwidth-full-stops"),
    pytest.param("/%78", id="encoded-unreserved-letter"),
    pytest.param("/%7Euser", id="encoded-tilde"),
    pytest.param("/%zz", id="broken-percent-escape"),
]
# The host of a fetched URL (with allowed hosts "*", so only the shape refuses them).
HOSTILE_HOSTS = [
    pytest.param("[::1]", id="ipv6-loopback-literal"),
    pytest.param("[64:ff9b::a9fe:a9fe]", id="nat64-metadata-literal"),
    pytest.param("[::ffff:169.254.169.254]", id="ipv4-mapped-literal"),
    pytest.param("169.254.169.254", id="ipv4-metadata-literal"),
    pytest.param("2852039166", id="decimal-ipv4"),
    pytest.param("0xa9.0xfe.0xa9.0xfe", id="hex-ipv4"),
    pytest.param("0251.0376.0251.0376", id="octal-ipv4"),
    pytest.param("127.1", id="short-ipv4"),
    pytest.param("docs.example.0x7f", id="hex-last-label"),
    pytest.param("docs.example:8443", id="non-default-port"),
    pytest.param("docs.example:80", id="port-80"),
    pytest.param("user@docs.example", id="userinfo"),
    pytest.param("docs.example.", id="trailing-dot"),
    pytest.param("docs%2eexample", id="encoded-dot-in-host"),
    pytest.param("docs\uff0eexample", id="fullwidth-dot-in-host"),
    pytest.param("docs.example\\@evil.example", id="backslash-before-at"),
]
# Addresses a name may resolve to (A/AAAA records); each must be refused.
NON_PUBLIC_ADDRESSES = [
    pytest.param("64:ff9b::a9fe:a9fe", id="nat64-cloud-metadata"),
    pytest.param("64:ff9b::a00:1", id="nat64-private"),
    pytest.param("64:ff9b::7f00:1", id="nat64-loopback"),
    pytest.param("64:ff9b:1::a00:1", id="nat64-local-use-prefix"),
    pytest.param("64:ff9b:1::5db8:d70e", id="nat64-local-use-prefix-public-inside"),
    pytest.param("2002:a9fe:a9fe::1", id="6to4-cloud-metadata"),
    pytest.param("2002:7f00:1::1", id="6to4-loopback"),
    pytest.param("::ffff:169.254.169.254", id="ipv4-mapped-metadata"),
    pytest.param("::ffff:127.0.0.1", id="ipv4-mapped-loopback"),
    pytest.param("::ffff:0:a9fe:a9fe", id="ipv4-translated-metadata"),
    pytest.param("::a9fe:a9fe", id="ipv4-compatible-metadata"),
    pytest.param("::7f00:1", id="ipv4-compatible-loopback"),
    pytest.param("2001:0:4136:e378:8000:63bf:3fff:fdd2", id="teredo"),
    pytest.param("2001:0:a9fe:a9fe::1", id="teredo-metadata-server"),
    pytest.param("::1", id="ipv6-loopback"),
    pytest.param("::", id="ipv6-unspecified"),
    pytest.param("fe80::1%eth0", id="ipv6-link-local-with-zone"),
    pytest.param("fc00::1", id="ipv6-unique-local"),
    pytest.param("fd00:ec2::254", id="aws-ipv6-metadata"),
    pytest.param("fec0::1", id="ipv6-site-local"),
    pytest.param("ff02::1", id="ipv6-multicast"),
    pytest.param("100::1", id="ipv6-discard"),
    pytest.param("2001:db8::1", id="ipv6-documentation"),
    pytest.param("3fff::1", id="ipv6-documentation-2024"),
    pytest.param("5f00::1", id="srv6-sid"),
    pytest.param("2001:10::1", id="orchid"),
    pytest.param("0.0.0.0", id="ipv4-this-host"),
    pytest.param("127.0.0.1", id="ipv4-loopback"),
    pytest.param("127.83.41.7", id="ipv4-loopback-range"),
    pytest.param("10.0.0.7", id="rfc1918-10"),
    pytest.param("172.16.0.1", id="rfc1918-172"),
    pytest.param("192.168.1.1", id="rfc1918-192"),
    pytest.param("169.254.169.254", id="cloud-metadata"),
    pytest.param("100.64.0.1", id="carrier-grade-nat"),
    pytest.param("100.100.100.200", id="alibaba-metadata-cgnat"),
    pytest.param("192.0.0.192", id="oracle-metadata-ietf-block"),
    pytest.param("192.0.2.1", id="test-net-1"),
    pytest.param("198.18.0.1", id="benchmarking"),
    pytest.param("198.51.100.1", id="test-net-2"),
    pytest.param("203.0.113.1", id="test-net-3"),
    pytest.param("192.88.99.1", id="6to4-relay-anycast"),
    pytest.param("224.0.0.1", id="ipv4-multicast"),
    pytest.param("240.0.0.1", id="ipv4-reserved"),
    pytest.param("255.255.255.255", id="broadcast"),
]
# Controls: the fence must not refuse the public internet, wrapped or not.
PUBLIC_ADDRESSES = [
    pytest.param("93.184.215.14", id="public-ipv4"),
    pytest.param("2606:4700::6810:84e5", id="public-ipv6"),
    pytest.param("64:ff9b::5db8:d70e", id="nat64-of-a-public-ipv4"),
    pytest.param("2002:5db8:d70e::1", id="6to4-of-a-public-ipv4"),
    pytest.param("::ffff:93.184.215.14", id="ipv4-mapped-public"),
]

PREFIX = "https://chatgpt.com/connector/oauth"  # the default allowlist's prefix entry, without '/*'
LOOPBACK = "http://127.0.0.1:8765/callback"
DOCUMENT_HOST = "https://claude.ai/oauth"
CALLBACK = "https://claude.ai/api/mcp/auth_callback"


def _document(client_id: str, **overrides: Any) -> dict[str, Any]:
    return {"client_id": client_id, "client_name": "fence test", "redirect_uris": [CALLBACK]} | overrides


def _authorize(as_client: TestClient, client_id: str, redirect_uri: str) -> httpx.Response:
    return start_authorization(
        as_client, authorize_params(client_id, make_pair()[1], redirect_uri=redirect_uri)
    )


def _assert_page_refusal(response: httpx.Response, title: str) -> None:
    assert response.status_code == 400, response.text
    assert "location" not in response.headers  # nothing reaches the attacker's redirect
    assert title in response.text


def _register(as_client: TestClient, redirect_uri: str) -> httpx.Response:
    return as_client.post("/oauth2/register", json={"client_name": "fence", "redirect_uris": [redirect_uri]})


def _jwks_fetcher(documents: Documents) -> PublicFetcher:
    client = httpx.AsyncClient(transport=httpx.MockTransport(documents.handle))
    return PublicFetcher(client, ["*"], resolver=documents.resolve)


def _get_jwks(documents: Documents, url: str) -> FetchRefused:
    async def attempt() -> FetchRefused:
        fetcher = _jwks_fetcher(documents)
        try:
            await fetcher.get_json(url, field="jwks_uri", what="client key set", max_bytes=5000)
        except FetchRefused as exc:
            return exc
        finally:
            await fetcher._client().aclose()
        raise AssertionError(f"{url!r} was fetched")

    return asyncio.run(attempt())


# -- path table: every checker -------------------------------------------------------------------
@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_registration_refuses_hostile_paths_under_the_redirect_prefix(
    as_client: TestClient, path: str
) -> None:
    response = _register(as_client, PREFIX + path)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_redirect_uri"


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_registration_refuses_hostile_paths_in_loopback_redirects(as_client: TestClient, path: str) -> None:
    response = _register(as_client, LOOPBACK + path)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_redirect_uri"


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_authorization_refuses_hostile_redirects_listed_in_a_document(
    as_client: TestClient, documents: Documents, path: str
) -> None:
    client_id = DOCUMENT_HOST + "/fence-client"
    documents.serve(client_id, _document(client_id, redirect_uris=[PREFIX + path]))
    _assert_page_refusal(_authorize(as_client, client_id, PREFIX + path), "Client metadata document refused")


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_document_client_ids_with_hostile_paths_are_not_fetched(
    as_client: TestClient, documents: Documents, path: str
) -> None:
    _assert_page_refusal(
        _authorize(as_client, DOCUMENT_HOST + path, CALLBACK), "Client metadata document refused"
    )
    assert documents.fetches == []


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_jwks_uris_with_hostile_paths_are_not_fetched(documents: Documents, path: str) -> None:
    refusal = _get_jwks(documents, "https://chatgpt.com/keys" + path)
    assert "jwks_uri" in refusal.description
    assert documents.fetches == []


def test_control_the_prefix_still_admits_a_connector_callback(as_client: TestClient) -> None:
    assert _register(as_client, PREFIX + "/abc123-connector_ID.v2~x").status_code == 201


# -- host table: both fetchers ------------------------------------------------------------------
@pytest.mark.parametrize("host", HOSTILE_HOSTS)
def test_document_client_ids_with_hostile_hosts_are_not_fetched(
    make_client: Any, documents: Documents, host: str
) -> None:
    as_client = make_client(oauth_allowed_client_metadata_hosts="*")
    _assert_page_refusal(_authorize(as_client, f"https://{host}/client.json", CALLBACK), "refused")
    assert documents.fetches == []


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
def test_jwks_uris_with_hostile_hosts_are_not_fetched(documents: Documents, host: str) -> None:
    _get_jwks(documents, f"https://{host}/jwks.json")
    assert documents.fetches == []


def test_ip_literals_in_every_spelling_are_recognised() -> None:
    for literal in (
        "::1",
        "[::1]",
        "10.0.0.1",
        "2852039166",
        "0xa9.0xfe.0xa9.0xfe",
        "0251.0.0.1",
        "a.b.0x10",
    ):
        assert is_ip_literal(literal), literal
    for name in ("claude.ai", "chatgpt.com", "1password.com", "x.y2k", "0xapp.example"):
        assert not is_ip_literal(name), name


# -- address table: the pure judgement and both fetchers ------------------------------------------
@pytest.mark.parametrize("address", NON_PUBLIC_ADDRESSES)
def test_non_public_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address.split("%")[0]))


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_are_public(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


def test_wrappers_yield_the_ipv4_inside() -> None:
    metadata = ipaddress.IPv4Address("169.254.169.254")
    for wrapper in (
        "64:ff9b::a9fe:a9fe",
        "2002:a9fe:a9fe::",
        "::ffff:169.254.169.254",
        "::ffff:0:a9fe:a9fe",
        "::a9fe:a9fe",
    ):
        assert embedded_ipv4(ipaddress.IPv6Address(wrapper)) == metadata, wrapper
    assert embedded_ipv4(ipaddress.IPv6Address("::1")) is None


@pytest.mark.parametrize("address", NON_PUBLIC_ADDRESSES)
def test_a_document_host_resolving_to_a_non_public_address_is_not_fetched(
    make_client: Any, documents: Documents, address: str
) -> None:
    as_client = make_client(oauth_allowed_client_metadata_hosts="*")
    url = "https://rebound.example/client.json"
    documents.addresses["rebound.example"] = ["93.184.215.14", address]  # one bad record is enough
    documents.serve(url, _document(url))
    response = _authorize(as_client, url, CALLBACK)
    _assert_page_refusal(response, "Client metadata document refused")
    assert "non-public address" in response.text
    assert documents.fetches == []


@pytest.mark.parametrize("address", NON_PUBLIC_ADDRESSES)
def test_a_key_set_host_resolving_to_a_non_public_address_is_not_fetched(
    documents: Documents, address: str
) -> None:
    documents.addresses["keys.example"] = [address]
    assert "non-public address" in _get_jwks(documents, "https://keys.example/jwks.json").description
    assert documents.fetches == []


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_control_a_document_host_on_a_public_address_is_fetched(
    make_client: Any, documents: Documents, address: str
) -> None:
    as_client = make_client(oauth_allowed_client_metadata_hosts="*")
    url = "https://public.example/client.json"
    documents.addresses["public.example"] = [address]
    documents.serve(url, _document(url))
    assert _authorize(as_client, url, CALLBACK).status_code == 303
    assert documents.fetches == [url]


# -- loopback redirects: only the port may differ (RFC 8252 §7.3, RFC 9700 §4.1.3) ----------------
@pytest.mark.parametrize(
    "requested",
    [
        pytest.param("http://127.0.0.1:9999/callback#x", id="fragment"),
        pytest.param("http://127.0.0.1:9999/callback#", id="empty-fragment"),
        pytest.param("http://user:pw@127.0.0.1:9999/callback", id="userinfo"),
        pytest.param("http://claude.ai@127.0.0.1:9999/callback", id="host-lookalike-userinfo"),
        pytest.param("http://127.0.0.1:9999/callback?x=1", id="extra-query"),
        pytest.param("http://127.0.0.1:9999/Callback", id="path-case"),
        pytest.param("http://127.0.0.1:9999/callback/", id="trailing-slash"),
        pytest.param("http://localhost:9999/callback", id="other-loopback-name"),
        pytest.param("http://[::1]:9999/callback", id="other-loopback-address"),
        pytest.param("https://127.0.0.1:9999/callback", id="other-scheme"),
        pytest.param("http://127.0.0.1:9999/callback/..%2fother", id="encoded-traversal"),
    ],
)
def test_loopback_redirects_differing_in_more_than_the_port_are_refused(
    as_client: TestClient, requested: str
) -> None:
    client_id = register_client(as_client, redirect_uris=[LOOPBACK])["client_id"]
    response = _authorize(as_client, client_id, requested)
    _assert_page_refusal(response, "Redirect URI not registered")


def test_control_a_loopback_redirect_may_change_its_port(as_client: TestClient) -> None:
    client_id = register_client(as_client, redirect_uris=[LOOPBACK])["client_id"]
    response = _authorize(as_client, client_id, "http://127.0.0.1:40123/callback")
    assert response.status_code == 303, response.text


# -- the resource server's Host / Origin judgement (DNS rebinding) ----------------------------------
PING = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("evil.example", id="foreign-host"),
        pytest.param("evil.example:3000", id="foreign-host-rs-port"),
        pytest.param("localhost.evil.example:3000", id="loopback-name-as-subdomain"),
        pytest.param("127.0.0.1.nip.io:3000", id="wildcard-dns-to-loopback"),
        pytest.param("localhost:3000.evil.example", id="port-then-domain"),
        pytest.param("localhost:3000@evil.example", id="userinfo-style"),
        pytest.param("localhost:3001", id="other-port"),
        pytest.param("2130706433:3000", id="decimal-loopback"),
        pytest.param("0x7f.0.0.1:3000", id="hex-loopback"),
        pytest.param("127.1:3000", id="short-loopback"),
        pytest.param("[::ffff:127.0.0.1]:3000", id="ipv4-mapped-loopback"),
        pytest.param("[64:ff9b::7f00:1]:3000", id="nat64-loopback"),
        pytest.param("0.0.0.0:3000", id="this-host"),
    ],
)
def test_rs_refuses_rebinding_hosts(rs: RunningRS, host: str) -> None:
    assert rs.client.post("/mcp", content=PING, headers={**MCP_HEADERS, "Host": host}).status_code == 421


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("http://evil.example", id="foreign-origin"),
        pytest.param("http://localhost.evil.example:6274", id="loopback-name-as-subdomain"),
        pytest.param("http://127.0.0.1.nip.io:6274", id="wildcard-dns-to-loopback"),
        pytest.param("http://2130706433:6274", id="decimal-loopback"),
        pytest.param("http://[::ffff:127.0.0.1]:6274", id="ipv4-mapped-loopback"),
        pytest.param("https://localhost.evil.example", id="https-lookalike"),
        pytest.param("null", id="opaque-origin"),
    ],
)
def test_rs_refuses_rebinding_origins(rs: RunningRS, origin: str) -> None:
    response = rs.client.post("/mcp", content=PING, headers={**MCP_HEADERS, "Origin": origin})
    assert response.status_code == 403


def test_control_rs_admits_its_own_loopback_host_and_origin(rs: RunningRS) -> None:
    headers = {**MCP_HEADERS, "Host": "127.0.0.1:3000", "Origin": "http://localhost:6274"}
    assert rs.client.post("/mcp", content=PING, headers=headers).status_code == 200
