"""Client ID Metadata Documents: an HTTPS URL as ``client_id`` (draft-ietf-oauth-client-id-metadata-document,
preferred by the MCP authorization spec 2026-07-28).

Instead of registering, a client such as Claude uses the URL of a JSON document it
publishes — ``https://claude.ai/oauth/mcp-oauth-client-metadata`` — as its ``client_id``.
The AS fetches that document and treats its contents like registered metadata.

Fetching a URL a stranger chose is a server-side request forgery risk, so the fetch goes
through :class:`~auth_server.public_fetch.PublicFetcher` (https only, allowed hosts, public
addresses, no redirects, size and time bounds). The document is cached per its
``Cache-Control: max-age`` (with a default and a cap).

A document describes what the client *can* do, and the AS picks what it will use:

* it must name itself (``client_id`` equal to the URL, byte for byte) and have a
  ``client_name`` and ``redirect_uris``;
* ``grant_types`` / ``response_types``: the supported values are kept, the others ignored
  (Claude lists the ``jwt-bearer`` grant too); only a document without
  ``authorization_code`` / ``code`` is refused (``clients.ClientMetadata``);
* **redirect URIs pass the operator's policy now**, not only when used: each one is checked
  against ``OAUTH_ALLOWED_REDIRECT_URIS`` (``redirect_uris.RedirectPolicy``), the allowed
  ones are kept, and a document left with none is refused. Whoever can publish a document
  on an allowed host must not be able to send codes to a host the operator never listed;
* the token-endpoint auth method is negotiated (OpenID Connect RP Metadata Choices) from the
  singular ``token_endpoint_auth_method`` and the plural
  ``token_endpoint_auth_methods_supported``: ``private_key_jwt`` when offered with a usable
  key set (``jwks_uri`` on an allowed host, or inline ``jwks``), else ``none`` when offered.
  A secret-based method is refused: a document anyone can read cannot hold a secret.

Residual risk, stated plainly: the address check and httpx's own connection resolve the
name separately, so a DNS-rebinding attacker controlling an *allowed* host's DNS could race
them. Keep the host allowlist tight in production (the default lists three hosts).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from auth_server.client_assertions import ASSERTION_ALGS
from auth_server.client_keys import ClientKeyError, parse_key_set
from auth_server.clients import SECRET_AUTH_METHODS, Client, ClientMetadata, describe_validation_error
from auth_server.errors import Refused
from auth_server.public_fetch import FetchRefused, PublicFetcher
from auth_server.redirect_uris import (
    RedirectPolicy,
    RedirectURIError,
    parse_redirect_uri,
    resolve_application_type,
)


class ClientMetadataError(Refused):
    """A metadata document that cannot be used; ``description`` says why and how to fix it."""


class ClientMetadataFetcher:
    """Fetches, validates and caches client metadata documents."""

    max_bytes = 5 * 1024
    max_cache_entries = 1000

    def __init__(
        self,
        fetcher: PublicFetcher,
        *,
        redirect_policy: RedirectPolicy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fetcher = fetcher
        self.redirect_policy = redirect_policy
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, Client]] = OrderedDict()

    async def aclose(self) -> None:
        await self.fetcher.aclose()

    @staticmethod
    def is_document_url(client_id: str) -> bool:
        return client_id.startswith("https://")

    async def get(self, url: str) -> Client:
        cached = self._cache.get(url)
        if cached and cached[0] > self._clock():
            return cached[1]
        self._cache.pop(url, None)
        try:
            raw, max_age = await self.fetcher.get_json(
                url, field="client_id", what="client metadata document", max_bytes=self.max_bytes
            )
        except FetchRefused as exc:
            raise ClientMetadataError(exc.description) from None
        client = self._validate(url, raw)
        if max_age > 0:
            self._cache[url] = (self._clock() + max_age, client)
            while len(self._cache) > self.max_cache_entries:
                self._cache.popitem(last=False)
        return client

    def _validate(self, url: str, raw: Any) -> Client:
        def refuse(problem: str) -> ClientMetadataError:
            return ClientMetadataError(f"the client metadata document at {url} {problem}")

        if not isinstance(raw, dict):
            raise refuse("is not a JSON object")
        if raw.get("client_id") != url:
            raise refuse(f"names client_id {raw.get('client_id')!r}; it must equal the document URL exactly")
        if not raw.get("client_name"):
            raise refuse("has no client_name")
        if "client_secret" in raw:
            raise refuse(
                "contains a client_secret; a document anyone can read cannot hold a secret, so it must "
                "describe a public client ('none') or one that signs with its own key ('private_key_jwt')"
            )
        try:
            auth_method = self._negotiate_auth_method(raw)
        except ClientMetadataError as exc:
            raise refuse(exc.description) from None
        try:
            metadata = ClientMetadata.model_validate({**raw, "token_endpoint_auth_method": auth_method})
        except ValidationError as exc:
            raise refuse(f"is invalid: {describe_validation_error(exc)}") from None
        try:
            redirect_uris, application_type = self._allowed_redirects(metadata)
        except RedirectURIError as exc:
            raise refuse(exc.description) from None
        stored = metadata.model_dump(exclude_none=True) | {
            "client_id": url,
            "redirect_uris": redirect_uris,
            "application_type": application_type,
        }
        return Client(client_id=url, metadata=stored, from_metadata_document=True)

    def _negotiate_auth_method(self, raw: dict[str, Any]) -> str:
        """``private_key_jwt`` if offered with usable keys, else ``none`` if offered; else refuse.

        The singular field is what the client would register with; the plural one (OpenID
        Connect RP Metadata Choices) lists every method it can use. A document that gives
        neither describes a public client, as documents always did before the plural existed.
        """
        singular = raw.get("token_endpoint_auth_method")
        plural = raw.get("token_endpoint_auth_methods_supported", [])
        if singular is not None and not isinstance(singular, str):
            raise ClientMetadataError("has a token_endpoint_auth_method that is not a string")
        if not isinstance(plural, list) or not all(isinstance(method, str) for method in plural):
            raise ClientMetadataError(
                "has a token_endpoint_auth_methods_supported that is not a list of strings"
            )
        offered = [*([singular] if singular else []), *plural] or ["none"]
        key_problem = self._key_problem(raw) if "private_key_jwt" in offered else None
        if "private_key_jwt" in offered and key_problem is None:
            return "private_key_jwt"
        if "none" in offered:
            return "none"
        if key_problem is not None:
            raise ClientMetadataError(f"offers private_key_jwt, but {key_problem}")
        secret_methods = [method for method in offered if method in SECRET_AUTH_METHODS or "secret" in method]
        if secret_methods:
            raise ClientMetadataError(
                f"asks for a client secret ({', '.join(secret_methods)}); a document anyone can read "
                "cannot hold a secret, so it must describe a public client ('none') or one that signs "
                "with its own key ('private_key_jwt' with a jwks_uri)"
            )
        raise ClientMetadataError(
            f"offers only token_endpoint_auth_method {', '.join(offered)}, which this server does not "
            "support; offer 'none' or 'private_key_jwt'"
        )

    def _key_problem(self, raw: dict[str, Any]) -> str | None:
        """Why the document's keys cannot verify its assertions, or ``None`` if they can."""
        alg = raw.get("token_endpoint_auth_signing_alg")
        if alg is not None and alg not in ASSERTION_ALGS:
            return f"its token_endpoint_auth_signing_alg {alg!r} is not one of {', '.join(ASSERTION_ALGS)}"
        jwks_uri, jwks = raw.get("jwks_uri"), raw.get("jwks")
        if jwks_uri is not None and jwks is not None:
            return "it gives both jwks_uri and jwks; RFC 7591 §2 allows one of them"
        if jwks is not None:
            try:
                parse_key_set(jwks, "its inline jwks")
            except ClientKeyError as exc:
                return exc.description
            return None
        if not isinstance(jwks_uri, str):
            return "it gives no jwks_uri (or jwks) to check its signatures with"
        try:
            self.fetcher.check_url(jwks_uri, field="jwks_uri")
        except FetchRefused as exc:
            return exc.description
        return None

    def _allowed_redirects(self, metadata: ClientMetadata) -> tuple[list[str], str]:
        """The document's redirect URIs this server allows, and the application_type they imply."""
        well_formed: list[str] = []
        refusals: list[str] = []
        for uri in metadata.redirect_uris:
            try:
                parse_redirect_uri(uri)
                well_formed.append(uri)
            except RedirectURIError as exc:
                refusals.append(exc.description)
        # application_type must fit every URI the client claims, allowed here or not.
        resolve_application_type(metadata.application_type, well_formed)
        allowed = []
        for uri in well_formed:
            try:
                self.redirect_policy.check(uri)
                allowed.append(uri)
            except RedirectURIError as exc:
                refusals.append(exc.description)
        if not allowed:
            raise RedirectURIError(f"has no redirect URI this server allows: {'; '.join(refusals)}")
        return allowed, resolve_application_type(metadata.application_type, allowed)
