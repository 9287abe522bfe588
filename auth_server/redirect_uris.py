"""Which redirect URIs a client may use: the allowlist policy (``OAUTH_ALLOWED_REDIRECT_URIS``) and RFC 8252.

The redirect URI is where the authorization code goes, so it is the one thing an
attacker most wants to choose. Three layers guard it:

1. **Shape** (RFC 6749 §3.1.2): absolute, no fragment, no user:password@, and never a
   scheme that runs code in the browser (``javascript:``, ``data:`` …).
2. **Allowlist** (``OAUTH_ALLOWED_REDIRECT_URIS``): an exact entry, or an entry ending in
   ``*`` that is a prefix on a fixed https host and path (ChatGPT puts a connector id at
   the end of its callback). Loopback redirects — ``http://127.0.0.1:<port>/…``,
   ``http://[::1]:<port>/…`` and ``http://localhost:<port>/…`` — are always allowed: the
   code then never leaves the user's machine (RFC 8252 §7.3, §8.3).
3. **Exact match at authorization time** (RFC 6749 §3.1.2.3, OAuth 2.1 §4.1.1): the request's
   ``redirect_uri`` must be one the client registered, character for character — except the
   port of a loopback redirect, which native apps pick at run time (RFC 8252 §7.3).

``application_type`` (OpenID Connect DCR §2) is checked against the URIs: a ``web`` client
runs on a server and cannot receive a private-use scheme such as ``com.example.app:/cb``
(those belong to ``native`` apps, RFC 8252 §7.1); plain http is only for loopback, unless an
operator lists an http URI exactly in the allowlist. When a
client does not send ``application_type`` we infer it — ``native`` if any redirect is
loopback or a private-use scheme, ``web`` otherwise — rather than apply OIDC's default
``web``, which would refuse every command-line MCP client that omits it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import SplitResult, urlsplit

MAX_REDIRECT_URI_LENGTH = 2000
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_CODE_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "blob", "about", "filesystem"})
_ALLOWLIST_HINT = "add it to OAUTH_ALLOWED_REDIRECT_URIS (comma-separated) or use a loopback redirect"


class RedirectURIError(ValueError):
    """A redirect URI that is refused; the message names the URI and the fix."""


def parse_redirect_uri(uri: str) -> SplitResult:
    """Check the shape of a redirect URI (RFC 6749 §3.1.2) and return its parts."""
    if len(uri) > MAX_REDIRECT_URI_LENGTH:
        raise RedirectURIError(f"redirect URI is longer than {MAX_REDIRECT_URI_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ch == "\\" for ch in uri):
        raise RedirectURIError(f"redirect URI {uri!r} contains whitespace, control characters or '\\'")
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
    elif "." not in scheme:
        # RFC 8252 §7.1: private-use schemes are reverse domain names (com.example.app).
        raise RedirectURIError(f"redirect URI {uri!r}: a private-use scheme must be a reverse domain name")
    return parts


def is_loopback_redirect(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and (parts.hostname or "").lower() in LOOPBACK_HOSTS


def _without_port(parts: SplitResult) -> tuple[str, str, str, str]:
    return (parts.scheme, (parts.hostname or "").lower(), parts.path, parts.query)


def redirect_matches(requested: str, registered: str) -> bool:
    """Exact string match; for loopback redirects any port (RFC 8252 §7.3)."""
    if requested == registered:
        return True
    if is_loopback_redirect(requested) and is_loopback_redirect(registered):
        return _without_port(urlsplit(requested)) == _without_port(urlsplit(registered))
    return False


def find_registered(requested: str, registered: Iterable[str]) -> str | None:
    return next((uri for uri in registered if redirect_matches(requested, uri)), None)


class RedirectPolicy:
    """``OAUTH_ALLOWED_REDIRECT_URIS`` plus the always-allowed loopback redirects."""

    def __init__(self, allowed: Sequence[str]) -> None:
        self.exact = frozenset(entry for entry in allowed if not entry.endswith("*"))
        self.prefixes = tuple(urlsplit(entry[:-1]) for entry in allowed if entry.endswith("*"))

    def _matches_prefix(self, parts: SplitResult) -> bool:
        if parts.scheme != "https":
            return False
        segments = parts.path.split("/")
        if any(seg in (".", "..") or seg.lower() in ("%2e", "%2e%2e") for seg in segments):
            return False  # a dot segment could climb out of the fixed path
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
