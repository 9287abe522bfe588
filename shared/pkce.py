"""PKCE — Proof Key for Code Exchange (RFC 7636), S256 only.

The client invents a high-entropy ``code_verifier`` (§4.1), sends only its SHA-256 hash
as ``code_challenge`` on the authorization request (§4.2), and proves possession by
sending the verifier itself to the token endpoint (§4.6). OAuth 2.1 and the MCP
authorization spec require S256; ``plain`` is refused because it offers no protection
when the authorization request leaks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

S256 = "S256"
SUPPORTED_METHODS = (S256,)

# RFC 7636 §4.1: 43–128 characters from the unreserved set [A-Z a-z 0-9 - . _ ~].
_VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
# A challenge is BASE64URL(SHA256(verifier)) without padding: always 43 characters.
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7636 Appendix A)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_verifier(nbytes: int = 32) -> str:
    """A fresh code verifier: 32 random bytes give 43 characters and 256 bits of entropy."""
    return b64url(secrets.token_bytes(nbytes))


def s256_challenge(verifier: str) -> str:
    """``code_challenge = BASE64URL(SHA256(ASCII(code_verifier)))`` (RFC 7636 §4.2)."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def make_pair() -> tuple[str, str]:
    """A (verifier, S256 challenge) pair, as a client would create it."""
    verifier = make_verifier()
    return verifier, s256_challenge(verifier)


def is_valid_verifier(verifier: str) -> bool:
    return bool(_VERIFIER_RE.match(verifier))


def is_valid_challenge(challenge: str) -> bool:
    return bool(_CHALLENGE_RE.match(challenge))


def verify_s256(verifier: str, challenge: str) -> bool:
    """RFC 7636 §4.6: recompute the challenge and compare it in constant time."""
    if not is_valid_verifier(verifier):
        return False
    return hmac.compare_digest(s256_challenge(verifier), challenge)
