"""``mcp-oauth-demo doctor``: check a configured or running setup, and say how to fix it.

Almost every "sign-in loops forever" or "the connector says it cannot connect" comes from
a handful of mismatches between what the servers are configured with, what they publish
in their metadata, and what a remote client can reach. The doctor reads the same
configuration the servers read (``.env`` and the environment, :mod:`shared.settings`) and
then looks at the running servers from the outside, the way a client does:

* RFC 9728 §3 / §3.3 — protected resource metadata (path-aware URL first) and its ``resource``;
* RFC 8414 §3 / §3.3 — authorization server metadata, whose ``issuer`` must equal
  ``AUTH_ISSUER`` byte for byte, and its ``jwks_uri`` (RFC 7517);
* RFC 6750 §3 / RFC 9728 §5.1 — the 401 challenge that starts sign-in;
* a real sign-in as the demo user (RFC 6749 §4.1) whose access token must carry the resource
  as ``aud`` (RFC 8707, RFC 9068 §3) and be accepted by the resource server.

:data:`PROBLEMS` lists every problem it detects — problem, how it is checked, the fix — and is
the table README's troubleshooting section mirrors. Each check is a small function over a
:class:`Probe`, so each can be tested on its own.
"""

from __future__ import annotations

import argparse
import email.utils
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from auth_server.redirect_uris import RedirectPolicy, RedirectURIError
from mcp_oauth_demo import oauth_client as oc
from mcp_oauth_demo.console import Console
from mcp_oauth_demo.user_agent import UserAgentError, sign_in
from shared.pkce import make_pair
from shared.settings import ConfigError, Settings, is_loopback_host, load_settings
from shared.tokens import DEFAULT_LEEWAY_SEC

CHATGPT_CALLBACK = "https://chatgpt.com/connector_platform_oauth_redirect"
CLAUDE_CALLBACKS = ("https://claude.ai/api/mcp/auth_callback", "https://claude.com/api/mcp/auth_callback")
# A browser-based client's origin (MCP Inspector's default), sent with discovery requests.
BROWSER_ORIGIN = "http://localhost:6274"
# Below the RS's verification leeway but worth a warning: it eats into that margin.
CLOCK_WARN_SEC = 5.0
DOCTOR_CLIENT_NAME = "mcp-oauth-demo doctor"
START_SERVERS = (
    "start the servers from the project folder: `.venv/bin/mcp-oauth-demo one-url` (one URL, PUBLIC_URL) "
    "or `.venv/bin/honcho start` (two URLs)"
)
# The one-URL mode's tunnel, as README's "Connect ChatGPT (or Claude) through ngrok" sets it up.
ONE_TUNNEL = (
    "one tunnel, `ngrok http 8000`, with PUBLIC_URL=<its https URL> and `.venv/bin/mcp-oauth-demo one-url`"
)


@dataclass(frozen=True)
class Problem:
    """One row of the troubleshooting table."""

    key: str
    problem: str  # what a person sees go wrong
    check: str  # how the doctor detects it
    fix: str


PROBLEMS: tuple[Problem, ...] = (
    Problem(
        "config",
        "A server refuses to start with a configuration error",
        "load .env and the environment with the servers' own validation (shared.settings)",
        "fix the variable the message names; every variable is documented in .env.example",
    ),
    Problem(
        "https",
        "A client refuses a public URL that uses http",
        "RS_BASE_URL, AUTH_ISSUER and MCP_RESOURCE use https unless their host is loopback",
        f"use https for every public URL — simplest is {ONE_TUNNEL}; or two tunnels (`ngrok http 3000`, "
        "`ngrok http 4000`) whose https URLs go into RS_BASE_URL and AUTH_ISSUER. OAuth 2.1 allows http only "
        "on localhost",
    ),
    Problem(
        "public-rs-local-as",
        "ChatGPT/Claude find the server but cannot sign in: RS_BASE_URL is public (ngrok) and AUTH_ISSUER "
        "is still localhost",
        "RS_BASE_URL's host is public while AUTH_ISSUER's host is loopback",
        f"expose the AS too — simplest is one URL for both: {ONE_TUNNEL}; or a second tunnel "
        "(`ngrok http 4000`) with AUTH_ISSUER=<its https URL>, then restart both servers",
    ),
    Problem(
        "redirect-allowlist",
        "ChatGPT's or Claude's registration fails with invalid_redirect_uri",
        f"{CHATGPT_CALLBACK} and {', '.join(CLAUDE_CALLBACKS)} pass the AS's redirect policy "
        "built from OAUTH_ALLOWED_REDIRECT_URIS",
        f"add {CHATGPT_CALLBACK} (and Claude's callbacks) to OAUTH_ALLOWED_REDIRECT_URIS, or unset it to use "
        "the defaults; restart the AS",
    ),
    Problem(
        "hs256",
        "Tokens are signed with a shared secret (JWT_ALG=HS256 demo mode)",
        "JWT_ALG is HS256",
        "fine for a demo on one machine; use JWT_ALG=ES256 (the default) anywhere else — anyone with "
        "JWT_SECRET can mint tokens",
    ),
    Problem(
        "rs-reachable",
        "The resource server is not running, or not reachable at RS_BASE_URL",
        "GET the path-aware protected resource metadata URL",
        f"{START_SERVERS}; check PUBLIC_URL (or RS_BASE_URL and RS_PORT); with ngrok, check that the tunnel "
        "is up and forwards to the right port (8000 for one URL, 3000 for the RS)",
    ),
    Problem(
        "prm",
        "Clients cannot find the protected resource metadata (they try the path-aware URL first, "
        "RFC 9728 §3.1)",
        "GET <RS>/.well-known/oauth-protected-resource/mcp and the root variant: 200 with a JSON object",
        "keep MCP_RESOURCE = RS_BASE_URL + '/mcp' (unset it); a proxy in front of the RS must forward "
        "/.well-known/* unchanged",
    ),
    Problem(
        "prm-resource",
        "Clients reject the metadata or get tokens for another audience: PRM `resource` != MCP_RESOURCE",
        "compare PRM `resource` with MCP_RESOURCE byte for byte",
        "give both servers the same RS_BASE_URL (and MCP_RESOURCE, if set) and restart them; the RS must be "
        "started with its public URL",
    ),
    Problem(
        "prm-issuer",
        "Clients sign in at a different (or old localhost) authorization server",
        "PRM `authorization_servers` contains AUTH_ISSUER",
        "give both servers the same AUTH_ISSUER and restart them",
    ),
    Problem(
        "challenge",
        "Clients never start sign-in: an unauthenticated tool call does not get a usable Bearer challenge",
        "POST tools/call notes_list without a token: 401 with WWW-Authenticate: Bearer "
        "resource_metadata=<the working PRM URL>",
        "keep TOOL_AUTH_CHALLENGE=auto (or http); start the RS with its public RS_BASE_URL, from which the "
        "challenge is built",
    ),
    Problem(
        "as-reachable",
        "The authorization server is not running, or not reachable at AUTH_ISSUER",
        "GET <AUTH_ISSUER>/.well-known/oauth-authorization-server",
        f"{START_SERVERS}; check PUBLIC_URL (or AUTH_ISSUER and AUTH_PORT); with ngrok, check the tunnel "
        "(8000 for one URL, 4000 for the AS)",
    ),
    Problem(
        "issuer",
        "SDK clients reject the AS metadata and the RS rejects every token: `issuer` != AUTH_ISSUER "
        "(often a trailing slash)",
        "compare the AS metadata `issuer` with AUTH_ISSUER byte for byte (RFC 8414 §3.3)",
        "set AUTH_ISSUER to exactly the issuer the AS announces — scheme://host[:port], no path, no trailing "
        "slash — for both servers, and restart them",
    ),
    Problem(
        "as-metadata",
        "A client gives up on the AS: its metadata lacks something MCP clients need",
        "registration_endpoint, S256 in code_challenge_methods_supported, "
        "authorization_response_iss_parameter_supported, offline_access in scopes_supported",
        "a bug in auth_server's metadata: report it",
    ),
    Problem(
        "jwks",
        "Every token is refused: the RS cannot get the AS's signing keys",
        "GET the metadata's jwks_uri: reachable, and keys with `kid` (none in HS256 mode)",
        "jwks_uri is built from AUTH_ISSUER: the RS must reach it (same machine: it does); look at the AS "
        "log for key errors in DATA_DIR",
    ),
    Problem(
        "one-url",
        "With PUBLIC_URL (one URL for both servers), clients find the MCP server but cannot sign in",
        "PUBLIC_URL serves both discovery documents, and the AS `issuer` and the PRM `authorization_servers` "
        "are exactly PUBLIC_URL",
        "run both servers as one process behind one tunnel: `ngrok http 8000`, then "
        "`.venv/bin/mcp-oauth-demo one-url` with PUBLIC_URL=<the tunnel's https URL> (no trailing slash) in "
        ".env or the environment; leave RS_BASE_URL and AUTH_ISSUER unset",
    ),
    Problem(
        "cors",
        "MCP Inspector (a browser) cannot read the discovery documents or the 401 challenge",
        f"discovery and the 401 answer a request with Origin {BROWSER_ORIGIN} with "
        "Access-Control-Allow-Origin; the 401 exposes WWW-Authenticate",
        "a bug in the servers' CORS middleware: report it",
    ),
    Problem(
        "clock",
        "Fresh tokens are refused as expired or not yet valid",
        f"each server's Date header against this machine's clock (tokens get {DEFAULT_LEEWAY_SEC}s leeway)",
        "turn on time synchronisation on the machine that is off (`timedatectl set-ntp true`, or your "
        "OS's date settings)",
    ),
    Problem(
        "token",
        "Sign-in succeeds, then every call is 401 again: the RS does not accept the AS's tokens",
        "sign in as the demo user; the access token's `aud` must be the PRM resource and the RS must accept "
        "it for auth_whoami",
        "give both servers the same RS_BASE_URL/MCP_RESOURCE, AUTH_ISSUER and JWT_ALG (and JWT_SECRET) and "
        "restart both",
    ),
)
PROBLEM = {problem.key: problem for problem in PROBLEMS}

Status = Literal["ok", "fail", "warn", "skip"]


@dataclass(frozen=True)
class Finding:
    key: str
    status: Status
    message: str
    fix: str | None = None  # a fix more precise than the table's

    @property
    def advice(self) -> str:
        return self.fix or PROBLEM[self.key].fix


def ok(key: str, message: str) -> Finding:
    return Finding(key, "ok", message)


def fail(key: str, message: str, fix: str | None = None) -> Finding:
    return Finding(key, "fail", message, fix)


def warn(key: str, message: str, fix: str | None = None) -> Finding:
    return Finding(key, "warn", message, fix)


def skip(key: str, message: str) -> Finding:
    return Finding(key, "skip", message)


# -- what the doctor knows ------------------------------------------------------------------
class LenientSettings(Settings):
    """The servers' settings without their validators, so a broken setup can still be examined.

    Redefining a validator's method without the decorator removes that validator (pydantic v2).
    """

    @classmethod
    def _check_rs_base_url(cls, value: str) -> str:
        return value

    @classmethod
    def _check_issuer(cls, value: str) -> str:
        return value

    @classmethod
    def _check_redirects(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return value

    def _check_consistency(self) -> Settings:
        return self


def read_settings() -> tuple[Settings | None, str | None]:
    """(settings, the configuration error if any) — settings even when they are invalid."""
    try:
        return load_settings(), None
    except ConfigError as exc:
        try:
            lenient = LenientSettings()
        except ValidationError:
            return None, str(exc)
        lenient.mcp_resource = lenient.mcp_resource or f"{lenient.rs_base_url.rstrip('/')}/mcp"
        return lenient, str(exc)


@dataclass
class Fetched:
    """One GET, remembered: the response or why there was none, and when it was sent and arrived."""

    url: str
    response: httpx.Response | None
    error: str | None
    sent_at: float
    received_at: float

    @property
    def document(self) -> dict[str, Any] | None:
        if self.response is None or self.response.status_code != 200:
            return None
        try:
            body = self.response.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def problem(self) -> str:
        """Why there is no document, for a message."""
        if self.error:
            return self.error
        assert self.response is not None
        kind = self.response.headers.get("content-type", "no content type")
        return f"HTTP {self.response.status_code} ({kind})"


@dataclass
class Probe:
    """The configuration plus what the running servers answer; fetches each URL once."""

    settings: Settings
    http: httpx.Client
    config_error: str | None = None
    sign_in: bool = True
    _fetched: dict[str, Fetched] = field(default_factory=dict)
    challenge_response: httpx.Response | None = None

    def get(self, url: str) -> Fetched:
        if url not in self._fetched:
            sent_at = time.time()
            try:
                # The Origin makes the CORS check free: every discovery answer is a CORS answer too.
                response: httpx.Response | None = self.http.get(
                    url, headers={"Accept": "application/json", "Origin": BROWSER_ORIGIN}
                )
                error = None
            except httpx.TransportError as exc:
                response, error = None, f"{type(exc).__name__}: {exc or 'no answer'}"
            self._fetched[url] = Fetched(url, response, error, sent_at, time.time())
        return self._fetched[url]

    # The documents the checks look at.
    @property
    def mcp_url(self) -> str:
        return self.settings.rs_base_url.rstrip("/") + "/mcp"

    @property
    def prm(self) -> Fetched:
        return self.get(self.settings.rs_metadata_url)

    @property
    def as_metadata(self) -> Fetched:
        return self.get(oc.well_known_url(self.settings.auth_issuer, "oauth-authorization-server"))

    def unauthenticated_call(self) -> httpx.Response | None:
        if self.challenge_response is None:
            try:
                self.challenge_response = self.http.post(
                    self.mcp_url,
                    json=oc.rpc("tools/call", {"name": "notes_list", "arguments": {}}, 1),
                    headers={"Accept": oc.MCP_ACCEPT, "Origin": BROWSER_ORIGIN},
                )
            except httpx.TransportError:
                return None
        return self.challenge_response


# -- the checks -----------------------------------------------------------------------------
Check = Callable[[Probe], Iterable[Finding]]
CHECKS: list[tuple[str, Check]] = []


def check(section: str) -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        CHECKS.append((section, function))
        return function

    return register


def _public_urls(settings: Settings) -> Iterator[tuple[str, str]]:
    yield "RS_BASE_URL", settings.rs_base_url
    yield "AUTH_ISSUER", settings.auth_issuer
    yield "MCP_RESOURCE", settings.mcp_resource


@check("Configuration")
def check_config(probe: Probe) -> Iterator[Finding]:
    if probe.config_error:
        yield fail("config", probe.config_error)
    else:
        s = probe.settings
        urls = f"RS_BASE_URL={s.rs_base_url}  AUTH_ISSUER={s.auth_issuer}  MCP_RESOURCE={s.mcp_resource}"
        yield ok("config", f"PUBLIC_URL={s.public_url}  {urls}" if s.public_url else urls)


@check("Configuration")
def check_https(probe: Probe) -> Iterator[Finding]:
    insecure = [
        f"{name}={url}"
        for name, url in _public_urls(probe.settings)
        if urlsplit(url).scheme != "https" and not is_loopback_host(urlsplit(url).hostname)
    ]
    if insecure:
        yield fail("https", "public URL without https: " + ", ".join(insecure))
    else:
        yield ok("https", "https on every public URL (http only on loopback)")


@check("Configuration")
def check_public_rs_local_as(probe: Probe) -> Iterator[Finding]:
    rs_host = urlsplit(probe.settings.rs_base_url).hostname
    as_host = urlsplit(probe.settings.auth_issuer).hostname
    if not is_loopback_host(rs_host) and is_loopback_host(as_host):
        yield fail(
            "public-rs-local-as",
            f"RS_BASE_URL is public ({rs_host}) but AUTH_ISSUER={probe.settings.auth_issuer} is only "
            "reachable from this machine — a ChatGPT connector cannot reach it",
        )
    elif is_loopback_host(rs_host):
        yield ok("public-rs-local-as", "local setup (RS and AS on this machine)")
    else:
        both = "at one URL (PUBLIC_URL)" if probe.settings.public_url else "both public"
        yield ok("public-rs-local-as", f"RS and AS {both}")


@check("Configuration")
def check_redirect_allowlist(probe: Probe) -> Iterator[Finding]:
    policy = RedirectPolicy(probe.settings.oauth_allowed_redirect_uris)
    refused = []
    for uri in (CHATGPT_CALLBACK, *CLAUDE_CALLBACKS):
        try:
            policy.check(uri)
        except RedirectURIError:
            refused.append(uri)
    if refused:
        yield fail("redirect-allowlist", "OAUTH_ALLOWED_REDIRECT_URIS does not allow " + ", ".join(refused))
    else:
        yield ok("redirect-allowlist", "ChatGPT's and Claude's callbacks are allowed")


@check("Configuration")
def check_hs256(probe: Probe) -> Iterator[Finding]:
    if probe.settings.jwt_alg == "HS256":
        yield warn("hs256", "JWT_ALG=HS256: demo mode, tokens are signed with a shared secret")
    else:
        yield ok("hs256", f"JWT_ALG={probe.settings.jwt_alg} (public-key signatures)")


@check("Resource server")
def check_prm(probe: Probe) -> Iterator[Finding]:
    fetched = probe.prm
    if fetched.response is None:
        yield fail("rs-reachable", f"no answer from {fetched.url}: {fetched.problem()}")
        return
    yield ok("rs-reachable", f"the RS answers at {probe.settings.rs_base_url}")
    if fetched.document is None:
        yield fail("prm", f"{fetched.url} gave {fetched.problem()}")
    else:
        yield ok("prm", f"protected resource metadata at {fetched.url}")
    root = probe.get(oc.well_known_url(probe.settings.rs_base_url, "oauth-protected-resource"))
    if root.document is None:
        yield warn("prm", f"the root variant {root.url} gave {root.problem()} (older clients try it)")


@check("Resource server")
def check_prm_contents(probe: Probe) -> Iterator[Finding]:
    document = probe.prm.document
    if document is None:
        yield skip("prm-resource", "no protected resource metadata to compare")
        return
    resource = document.get("resource")
    if resource == probe.settings.mcp_resource:
        yield ok("prm-resource", f"resource = MCP_RESOURCE = {resource}")
    else:
        yield fail(
            "prm-resource", f"PRM resource {resource!r} != MCP_RESOURCE {probe.settings.mcp_resource!r}"
        )
    servers = document.get("authorization_servers") or []
    if probe.settings.auth_issuer in servers:
        yield ok("prm-issuer", f"authorization_servers lists AUTH_ISSUER ({probe.settings.auth_issuer})")
    else:
        yield fail(
            "prm-issuer", f"authorization_servers {servers} does not contain {probe.settings.auth_issuer!r}"
        )


@check("Resource server")
def check_challenge(probe: Probe) -> Iterator[Finding]:
    if probe.prm.response is None:
        yield skip("challenge", "the RS is not reachable")
        return
    response = probe.unauthenticated_call()
    if response is None:
        yield fail("challenge", f"POST {probe.mcp_url} got no answer")
        return
    header = response.headers.get("www-authenticate", "")
    scheme, params = oc.parse_www_authenticate(header) if header else ("", {})
    if response.status_code != 401 or scheme.lower() != "bearer":
        yield fail(
            "challenge",
            f"tools/call without a token got HTTP {response.status_code}, {header or 'no challenge'}",
        )
    elif params.get("resource_metadata") != probe.settings.rs_metadata_url:
        yield fail(
            "challenge",
            f"the challenge points at {params.get('resource_metadata')!r}, "
            f"not at the working URL {probe.settings.rs_metadata_url!r}",
        )
    else:
        yield ok("challenge", f"401 Bearer challenge with resource_metadata={params['resource_metadata']}")


@check("Authorization server")
def check_as_metadata(probe: Probe) -> Iterator[Finding]:
    fetched = probe.as_metadata
    if fetched.response is None:
        yield fail("as-reachable", f"no answer from {fetched.url}: {fetched.problem()}")
        return
    document = fetched.document
    if document is None:
        yield fail("as-reachable", f"{fetched.url} gave {fetched.problem()}")
        return
    yield ok("as-reachable", f"authorization server metadata at {fetched.url}")
    issuer = document.get("issuer")
    if issuer == probe.settings.auth_issuer:
        yield ok("issuer", f"issuer = AUTH_ISSUER = {issuer} (byte for byte)")
    else:
        yield fail(
            "issuer",
            f"the AS announces issuer {issuer!r} but AUTH_ISSUER is {probe.settings.auth_issuer!r}",
            f"set AUTH_ISSUER={issuer} exactly (no trailing slash) for both servers and restart them",
        )
    missing = []
    if not document.get("registration_endpoint"):
        missing.append("registration_endpoint")
    if "S256" not in (document.get("code_challenge_methods_supported") or []):
        missing.append("S256 in code_challenge_methods_supported")
    if document.get("authorization_response_iss_parameter_supported") is not True:
        missing.append("authorization_response_iss_parameter_supported")
    if "offline_access" not in (document.get("scopes_supported") or []):
        missing.append("offline_access in scopes_supported")
    if missing:
        yield fail("as-metadata", "the AS metadata lacks " + ", ".join(missing))
    else:
        yield ok("as-metadata", "registration, PKCE S256, RFC 9207 iss and offline_access advertised")


@check("Authorization server")
def check_jwks(probe: Probe) -> Iterator[Finding]:
    document = probe.as_metadata.document
    if document is None or not document.get("jwks_uri"):
        yield skip("jwks", "no jwks_uri to fetch")
        return
    fetched = probe.get(str(document["jwks_uri"]))
    keys = (fetched.document or {}).get("keys")
    if not isinstance(keys, list):
        yield fail("jwks", f"{fetched.url} gave {fetched.problem()}")
    elif probe.settings.jwt_alg == "HS256":
        yield ok("jwks", f"JWKS reachable at {fetched.url} (HS256 mode publishes no key)")
    elif not keys or not all(isinstance(key, dict) and key.get("kid") for key in keys):
        yield fail("jwks", f"{fetched.url} has no usable key (keys: {len(keys)}, each needs a kid)")
    else:
        yield ok("jwks", f"JWKS reachable at {fetched.url}: {len(keys)} key(s) with kid")


@check("One URL")
def check_one_url(probe: Probe) -> Iterator[Finding]:
    """PUBLIC_URL: both documents at the one origin, each naming it (RFC 8414 §3.3, RFC 9728 §3.3)."""
    public_url = probe.settings.public_url
    if not public_url:
        yield skip("one-url", "two URLs (PUBLIC_URL unset); one tunnel is simpler: see README, ngrok")
        return
    prm, metadata = probe.prm, probe.as_metadata
    missing = [
        f"{fetched.url} gave {fetched.problem()}" for fetched in (prm, metadata) if fetched.document is None
    ]
    if missing:
        yield fail("one-url", f"PUBLIC_URL={public_url} does not serve both documents: " + "; ".join(missing))
        return
    assert prm.document is not None and metadata.document is not None
    wrong = []
    if metadata.document.get("issuer") != public_url:
        wrong.append(f"the AS's issuer is {metadata.document.get('issuer')!r}")
    if prm.document.get("authorization_servers") != [public_url]:
        wrong.append(f"the PRM's authorization_servers is {prm.document.get('authorization_servers')!r}")
    if wrong:
        yield fail("one-url", f"PUBLIC_URL={public_url}, but " + " and ".join(wrong))
    else:
        yield ok("one-url", f"one URL for both servers: issuer and authorization_servers are {public_url}")


def _exposes(response: httpx.Response, header: str) -> bool:
    exposed = response.headers.get("access-control-expose-headers", "").lower()
    return exposed.strip() == "*" or header in (name.strip() for name in exposed.split(","))


@check("Both servers")
def check_cors(probe: Probe) -> Iterator[Finding]:
    answers = {
        "the PRM": probe.prm.response,
        "the AS metadata": probe.as_metadata.response,
        "the 401 challenge": probe.unauthenticated_call() if probe.prm.response else None,
    }
    reachable = {name: response for name, response in answers.items() if response is not None}
    if not reachable:
        yield skip("cors", "no server reachable")
        return
    lacking = [
        f"{name} has no Access-Control-Allow-Origin"
        for name, r in reachable.items()
        if "access-control-allow-origin" not in r.headers
    ]
    challenge = reachable.get("the 401 challenge")
    if challenge is not None and challenge.status_code == 401 and not _exposes(challenge, "www-authenticate"):
        lacking.append("the 401 does not expose WWW-Authenticate (Access-Control-Expose-Headers)")
    if lacking:
        yield fail("cors", "; ".join(lacking))
    else:
        yield ok("cors", "discovery and the 401 challenge are readable by browser clients")


def clock_skew(fetched: Fetched) -> float | None:
    """Server time minus local time, in seconds, from the ``Date`` header (RFC 9110 §6.6.1)."""
    if fetched.response is None or "date" not in fetched.response.headers:
        return None
    try:
        server_time = email.utils.parsedate_to_datetime(fetched.response.headers["date"]).timestamp()
    except (TypeError, ValueError):
        return None
    # A correct clock stamps Date between sending and receiving; the header is truncated to
    # the second and servers such as uvicorn refresh it once a second, so allow 2 s before.
    earliest, latest = fetched.sent_at - 2.0, fetched.received_at + 0.5
    if server_time < earliest:
        return server_time - earliest
    if server_time > latest:
        return server_time - latest
    return 0.0


@check("Both servers")
def check_clock(probe: Probe) -> Iterator[Finding]:
    skews = {name: clock_skew(fetched) for name, fetched in (("RS", probe.prm), ("AS", probe.as_metadata))}
    measured = {name: skew for name, skew in skews.items() if skew is not None}
    if not measured:
        yield skip("clock", "no Date header to compare")
    for name, skew in measured.items():
        if abs(skew) > DEFAULT_LEEWAY_SEC:
            yield fail("clock", f"the {name}'s clock is {skew:+.0f}s off this machine's")
        elif abs(skew) > CLOCK_WARN_SEC:
            yield warn("clock", f"the {name}'s clock is {skew:+.0f}s off this machine's")
        else:
            yield ok("clock", f"the {name}'s clock agrees with this machine's ({skew:+.0f}s)")


@check("Round trip")
def check_token(probe: Probe) -> Iterator[Finding]:
    if not probe.sign_in:
        yield skip("token", "skipped (--no-sign-in)")
        return
    prm, metadata = probe.prm.document, probe.as_metadata.document
    if (
        prm is None
        or metadata is None
        or metadata.get("issuer") not in (prm.get("authorization_servers") or [])
    ):
        yield skip("token", "needs working, consistent metadata first")
        return
    try:
        yield from _token_round_trip(probe, prm, metadata)
    except (httpx.TransportError, oc.ProtocolError, UserAgentError, KeyError) as exc:
        yield fail("token", f"the sign-in as the demo user failed: {exc}")


def _token_round_trip(probe: Probe, prm: dict[str, Any], metadata: dict[str, Any]) -> Iterator[Finding]:
    """Sign in as the demo user like a client would; the AS's token must work at the RS."""
    http, resource = probe.http, str(prm["resource"])
    # Never followed: the user agent stops at the redirect, so no listener is needed.
    redirect_uri = "http://127.0.0.1:9/callback"
    registered = oc.json_body(
        oc.register_client(
            http, str(metadata["registration_endpoint"]), redirect_uri, name=DOCTOR_CLIENT_NAME
        ),
        "client registration",
    )
    if "client_id" not in registered:
        yield fail("token", f"registration refused: {registered.get('error_description') or registered}")
        return
    client_id = str(registered["client_id"])
    verifier, challenge = make_pair()
    state = secrets.token_urlsafe(8)
    url = oc.authorization_url(
        str(metadata["authorization_endpoint"]),
        client_id=client_id,
        redirect_uri=redirect_uri,
        code_challenge=challenge,
        state=state,
        resource=resource,
    )
    answer = sign_in(http, url)
    code = answer.require_code()
    tokens = oc.json_body(
        oc.exchange_code(
            http,
            str(metadata["token_endpoint"]),
            client_id=client_id,
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=verifier,
            resource=resource,
        ),
        "token response",
    )
    if "access_token" not in tokens:
        yield fail("token", f"the token request was refused: {tokens.get('error_description') or tokens}")
        return
    claims = oc.jwt_claims(str(tokens["access_token"]))
    audience = claims.get("aud")
    if resource not in (audience if isinstance(audience, list) else [audience]):
        yield fail("token", f"the token's aud is {audience!r}, not the resource {resource!r}")
    else:
        yield ok("token", f"the AS issues tokens with aud = {resource}")
    session = oc.McpSession(http, probe.mcp_url, access_token=str(tokens["access_token"]))
    try:
        session.initialize(DOCTOR_CLIENT_NAME)
        response, message = session.call_tool("auth_whoami", {})
    finally:
        session.close()
        if tokens.get("refresh_token") and metadata.get("revocation_endpoint"):
            # Leave no live grant behind.
            oc.revoke(
                http,
                str(metadata["revocation_endpoint"]),
                client_id=client_id,
                token=str(tokens["refresh_token"]),
            )
    result = message.get("result") or {}
    if response.status_code == 200 and result and not result.get("isError"):
        yield ok("token", "the RS accepts it: auth_whoami works")
    else:
        challenge_header = response.headers.get("www-authenticate", "")
        yield fail(
            "token", f"the RS refuses the AS's token: HTTP {response.status_code} {challenge_header}".strip()
        )


# -- running --------------------------------------------------------------------------------
def diagnose(probe: Probe) -> Iterator[tuple[str, Finding]]:
    for section, function in CHECKS:
        for finding in function(probe):
            yield section, finding


def report(findings: Iterable[tuple[str, Finding]], out: Console) -> tuple[int, int]:
    """Print ✔/✖ lines grouped by section; returns (problems, warnings)."""
    problems = warnings = 0
    current = None
    for section, finding in findings:
        if finding.status == "skip" and not finding.message:
            continue
        if section != current:
            out.line()
            out.line(out.bold(section))
            current = section
        if finding.status == "ok":
            out.ok(finding.message)
        elif finding.status == "fail":
            problems += 1
            out.fail(finding.message, finding.advice)
        elif finding.status == "warn":
            warnings += 1
            out.warn(finding.message, finding.advice)
        else:
            out.line(out.dim(f"– {finding.message}"), 2)
    return problems, warnings


def troubleshooting_table() -> str:
    """:data:`PROBLEMS` as the Markdown table of README's troubleshooting section."""
    rows = ["| problem | what the doctor checks | fix |", "|---|---|---|"]
    rows += [f"| {p.problem} | {p.check} | {p.fix} |".replace("\n", " ") for p in PROBLEMS]
    return "\n".join(rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-sign-in",
        action="store_true",
        help="skip the round trip that signs in as the demo user (it registers a client named "
        f"{DOCTOR_CLIENT_NAME!r} and revokes its token afterwards)",
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to wait for each answer (default 5)"
    )
    parser.add_argument(
        "--table",
        action="store_true",
        help="print the problems it detects as a Markdown table (for README) and exit",
    )


def run(args: argparse.Namespace, out: Console | None = None) -> int:
    out = out or Console()
    if args.table:
        out.line(troubleshooting_table())
        return 0
    out.line(out.bold("mcp-oauth-demo doctor") + out.dim("  (configuration from .env and the environment)"))
    settings, config_error = read_settings()
    if settings is None:
        out.fail(f"configuration error: {config_error}", PROBLEM["config"].fix, indent=0)
        return 1
    with httpx.Client(timeout=args.timeout) as http:
        probe = Probe(settings=settings, http=http, config_error=config_error, sign_in=not args.no_sign_in)
        problems, warnings = report(diagnose(probe), out)
    out.line()
    if problems:
        out.line(
            out.red(out.bold(f"✖ {problems} problem(s)")) + (f", {warnings} warning(s)" if warnings else "")
        )
        return 1
    out.line(out.green(out.bold("✔ all checks passed")) + (f" ({warnings} warning(s))" if warnings else ""))
    return 0
