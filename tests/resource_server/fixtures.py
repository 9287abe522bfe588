"""Fixtures for the resource server: the real ASGI app (lifespan included) against a fake AS.

A pytest plugin (``tests/conftest.py`` loads it), so every test folder can ask for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from resource_server.app import create_app
from tests.resource_server.rs_support import (
    RS_BASE_URL,
    AppFactory,
    FakeAuthServer,
    Rpc,
    RunningRS,
    make_settings,
)


@pytest.fixture
def fake_as() -> FakeAuthServer:
    return FakeAuthServer()


@pytest.fixture
def start_rs(tmp_path: Path, fake_as: FakeAuthServer) -> Iterator[AppFactory]:
    """Start an RS (lifespan and SDK session manager included) with setting overrides."""
    stack: list[TestClient] = []

    def start(*, base_url: str = RS_BASE_URL, **overrides: Any) -> RunningRS:
        settings = make_settings(tmp_path, **overrides)
        client = TestClient(create_app(settings, http_client=fake_as.client()), base_url=base_url)
        client.__enter__()
        stack.append(client)
        return RunningRS(client=client, rpc=Rpc(client), fake_as=fake_as, settings=settings)

    yield start
    for client in reversed(stack):
        client.__exit__(None, None, None)


@pytest.fixture
def rs(start_rs: AppFactory) -> RunningRS:
    """An RS in ``TOOL_AUTH_CHALLENGE=http`` mode with an in-memory store."""
    return start_rs()
