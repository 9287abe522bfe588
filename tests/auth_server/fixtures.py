"""Fixtures for the authorization server: a fresh app and DATA_DIR per test.

A pytest plugin (``tests/conftest.py`` loads it), so every test folder can ask for them.

``as_client`` is a starlette ``TestClient`` on a new app whose lifespan has run, with
``DATA_DIR`` in the test's ``tmp_path``; ``make_client`` builds more (e.g. a restart on the
same directory). ``documents`` simulates hosts serving client metadata documents. The flow
helpers (``register_client``, ``authorize_in_browser``, ``get_tokens`` …) are in
``as_flow_helpers.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from auth_server.app import create_app
from shared.settings import Settings
from tests.auth_server.as_support import ISSUER, Documents, make_settings


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test passes configures the server, never the developer's shell.

    The folders that build servers in-process use it for every test (their ``conftest.py``).
    """
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def documents() -> Documents:
    return Documents()


@pytest.fixture
def make_client(tmp_path: Path, documents: Documents) -> Iterator[Callable[..., TestClient]]:
    with ExitStack() as stack:

        def factory(data_dir: Path = tmp_path, **overrides: Any) -> TestClient:
            http_client = httpx.AsyncClient(transport=httpx.MockTransport(documents.handle))
            app = create_app(
                make_settings(data_dir, **overrides), http_client=http_client, resolver=documents.resolve
            )
            return stack.enter_context(TestClient(app, base_url=ISSUER))

        yield factory


@pytest.fixture
def as_client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
