"""OAuth scopes (RFC 6749 §3.3) of the demo and the helpers to handle scope strings.

A scope string is a space-delimited, order-free set of case-sensitive tokens. The
resource server names the scopes each tool needs; the authorization server shows their
descriptions on the consent page and puts the granted set in the token's ``scope`` claim.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PROFILE_READ = "profile:read"
NOTES_READ = "notes:read"
NOTES_WRITE = "notes:write"
# Not a resource scope: asking for it means "I want a refresh token" (clients such as
# Claude read scopes_supported to decide whether to ask for it).
OFFLINE_ACCESS = "offline_access"

DESCRIPTIONS: dict[str, str] = {
    PROFILE_READ: "See your user id, name and email address",
    NOTES_READ: "Read your private notes",
    NOTES_WRITE: "Add notes to your private notes",
    OFFLINE_ACCESS: "Stay connected when you are away (a refresh token)",
}

RESOURCE_SCOPES: tuple[str, ...] = (PROFILE_READ, NOTES_READ, NOTES_WRITE)
ALL_SCOPES: tuple[str, ...] = (*RESOURCE_SCOPES, OFFLINE_ACCESS)

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN_RE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


class ScopeError(ValueError):
    """A scope string that is not well formed (RFC 6749 §3.3)."""


def parse_scope(scope: str | None) -> frozenset[str]:
    """Split a scope string into its set of tokens; ``None`` or blank is the empty set."""
    if not scope:
        return frozenset()
    tokens = scope.split(" ")
    result = set()
    for token in tokens:
        if not token:
            continue  # tolerate double spaces; they carry no meaning
        if not _SCOPE_TOKEN_RE.match(token):
            raise ScopeError(f"invalid scope token {token!r}")
        result.add(token)
    return frozenset(result)


def format_scope(scopes: Iterable[str]) -> str:
    """Join scopes in a stable order: the demo's own order first, then alphabetical."""
    order = {name: index for index, name in enumerate(ALL_SCOPES)}
    return " ".join(sorted(set(scopes), key=lambda s: (order.get(s, len(order)), s)))


def missing_scopes(granted: Iterable[str], required: Iterable[str]) -> frozenset[str]:
    """The required scopes that ``granted`` lacks (empty when the grant suffices)."""
    return frozenset(required) - frozenset(granted)


def has_scopes(granted: Iterable[str], required: Iterable[str]) -> bool:
    return not missing_scopes(granted, required)


def unknown_scopes(requested: Iterable[str], supported: Iterable[str] = ALL_SCOPES) -> frozenset[str]:
    return frozenset(requested) - frozenset(supported)
