"""Sign-in through an upstream OpenID Connect provider (``IDENTITY=oidc``): who is the user?

This AS stays the authorization server of its MCP clients — its own client ids, consent and
tokens — and asks another provider (Google, Keycloak, Entra ID, …) only who the user is:

1. discovery: the issuer's ``/.well-known/openid-configuration`` (OpenID Connect Discovery
   1.0 §4), whose ``issuer`` must equal ``UPSTREAM_ISSUER`` exactly (§4.3);
2. the authorization code flow with PKCE S256 (RFC 7636), an unguessable single-use
   ``state`` and a ``nonce`` (OpenID Connect Core §3.1.2.1), sent by Authlib's OAuth 2 client;
3. the ID token checked with joserfc (Authlib's JOSE library): signature against the
   provider's JWKS with the algorithms pinned to those this module accepts, ``iss``, ``aud``
   (our client id), ``exp``, ``iat`` and ``nonce`` (Core §3.1.3.7).

The upstream's access and ID tokens are used once, here, and dropped: they never reach an MCP
client (the MCP authorization spec forbids token passthrough) and none is stored, because
no tool needs one. Authlib and joserfc are imported only in this mode, so demo start-up
does not pay for them.

Every failure is an :class:`UpstreamError` with a title and a message that says what went
wrong and what to do; the callback turns it into a page, never a 500.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import httpx

from shared.settings import Settings

# Asymmetric algorithms only: an HMAC-signed ID token would be keyed by our client secret.
ACCEPTED_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
UPSTREAM_TIMEOUT_SEC = 10.0
CLOCK_LEEWAY_SEC = 60


class UpstreamError(Exception):
    """The upstream sign-in failed; ``title`` and ``message`` are for the user's page."""

    def __init__(self, title: str, message: str, *, status_code: int = 502) -> None:
        super().__init__(f"{title}: {message}")
        self.title = title
        self.message = message
        self.status_code = status_code


@dataclass(frozen=True)
class UpstreamIdentity:
    issuer: str
    subject: str
    name: str
    email: str
    email_verified: bool
    login: str = ""  # GitHub's username (IDENTITY=github)
    kind: str = "oidc"

    @property
    def local_sub(self) -> str:
        """Our ``sub``: stable per upstream issuer and subject, and not the upstream's own id."""
        digest = hashlib.sha256(f"{self.issuer}\n{self.subject}".encode()).hexdigest()
        return f"{self.kind}_{digest[:32]}"


class OIDCUpstream:
    def __init__(self, settings: Settings, http_client: httpx.AsyncClient | None = None) -> None:
        self.issuer = settings.upstream_issuer
        self.client_id = settings.upstream_client_id
        self._client_secret = settings.upstream_client_secret
        self.scopes = settings.upstream_scopes
        self.redirect_uri = settings.upstream_callback_url
        self._http = http_client
        self._metadata: dict[str, Any] | None = None

    def _client(self) -> Any:
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        client = AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self._client_secret,
            scope=self.scopes,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            timeout=UPSTREAM_TIMEOUT_SEC,
        )
        return client

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT_SEC) as http:
                response = await (self._http or http).get(url)
        except httpx.HTTPError as exc:
            raise UpstreamError(
                "The sign-in provider cannot be reached",
                f"Fetching its {what} ({url}) failed: {type(exc).__name__}. Try again in a moment; "
                "if it persists, the operator should check UPSTREAM_ISSUER and run `mcp-oauth-demo doctor`.",
            ) from None
        if response.status_code != 200:
            raise UpstreamError(
                "The sign-in provider answered with an error",
                f"Its {what} ({url}) answered HTTP {response.status_code}; check UPSTREAM_ISSUER.",
            )
        try:
            document = response.json()
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise UpstreamError("The sign-in provider answered nonsense", f"Its {what} ({url}) is not JSON.")
        return document

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document, fetched once and checked (Discovery §4.3)."""
        if self._metadata is None:
            url = f"{self.issuer}/.well-known/openid-configuration"
            document = await self._get_json(url, "discovery document")
            if document.get("issuer") != self.issuer:
                raise UpstreamError(
                    "The sign-in provider is misconfigured",
                    f"Its discovery document names the issuer {document.get('issuer')!r}, not "
                    f"UPSTREAM_ISSUER={self.issuer!r}; set UPSTREAM_ISSUER to exactly the provider's issuer.",
                )
            for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(document.get(field), str):
                    raise UpstreamError(
                        "The sign-in provider is misconfigured", f"Its discovery document lacks {field}."
                    )
            self._metadata = document
        return self._metadata

    async def authorization_url(self, *, state: str, nonce: str, code_verifier: str) -> str:
        """Where to send the browser (Core §3.1.2.1), with S256 PKCE, ``state`` and ``nonce``."""
        endpoint = (await self.metadata())["authorization_endpoint"]
        async with self._client() as client:
            url, _ = client.create_authorization_url(
                endpoint, state=state, nonce=nonce, code_verifier=code_verifier
            )
        return str(url)

    async def identity(self, *, code: str, code_verifier: str, nonce: str) -> UpstreamIdentity:
        """Redeem ``code`` and check the ID token; the upstream's tokens go no further."""
        metadata = await self.metadata()
        async with self._client() as client:
            try:
                token = await client.fetch_token(
                    metadata["token_endpoint"], code=code, code_verifier=code_verifier
                )
            except httpx.HTTPError as exc:
                raise UpstreamError(
                    "The sign-in provider cannot be reached",
                    f"Redeeming the sign-in at its token endpoint failed ({type(exc).__name__}); try again.",
                ) from None
            except Exception as exc:  # Authlib's OAuthError: the provider refused the code or us
                error = getattr(exc, "error", None) or type(exc).__name__
                raise UpstreamError(
                    "The sign-in provider refused this AS",
                    f"Its token endpoint answered {error!r}. If it is invalid_client, the operator "
                    "should check UPSTREAM_CLIENT_ID and UPSTREAM_CLIENT_SECRET; otherwise sign in again.",
                ) from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise UpstreamError(
                "The sign-in provider sent no ID token",
                "Its token response has no id_token; UPSTREAM_SCOPES must contain 'openid'.",
            )
        claims = await self._verified_claims(id_token, nonce)
        if not claims.get("email") and isinstance(token.get("access_token"), str):
            claims = {**await self._userinfo(metadata, token["access_token"], str(claims["sub"])), **claims}
        return UpstreamIdentity(
            issuer=self.issuer,
            subject=str(claims["sub"]),
            name=str(claims.get("name") or claims.get("preferred_username") or claims.get("email") or ""),
            email=str(claims.get("email") or "").lower(),
            email_verified=claims.get("email_verified") is True,
        )

    async def _verified_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        jwks = await self._get_json((await self.metadata())["jwks_uri"], "key set")
        refused = "The sign-in could not be verified"
        try:
            keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
            decoded = jwt.decode(id_token, keys, algorithms=list(ACCEPTED_ALGORITHMS))
            registry = jwt.JWTClaimsRegistry(
                leeway=CLOCK_LEEWAY_SEC,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            )
            registry.validate(decoded.claims)
        except JoseError as exc:
            raise UpstreamError(
                refused,
                f"The provider's ID token was refused ({exc.error}: {exc.description or 'invalid'}); "
                "nothing was issued. Start the sign-in again from your app.",
                status_code=400,
            ) from None
        except ValueError as exc:
            raise UpstreamError(
                refused, f"The provider's ID token is malformed ({exc}).", status_code=400
            ) from None
        if "azp" in decoded.claims and decoded.claims["azp"] != self.client_id:
            raise UpstreamError(refused, "The ID token was issued to another client (azp).", status_code=400)
        return dict(decoded.claims)

    async def _userinfo(self, metadata: dict[str, Any], access_token: str, subject: str) -> dict[str, Any]:
        """Name and email from UserInfo (Core §5.3) when the ID token lacks them."""
        endpoint = metadata.get("userinfo_endpoint")
        if not isinstance(endpoint, str):
            return {}
        try:
            async with httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT_SEC) as http:
                response = await (self._http or http).get(
                    endpoint, headers={"Authorization": f"Bearer {access_token}"}
                )
            info = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return {}
        if not isinstance(info, dict):
            return {}
        if info.get("sub") != subject:  # Core §5.3.2: else the response is not about this user
            return {}
        return {key: info[key] for key in ("name", "email", "email_verified") if key in info}


def allowed(identity: UpstreamIdentity, settings: Settings) -> bool:
    """``ALLOWED_EMAILS`` / ``ALLOWED_EMAIL_DOMAINS`` (a *verified* email) or ``ALLOWED_GITHUB_USERS``.

    Empty lists allow everyone the provider knows.
    """
    lists = (settings.allowed_emails, settings.allowed_email_domains, settings.allowed_github_users)
    if not any(lists):
        return True
    if identity.login and identity.login.lower() in settings.allowed_github_users:
        return True
    if not identity.email_verified or not identity.email:
        return False
    domain = identity.email.rpartition("@")[2]
    return identity.email in settings.allowed_emails or domain in settings.allowed_email_domains


@dataclass(frozen=True)
class UpstreamLogin:
    """One trip to the upstream provider, kept under its ``state`` and bound to the browser.

    It names the pending authorization request it continues, so a ``state`` from another
    browser or another request continues nothing; it is removed when used (single use).
    """

    request_id: str
    nonce: str
    code_verifier: str
