"""Fixtures for end-to-end tests: both servers as real processes on free 127.0.0.1 ports.

``live_pair`` (one pair per module) is in ``tests/conftest.py``; ``shared_pair`` is one for the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_oauth_demo.launcher import Pair, running_pair
from tests.e2e.node_tools import NodeTools, NodeToolsUnavailable, ensure_node_tools

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def shared_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """One default AS + RS pair for the whole session, for modules that only read or add state.

    A cold start costs seconds of CPU (the RS imports the mcp SDK), so modules that do not need
    a fresh DATA_DIR or special settings share this one instead of starting their own.
    """
    with running_pair(tmp_path_factory.mktemp("shared-pair")) as pair:
        yield pair


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests save screenshots and logs for a person to look at (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def node_tools() -> NodeTools:
    """Node 22, the MCP conformance suite and the MCP Inspector CLI (installed on first use)."""
    try:
        return ensure_node_tools()
    except NodeToolsUnavailable as exc:
        pytest.skip(f"Node tools unavailable: {exc}")
