"""The path rule every URL a client hands the AS must pass: one meaning for every reader.

The AS judges a URL's path — a redirect URI must stay under an allowed prefix such as
``https://chatgpt.com/connector/oauth/``, a ``client_id`` or ``jwks_uri`` must not be a dot
segment away from somewhere else — and then a *different* program reads the same path: the
browser that follows the redirect, the server that answers the fetch. If the two readers
disagree about what the path means, the check judged the wrong URL. Chromium, for example,
treats ``.%2e``, ``%2e.`` and ``.%2E`` as ``..`` (the WHATWG URL standard does), so
``https://chatgpt.com/connector/oauth/.%2e/.%2e/x`` is, in the browser, ``https://chatgpt.com/x``.

Rather than normalize and hope every reader normalizes alike, :func:`path_problem` refuses
every spelling that readers are known to disagree about:

* a dot segment, ``.`` or ``..``, also with a ``;parameter`` after it (some servers drop
  ``;…`` before resolving ``..``) — the CIMD draft forbids them in a ``client_id`` outright;
* a percent-encoded *unreserved* character (``%2e``, ``%41``, ``%7e`` …): RFC 3986 §2.3 says
  they are equivalent to the plain character and URI producers should not create them, so no
  honest client sends one — and decoding them (§6.2.2.2) is exactly what turns ``.%2e`` into
  ``..``;
* an encoded ``/`` (``%2f``), ``\\`` (``%5c``) or ``%`` (``%25``, a second round of decoding):
  servers differ on whether they split or decode these;
* a ``%`` that does not start an escape (readers either keep it or reject the URL);
* a raw ``\\`` (the WHATWG parser reads it as ``/`` in http(s) URLs), whitespace or control
  characters (it deletes tabs and newlines, so ``.\\t.`` becomes ``..``), and non-ASCII (a URI
  is ASCII, RFC 3986 §2; an IRI is converted before it is sent).

The rule is applied to the whole URL for the character checks and to its path for the
segment checks, by :mod:`auth_server.redirect_uris` and :mod:`auth_server.public_fetch`.
"""

from __future__ import annotations

import re
from typing import Final

_UNRESERVED: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT_ESCAPE: Final = re.compile(r"%([0-9A-Fa-f]{2})")
_BROKEN_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Escapes whose decoding servers disagree about; unreserved ones are added in code.
_AMBIGUOUS_ESCAPES: Final = frozenset({"/", "\\", "%"})


def character_problem(url: str) -> str | None:
    """Why the characters of ``url`` are unsafe to judge, or ``None``."""
    if not url.isascii():
        return "contains non-ASCII characters; send it percent-encoded (RFC 3986 §2)"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "contains whitespace or control characters"
    if "\\" in url:
        return "contains '\\', which browsers read as '/'"
    return None


def path_problem(path: str) -> str | None:
    """Why ``path`` (the path of an http(s) URL) is unsafe to judge, or ``None``."""
    if _BROKEN_ESCAPE.search(path):
        return "has a '%' in its path that does not start a percent-escape (%XX, RFC 3986 §2.1)"
    for escape in _PERCENT_ESCAPE.finditer(path):
        decoded = chr(int(escape.group(1), 16))
        if decoded in _UNRESERVED:
            return (
                f"has the percent-encoded character {escape.group(0)!r} in its path, which is not "
                f"allowed; write {decoded!r} plainly (RFC 3986 §2.3)"
            )
        if decoded in _AMBIGUOUS_ESCAPES:
            return (
                f"has {escape.group(0)!r} (an encoded {decoded!r}) in its path, which is not allowed: "
                "servers disagree on whether to decode it"
            )
    for segment in path.split("/"):
        if segment.split(";", 1)[0] in (".", ".."):
            return "has a '.' or '..' segment in its path, which is not allowed; give the path without them"
    return None
