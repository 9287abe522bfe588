"""Which redirect URIs a client may use: the allowlist policy (``OAUTH_ALLOWED_REDIRECT_URIS``) and RFC 8252.

The redirect URI is where the authorization code goes, so it is the one thing an
attacker most wants to choose. Three layers guard it:

1. **Shape** (RFC 6749 §3.1.2): absolute, no fragment, no user:password@, never a scheme
   that runs code in the browser (``javascript:``, ``data:`` …), and for http(s) a path that
   every reader understands alike — no dot segments, no encoded dots or slashes
   (:mod:`auth_server.url_paths`). Without that last rule the prefix entry below could be
   escaped: Chromium reads ``https://chatgpt.com/connector/oauth/.%2e/.%2e/x`` as
   ``https://chatgpt.com/x``.
2. **Allowlist** (``OAUTH_ALLOWED_REDIRECT_URIS``): an exact entry, or an entry ending in
   ``*`` that is a prefix on a fixed https host and path (ChatGPT puts a connector id at
   the end of its callback). Loopback redirects — ``http://127.0.0.1:<port>/…``,
   ``http://[::1]:<port>/…`` and ``http://localhost:<port>/…`` — are always allowed: the
   code then never leaves the user's machine (RFC 8252 §7.3, §8.3).
3. **Exact match at authorization time** (RFC 6749 §3.1.2.3, OAuth 2.1 §4.1.1): the request's
   ``redirect_uri`` must be one the client registered, character for character — except the
   port of a loopback redirect, which native apps pick at run time (RFC 8252 §7.3). Only the
   port: a ``user@`` or a ``#fragment`` added to a loopback redirect is a different URI
   (RFC 9700 §4.1.3), and would let the consent page show a host such as
   ``claude.ai@127.0.0.1``.

``application_type`` (OpenID Connect DCR §2) is checked against the URIs: a ``web`` client
runs on a server and cannot receive a private-use scheme such as ``com.example.app:/cb``
(those belong to ``native`` apps, RFC 8252 §7.1); plain http is only for loopback, unless an
operator lists an http URI exactly in the allowlist. When a
client does not send ``application_type`` we infer it — ``native`` if any redirect is
loopback or a private-use scheme, ``web`` otherwise — rather than apply OIDC's default
``web``, which would refuse every command-line MCP client that omits it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import SplitResult, urlsplit

from auth_server.errors import Refused
from auth_server.url_paths import character_problem, path_problem

MAX_REDIRECT_URI_LENGTH = 2000
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
# The port of a loopback redirect, right after the host: the one part that may differ.
_LOOPBACK_PORT = re.compile(r"^(https?://(?:127\.0\.0\.1|\[::1\]|localhost))(?::[0-9]*)?(?=[/?]|$)", re.I)
_CODE_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "blob", "about", "filesystem"})
_ALLOWLIST_HINT = "add it to OAUTH_ALLOWED_REDIRECT_URIS (comma-separated) or use a loopback redirect"


class RedirectURIError(Refused, ValueError):
    """A redirect URI that is refused; ``description`` names the URI and the fix."""


def parse_redirect_uri(uri: str) -> SplitResult:
    """Check the shape of a redirect URI (RFC 6749 §3.1.2) and return its parts."""
    if len(uri) > MAX_REDIRECT_URI_LENGTH:
        raise RedirectURIError(f"redirect URI is longer than {MAX_REDIRECT_URI_LENGTH} characters")
    problem = character_problem(uri)
    if problem:
        raise RedirectURIError(f"redirect URI {uri!r} {problem}")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 — raises ValueError for a malformed port
    except ValueError:
        raise RedirectURIError(f"redirect URI {uri!r} is not a valid URL") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise RedirectURIError(f"redirect URI {uri!r} is not absolute; give the full URL with its scheme")
    if scheme in _CODE_SCHEMES:
        raise RedirectURIError(f"redirect URI {uri!r} uses the {scheme}: scheme, which is never allowed")
    if "#" in uri:
        raise RedirectURIError(f"redirect URI {uri!r} has a fragment; RFC 6749 §3.1.2 forbids it")
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise RedirectURIError(f"redirect URI {uri!r} has no host")
        if parts.username is not None or parts.password is not None:
            raise RedirectURIError(f"redirect URI {uri!r} contains user:password@; remove it")
        problem = path_problem(parts.path)
        if problem:
            raise RedirectURIError(f"redirect URI {uri!r} {problem}")
    elif "." not in scheme:
        # RFC 8252 §7.1: private-use schemes are reverse domain names (com.example.app).
        raise RedirectURIError(f"redirect URI {uri!r}: a private-use scheme must be a reverse domain name")
    return parts


def is_loopback_redirect(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and (parts.hostname or "").lower() in LOOPBACK_HOSTS


def _without_loopback_port(uri: str) -> str | None:
    """``uri`` with the port of its loopback host removed, or ``None`` if it is no such URI."""
    stripped, count = _LOOPBACK_PORT.subn(r"\1", uri, count=1)
    return stripped if count else None


def redirect_matches(requested: str, registered: str) -> bool:
    """Exact string match; for loopback redirects, exact except the port (RFC 8252 §7.3)."""
    if requested == registered:
        return True
    # Userinfo before the host, or a fragment after the path, keeps the strings different.
    requested_rest = _without_loopback_port(requested)
    return requested_rest is not None and requested_rest == _without_loopback_port(registered)


def find_registered(requested: str, registered: Iterable[str]) -> str | None:
    return next((uri for uri in registered if redirect_matches(requested, uri)), None)


class RedirectPolicy:
    """``OAUTH_ALLOWED_REDIRECT_URIS`` plus the always-allowed loopback redirects."""

    def __init__(self, allowed: Sequence[str]) -> None:
        self.exact = frozenset(entry for entry in allowed if not entry.endswith("*"))
        self.prefixes = tuple(urlsplit(entry[:-1]) for entry in allowed if entry.endswith("*"))

    def _matches_prefix(self, parts: SplitResult) -> bool:
        # parse_redirect_uri already refused dot segments and encoded dots, which could climb
        # out of the fixed path in the browser; what is left means the same to every reader.
        if parts.scheme != "https":
            return False
        return any(
            parts.netloc.lower() == prefix.netloc.lower() and parts.path.startswith(prefix.path)
            for prefix in self.prefixes
        )

    def check(self, uri: str) -> None:
        """Raise :class:`RedirectURIError` unless ``uri`` is well formed and allowed."""
        parts = parse_redirect_uri(uri)
        if is_loopback_redirect(uri) or uri in self.exact or self._matches_prefix(parts):
            return
        raise RedirectURIError(f"redirect URI {uri!r} is not allowed by this server; {_ALLOWLIST_HINT}")


def resolve_application_type(application_type: str | None, uris: Sequence[str]) -> str:
    """Check ``application_type`` against the redirect URIs, inferring it when absent."""
    private_use = [uri for uri in uris if urlsplit(uri).scheme.lower() not in ("http", "https")]
    if application_type is None:
        return "native" if private_use or any(is_loopback_redirect(uri) for uri in uris) else "web"
    if application_type == "web" and private_use:
        raise RedirectURIError(
            f"redirect URI {private_use[0]!r} uses a private-use scheme, which only a native app "
            "can receive; "
            "register with application_type 'native' (RFC 8252 §7.1)"
        )
    return application_type
