"""Signing keys and the JSON Web Key Set (RFC 7517) that publishes their public halves.

The authorization server signs access tokens with a private key; the resource server
verifies them with the public key it finds in the AS's JWKS (``jwks_uri`` in the RFC 8414
metadata). Each key carries a ``kid`` — its RFC 7638 thumbprint — so that after a key
rotation a verifier can pick the right key, and a token naming an unknown ``kid`` tells
the resource server to refetch the set once.

HS256 exists only as a demo mode: the "key" is a shared secret, so it is never published.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.api_jwk import PyJWK

from shared.pkce import b64url

ASYMMETRIC_ALGS = ("ES256", "RS256")
SUPPORTED_ALGS = (*ASYMMETRIC_ALGS, "HS256")
MIN_HS256_SECRET_BYTES = 32

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class UnusableKey(ValueError):
    """A key that cannot be loaded or does not fit its algorithm."""


@dataclass(frozen=True)
class SigningKey:
    """One key the AS can sign with: its ``kid``, its pinned algorithm and the key material."""

    kid: str
    alg: str
    private: PrivateKey | bytes  # bytes only for the HS256 demo secret

    @property
    def is_symmetric(self) -> bool:
        return self.alg == "HS256"

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK (RFC 7517 §4) with ``kid``, ``alg`` and ``use`` set."""
        if isinstance(self.private, bytes):
            raise UnusableKey("an HS256 secret has no public half and must never be published")
        return _public_jwk(self.private.public_key(), self.alg) | {"kid": self.kid}

    def private_pem(self) -> bytes:
        """PKCS#8 PEM of the private key, for persistence with file mode 0600."""
        if isinstance(self.private, bytes):
            raise UnusableKey("an HS256 secret comes from JWT_SECRET and is never written to disk")
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _public_jwk(public_key: Any, alg: str) -> dict[str, Any]:
    algorithm = ECAlgorithm if alg == "ES256" else RSAAlgorithm
    jwk = algorithm.to_jwk(public_key, as_dict=True)
    jwk.pop("kid", None)
    return jwk | {"alg": alg, "use": "sig"}


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint: SHA-256 over the required members in lexicographic order."""
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def generate_signing_key(alg: str = "ES256") -> SigningKey:
    """A new asymmetric key for ``alg``; its ``kid`` is its thumbprint."""
    if alg == "ES256":
        private: PrivateKey = ec.generate_private_key(ec.SECP256R1())
    elif alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        raise UnusableKey(f"cannot generate a key pair for {alg!r}; use ES256 or RS256")
    return SigningKey(kid=thumbprint(_public_jwk(private.public_key(), alg)), alg=alg, private=private)


def load_signing_key(pem: bytes, alg: str) -> SigningKey:
    """Load a PEM written by :meth:`SigningKey.private_pem` and check it fits ``alg``."""
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise UnusableKey(f"not a readable PEM private key ({exc})") from exc
    expected = ec.EllipticCurvePrivateKey if alg == "ES256" else rsa.RSAPrivateKey
    if not isinstance(private, expected):
        raise UnusableKey(f"the key is a {type(private).__name__}, which cannot sign {alg}")
    if isinstance(private, ec.EllipticCurvePrivateKey) and not isinstance(private.curve, ec.SECP256R1):
        raise UnusableKey("ES256 needs a P-256 key")
    return SigningKey(kid=thumbprint(_public_jwk(private.public_key(), alg)), alg=alg, private=private)


def hs256_key(secret: str) -> SigningKey:
    """The HS256 demo key from ``JWT_SECRET`` (refused when shorter than 32 bytes, RFC 7518 §3.2)."""
    raw = secret.encode()
    if len(raw) < MIN_HS256_SECRET_BYTES:
        raise UnusableKey(f"JWT_SECRET must be at least {MIN_HS256_SECRET_BYTES} bytes for HS256")
    kid = "hs256-" + b64url(hashlib.sha256(b"kid:" + raw).digest())[:16]
    return SigningKey(kid=kid, alg="HS256", private=raw)


def jwks_document(keys: list[SigningKey]) -> dict[str, list[dict[str, Any]]]:
    """The JWK Set document served at ``jwks_uri`` (RFC 7517 §5): public keys only."""
    return {"keys": [key.public_jwk() for key in keys if not key.is_symmetric]}


def verification_key(jwk: dict[str, Any], alg: str) -> Any:
    """A public key object for ``alg`` from one JWK of a fetched set.

    The algorithm comes from our configuration, never from the token: a JWK whose ``kty``
    or ``alg`` does not fit it is refused, which closes the classic key-confusion attacks.
    """
    if jwk.get("alg") not in (None, alg):
        raise UnusableKey(f"key {jwk.get('kid')!r} is for {jwk.get('alg')}, not {alg}")
    try:
        return PyJWK(jwk, algorithm=alg).key
    except Exception as exc:  # PyJWK raises several types for malformed keys
        raise UnusableKey(f"key {jwk.get('kid')!r} is not a usable {alg} key ({exc})") from exc


# Members that only a private or symmetric JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def public_key_problem(jwk: Any) -> str | None:
    """Why ``jwk`` is not a public signature key a client may publish, or ``None`` if it is one.

    A key set that someone else hosts is only acceptable when it holds public keys: a symmetric
    (``oct``) key or a private member would mean a secret has been published.
    """
    if not isinstance(jwk, dict):
        return "a key is not a JSON object"
    if jwk.get("kty") not in ("RSA", "EC"):
        return f"key {jwk.get('kid')!r} has kty {jwk.get('kty')!r}; only RSA and EC public keys are accepted"
    if leaked := sorted(_PRIVATE_MEMBERS & jwk.keys()):
        return (
            f"key {jwk.get('kid')!r} contains private key material ({', '.join(leaked)}); publish public keys"
        )
    if jwk.get("use", "sig") != "sig":
        return f"key {jwk.get('kid')!r} is for use {jwk.get('use')!r}, not 'sig'"
    return None
