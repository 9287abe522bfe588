"""Fixtures for end-to-end tests: both servers as real processes on free 127.0.0.1 ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_oauth_demo.launcher import Pair, running_pair

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def live_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """One AS + RS pair per test module, with a fresh DATA_DIR (SQLite store, ES256 keys)."""
    with running_pair(tmp_path_factory.mktemp("pair")) as pair:
        yield pair


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests save screenshots and logs for a person to look at (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
