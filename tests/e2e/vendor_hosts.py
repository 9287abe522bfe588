"""Vendor hosts on this machine: ``https://claude.ai/…`` and ``https://chatgpt.com/…`` served over TLS.

The AS fetches what a client names by URL — Claude's client metadata document, a ChatGPT
key set — and tests must not reach the internet. :class:`VendorHosts` stands in for those
hosts: one HTTPS server on a free 127.0.0.1 port, a throw-away certificate authority made
with ``cryptography``, and one server certificate naming every vendor host. Point the AS at
it with :meth:`VendorHosts.environment`:

* ``OAUTH_FETCH_HOST_OVERRIDES=claude.ai=127.0.0.1:<port>,…`` — the AS connects there instead
  of asking DNS, while the URL, the TLS SNI, the certificate check and ``Host`` stay
  ``claude.ai`` (see :mod:`auth_server.public_fetch`);
* ``SSL_CERT_FILE=<ca.pem>`` — httpx (``trust_env``) then trusts the test CA, and only it.

Documents are registered per URL with :meth:`VendorHosts.serve`; every request is recorded
(host, path, the SNI the client sent) in :attr:`VendorHosts.requests`, so a test can prove the
AS really fetched over TLS for the right name. :data:`CLAUDE_DOCUMENT` is Claude's published
metadata document, byte for byte in content.
"""

from __future__ import annotations

import datetime
import json
import ssl
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VENDOR_HOSTS = ("claude.ai", "chatgpt.com")
CLAUDE_CLIENT_ID = "https://claude.ai/oauth/mcp-oauth-client-metadata"
CLAUDE_CALLBACK = "https://claude.ai/api/mcp/auth_callback"
CLAUDE_DOCUMENT: dict[str, Any] = {
    "client_id": CLAUDE_CLIENT_ID,
    "client_name": "Claude",
    "client_uri": "https://claude.ai",
    "redirect_uris": [CLAUDE_CALLBACK],
    "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "none",
}


@dataclass(frozen=True)
class Served:
    status: int
    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True)
class SeenRequest:
    """One request a vendor host answered: the ``Host`` header, the path and the TLS SNI."""

    host: str
    path: str
    sni: str | None


@dataclass(frozen=True)
class TestCA:
    """A certificate authority that lives as long as one test run."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls, name: str = "mcp-oauth-demo test CA") -> TestCA:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        public = key.public_key()
        certificate = (
            _validity(x509.CertificateBuilder())
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    def issue(self, hosts: Sequence[str]) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A server key and certificate for ``hosts`` (subjectAltName DNS names), signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key()
        certificate = (
            _validity(x509.CertificateBuilder())
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(self.certificate.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        return key, certificate

    def write_pem(self, path: Path) -> Path:
        path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        return path


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(
        now + datetime.timedelta(days=1)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass
class VendorHosts:
    """The vendor hosts' HTTPS server; start it with :func:`vendor_hosts`."""

    address: str
    port: int
    ca_file: Path
    hosts: tuple[str, ...]
    documents: dict[tuple[str, str], Served] = field(default_factory=dict)
    requests: list[SeenRequest] = field(default_factory=list)
    connections: int = 0  # TCP connections accepted, TLS or not

    def serve(
        self,
        url: str,
        body: Any,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer GET ``url`` with ``body`` (JSON unless it is ``bytes``)."""
        parts = urlsplit(url)
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        content_type = {} if isinstance(body, bytes) else {"Content-Type": "application/json"}
        self.documents[(parts.hostname or "", parts.path)] = Served(
            status, raw, {**content_type, **(headers or {})}
        )

    def overrides(self, hosts: Sequence[str] | None = None) -> str:
        """The ``OAUTH_FETCH_HOST_OVERRIDES`` value sending ``hosts`` (default: all) here."""
        return ",".join(f"{host}={self.address}:{self.port}" for host in (hosts or self.hosts))

    def environment(self, hosts: Sequence[str] | None = None) -> dict[str, str]:
        """What an AS process needs in its environment to fetch from these hosts."""
        return {"OAUTH_FETCH_HOST_OVERRIDES": self.overrides(hosts), "SSL_CERT_FILE": str(self.ca_file)}

    def fetched(self, url: str) -> list[SeenRequest]:
        parts = urlsplit(url)
        return [seen for seen in self.requests if (seen.host, seen.path) == (parts.hostname, parts.path)]


def _handler(vendor: VendorHosts, sni_of: dict[int, str | None]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
            path = urlsplit(self.path).path
            sni = sni_of.get(id(self.connection))
            vendor.requests.append(SeenRequest(host=host, path=path, sni=sni))
            served = vendor.documents.get((host, path), Served(404, b'{"error":"not found"}', {}))
            self.send_response(served.status)
            for name, value in served.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(served.body)))
            self.end_headers()
            self.wfile.write(served.body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # keep test output quiet; requests are recorded in vendor.requests

    return Handler


class _CountingServer(ThreadingHTTPServer):
    vendor: VendorHosts | None = None

    def get_request(self) -> tuple[Any, Any]:
        if self.vendor is not None:
            self.vendor.connections += 1
        return super().get_request()


@contextmanager
def vendor_hosts(
    directory: Path, hosts: Sequence[str] = VENDOR_HOSTS, *, address: str = "127.0.0.1", port: int = 0
) -> Iterator[VendorHosts]:
    """Serve ``hosts`` over HTTPS on ``address`` (a free port by default) until the block ends."""
    ca = TestCA.create()
    key, certificate = ca.issue(list(hosts))
    cert_file = directory / "vendor-hosts.pem"
    cert_file.write_bytes(
        certificate.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    sni_of: dict[int, str | None] = {}
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file)
    context.sni_callback = lambda sock, name, _ctx: sni_of.__setitem__(id(sock), name)  # type: ignore[assignment]
    server = _CountingServer((address, port), BaseHTTPRequestHandler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    vendor = VendorHosts(
        address=address,
        port=int(server.server_address[1]),
        ca_file=ca.write_pem(directory / "vendor-ca.pem"),
        hosts=tuple(hosts),
    )
    server.RequestHandlerClass = _handler(vendor, sni_of)
    server.vendor = vendor
    thread = threading.Thread(target=server.serve_forever, name="vendor-hosts", daemon=True)
    thread.start()
    try:
        yield vendor
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
