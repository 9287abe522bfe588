"""Test support for the authorization server that is not a fixture: settings and a fake web.

Imported as ``tests.auth_server.as_support`` from any test folder; the fixtures built on it are
in ``tests/auth_server/fixtures.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from shared.settings import Settings, load_settings

ISSUER = "http://localhost:4000"
PUBLIC_IP = "93.184.215.14"


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    return load_settings(_env_file=None, data_dir=data_dir, auth_issuer=ISSUER, **overrides)


class Documents:
    """A fake internet for client metadata documents: URL → handler, host → addresses."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[httpx.Request], Any]] = {}
        self.addresses: dict[str, list[str]] = {}
        self.fetches: list[str] = []

    def serve(self, url: str, document: dict[str, Any] | None = None, **response: Any) -> None:
        self.handlers[url] = lambda _request: httpx.Response(
            **({"status_code": 200, "json": document} | response)
        )

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.fetches.append(str(request.url))
        handler = self.handlers.get(str(request.url))
        if handler is None:
            return httpx.Response(404)
        result = handler(request)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    async def resolve(self, host: str, port: int) -> list[str]:
        return self.addresses.get(host, [PUBLIC_IP])
