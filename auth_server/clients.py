"""What the AS knows about a client, however the client introduced itself.

A client is known in one of two ways:

* it **registered** (RFC 7591, ``registration.py``) and got a random ``client_id``; or
* its ``client_id`` is an **HTTPS URL** whose document describes it (Client ID Metadata
  Documents, ``client_metadata_documents.py``) — what the MCP authorization spec prefers.

Either way the rest of the server sees a :class:`Client`, looked up by
``client_directory.ClientDirectory.find``. The metadata fields and their bounds are defined once, in
:class:`ClientMetadata`, for both.

``grant_types`` and ``response_types`` describe what a client *can* do, and a client often
lists more than one server offers (Claude lists the RFC 7523 ``jwt-bearer`` grant). RFC 7591
§2 lets the server replace requested values with suitable ones, so both ways of introducing
a client keep the values this server supports and drop the rest; only a client that cannot
use the authorization code flow at all is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from auth_server.store import ClientRecord

MAX_REDIRECT_URIS = 10
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
SUPPORTED_GRANT_TYPES = ("authorization_code", "refresh_token")
SUPPORTED_RESPONSE_TYPES = ("code",)
GrantType = Literal["authorization_code", "refresh_token"]
AuthMethod = Literal["none", "client_secret_post", "client_secret_basic", "private_key_jwt"]
SECRET_AUTH_METHODS = frozenset({"client_secret_post", "client_secret_basic"})


def supported_only(values: Any, supported: tuple[str, ...]) -> Any:
    """The entries of ``values`` that are in ``supported``, once each and in order.

    Anything that is not a list of strings is returned unchanged, for the type check to refuse
    with its own precise message.
    """
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        return values
    return [value for index, value in enumerate(values) if value in supported and value not in values[:index]]


class ClientMetadata(BaseModel):
    """Client metadata (RFC 7591 §2) this AS understands; unknown fields are ignored (§2)."""

    model_config = ConfigDict(extra="ignore")

    redirect_uris: list[Url] = Field(min_length=1, max_length=MAX_REDIRECT_URIS)
    client_name: Text | None = None
    # RFC 7591 §2 defaults to client_secret_basic: a client that says nothing gets a secret.
    token_endpoint_auth_method: AuthMethod = "client_secret_basic"
    # RFC 7591 defaults grant_types to ["authorization_code"]; we add refresh_token so a client
    # that omits the field still gets the refresh tokens every MCP client expects.
    grant_types: list[GrantType] = Field(default=["authorization_code", "refresh_token"], max_length=2)
    response_types: list[Literal["code"]] = Field(default=["code"], max_length=1)
    # RFC 7591 §2 / RFC 7523: where the keys of a private_key_jwt client are (a URL or the set itself).
    jwks_uri: Url | None = None
    jwks: dict[str, Any] | None = None
    token_endpoint_auth_signing_alg: Annotated[str, StringConstraints(max_length=20)] | None = None
    application_type: Literal["web", "native"] | None = None
    scope: Annotated[str, StringConstraints(max_length=1000)] | None = None
    client_uri: Url | None = None
    logo_uri: Url | None = None
    tos_uri: Url | None = None
    policy_uri: Url | None = None
    contacts: list[Annotated[str, StringConstraints(max_length=320)]] | None = Field(
        default=None, max_length=10
    )
    software_id: Text | None = None
    software_version: Text | None = None

    @field_validator("grant_types", mode="before")
    @classmethod
    def _supported_grant_types(cls, values: Any) -> Any:
        return supported_only(values, SUPPORTED_GRANT_TYPES)

    @field_validator("response_types", mode="before")
    @classmethod
    def _supported_response_types(cls, values: Any) -> Any:
        return supported_only(values, SUPPORTED_RESPONSE_TYPES)

    @field_validator("grant_types")
    @classmethod
    def _needs_authorization_code(cls, values: list[str]) -> list[str]:
        if "authorization_code" not in values:
            raise ValueError(
                "must include 'authorization_code', the flow this server offers "
                f"(it supports {', '.join(SUPPORTED_GRANT_TYPES)})"
            )
        return values

    @field_validator("response_types")
    @classmethod
    def _needs_code(cls, values: list[str]) -> list[str]:
        if "code" not in values:
            raise ValueError("must include 'code', the only response type this server offers")
        return values


def describe_validation_error(exc: ValidationError) -> str:
    """The first pydantic error as one sentence naming the field."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    message = first["msg"].removeprefix("Value error, ")  # our own validators' messages read as sentences
    return f"{field}: {message}"


@dataclass(frozen=True)
class Client:
    client_id: str
    metadata: dict[str, Any]
    secret_hash: str | None = None
    from_metadata_document: bool = False

    @property
    def name(self) -> str:
        return str(self.metadata.get("client_name") or self.client_id)

    @property
    def redirect_uris(self) -> list[str]:
        return list(self.metadata["redirect_uris"])

    @property
    def grant_types(self) -> list[str]:
        return list(self.metadata.get("grant_types", ["authorization_code", "refresh_token"]))

    @property
    def scope(self) -> str | None:
        return self.metadata.get("scope")

    @property
    def auth_method(self) -> str:
        """How this client authenticates at the token endpoint (RFC 7591 §2)."""
        if self.secret_hash is not None:
            return "client_secret_basic"  # client_auth accepts Basic and post alike
        return str(self.metadata.get("token_endpoint_auth_method", "none"))

    @property
    def is_confidential(self) -> bool:
        """It proves who it is: with a secret, or with a key (``private_key_jwt``)."""
        return self.secret_hash is not None or self.auth_method == "private_key_jwt"

    @classmethod
    def from_record(cls, record: ClientRecord) -> Client:
        return cls(record.client_id, record.metadata, record.secret_hash)
