"""The checks, each a small function from a :class:`~mcp_oauth_demo.doctor.probe.Probe` to findings.

:data:`CHECKS` runs them in order, grouped in sections: the configuration first (no network),
then each server's discovery documents (RFC 9728, RFC 8414), the one-URL mode, what both
servers share (CORS, clocks) and last the round trip that signs in (:mod:`.round_trip`).
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import urlsplit

import httpx

from auth_server.redirect_uris import RedirectPolicy, RedirectURIError
from mcp_oauth_demo import oauth_client as oc
from mcp_oauth_demo.doctor.database import check_database
from mcp_oauth_demo.doctor.probe import Fetched, Probe
from mcp_oauth_demo.doctor.problems import (
    CHATGPT_CALLBACK,
    CLAUDE_CALLBACKS,
    Finding,
    fail,
    ok,
    skip,
    warn,
)
from mcp_oauth_demo.doctor.round_trip import check_token
from shared.settings import SettingsFields, is_loopback_host
from shared.tokens import DEFAULT_LEEWAY_SEC

# Below the RS's verification leeway but worth a warning: it eats into that margin.
CLOCK_WARN_SEC = 5.0

Check = Callable[[Probe], Iterable[Finding]]


def _public_urls(settings: SettingsFields) -> Iterator[tuple[str, str]]:
    yield "RS_BASE_URL", settings.rs_base_url
    yield "AUTH_ISSUER", settings.auth_issuer
    yield "MCP_RESOURCE", settings.mcp_resource


def check_config(probe: Probe) -> Iterator[Finding]:
    if probe.config_error:
        yield fail("config", probe.config_error)
    else:
        s = probe.settings
        urls = f"RS_BASE_URL={s.rs_base_url}  AUTH_ISSUER={s.auth_issuer}  MCP_RESOURCE={s.mcp_resource}"
        yield ok("config", f"PUBLIC_URL={s.public_url}  {urls}" if s.public_url else urls)


def check_storage(probe: Probe) -> Iterator[Finding]:
    status, message, fix = check_database(probe.settings)
    yield Finding("database", status, message, fix)


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


def check_hs256(probe: Probe) -> Iterator[Finding]:
    if probe.settings.jwt_alg == "HS256":
        yield warn("hs256", "JWT_ALG=HS256: demo mode, tokens are signed with a shared secret")
    else:
        yield ok("hs256", f"JWT_ALG={probe.settings.jwt_alg} (public-key signatures)")


def check_upstream(probe: Probe) -> Iterator[Finding]:
    """``IDENTITY=oidc``: the client credentials, the callback to register, the provider's discovery."""
    s = probe.settings
    if s.identity == "demo":
        yield ok("upstream", f"IDENTITY={s.identity}: the demo users sign in on this AS's login page")
        return
    needed = ("upstream_client_id", "upstream_client_secret")
    missing = [name.upper() for name in (("upstream_issuer", *needed) if s.identity == "oidc" else needed)]
    missing = [name for name in missing if not getattr(s, name.lower())]
    if missing:
        yield fail(
            "upstream", f"IDENTITY=oidc without {', '.join(missing)} (callback: {s.upstream_callback_url})"
        )
        return
    if s.identity == "github":
        yield ok(
            "upstream",
            f"GitHub OAuth app at {s.upstream_github_url}; its callback: {s.upstream_callback_url}",
        )
        return
    issuer = s.upstream_issuer.rstrip("/")
    fetched = probe.get(f"{issuer}/.well-known/openid-configuration")
    document = fetched.document
    if document is None:
        yield fail("upstream", f"the provider's discovery {fetched.url} gave {fetched.problem()}")
    elif document.get("issuer") != s.upstream_issuer:
        yield fail(
            "upstream",
            f"{fetched.url} names the issuer {document.get('issuer')!r}, "
            f"not UPSTREAM_ISSUER={s.upstream_issuer!r}",
        )
    else:
        yield ok(
            "upstream",
            f"{s.upstream_issuer} answers discovery; its client must allow {s.upstream_callback_url}",
        )


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


# -- the order they run in, by section ----------------------------------------------------------
CHECKS: tuple[tuple[str, Check], ...] = (
    ("Configuration", check_config),
    ("Configuration", check_storage),
    ("Configuration", check_https),
    ("Configuration", check_public_rs_local_as),
    ("Configuration", check_redirect_allowlist),
    ("Configuration", check_hs256),
    ("Configuration", check_upstream),
    ("Resource server", check_prm),
    ("Resource server", check_prm_contents),
    ("Resource server", check_challenge),
    ("Authorization server", check_as_metadata),
    ("Authorization server", check_jwks),
    ("One URL", check_one_url),
    ("Both servers", check_cors),
    ("Both servers", check_clock),
    ("Round trip", check_token),
)
