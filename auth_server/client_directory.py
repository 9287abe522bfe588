"""Finding a client by ``client_id``, however it introduced itself (``clients.py``).

A ``client_id`` that is an HTTPS URL names a client metadata document
(``client_metadata_documents.py``); any other is looked up among the registered clients
(RFC 7591, ``registration.py``).
"""

from __future__ import annotations

from auth_server.client_metadata_documents import ClientMetadataFetcher
from auth_server.clients import Client
from auth_server.store import Store


class ClientDirectory:
    """Finds a client by ``client_id``: in the store, or by fetching its metadata document."""

    def __init__(self, store: Store, documents: ClientMetadataFetcher) -> None:
        self._store = store
        self.documents = documents

    async def find(self, client_id: str) -> Client | None:
        """The client, or None if unknown; a refused metadata document raises ``ClientMetadataError``."""
        if self.documents.is_document_url(client_id):
            return await self.documents.get(client_id)
        record = await self._store.get_client(client_id)
        return Client.from_record(record) if record else None
