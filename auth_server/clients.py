"""What the AS knows about a client, however the client introduced itself.

A client is known in one of two ways:

* it **registered** (RFC 7591, ``registration.py``) and got a random ``client_id``; or
* its ``client_id`` is an **HTTPS URL** whose document describes it (Client ID Metadata
  Documents, ``client_metadata_documents.py``) — what the MCP authorization spec prefers.

Either way the rest of the server sees a :class:`Client`, looked up by
:meth:`ClientDirectory.find`. The metadata fields and their bounds are defined once, in
:class:`ClientMetadata`, for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from auth_server.store import ClientRecord, Store

if TYPE_CHECKING:
    from auth_server.client_metadata_documents import ClientMetadataFetcher

MAX_REDIRECT_URIS = 10
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
GrantType = Literal["authorization_code", "refresh_token"]
AuthMethod = Literal["none", "client_secret_post", "client_secret_basic"]


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


def describe_validation_error(exc: ValidationError) -> str:
    """The first pydantic error as one sentence naming the field."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{field}: {first['msg']}"


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
    def is_confidential(self) -> bool:
        return self.secret_hash is not None

    @classmethod
    def from_record(cls, record: ClientRecord) -> Client:
        return cls(record.client_id, record.metadata, record.secret_hash)


class ClientDirectory:
    """Finds a client by ``client_id``: in the store, or by fetching its metadata document."""

    def __init__(self, store: Store, documents: ClientMetadataFetcher) -> None:
        self._store = store
        self.documents = documents

    async def find(self, client_id: str) -> Client | None:
        """The client, or None if unknown; a refused metadata document raises ``ClientMetadataError``."""
        if self.documents.is_document_url(client_id):
            return await self.documents.get(client_id)
        record = self._store.get_client(client_id)
        return Client.from_record(record) if record else None
