"""Fixtures every test directory may use: a PostgreSQL server started once per session."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from mcp_oauth_demo.pg_cluster import Cluster, ClusterUnavailable, start_cluster


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """One throw-away PostgreSQL server for the session; skips where the binaries are absent."""
    try:
        cluster = start_cluster()
    except ClusterUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def postgres_url(postgres_cluster: Cluster, request: pytest.FixtureRequest) -> str:
    """The URL of an empty database of its own for each test module."""
    prefix = re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1])[:40]
    return postgres_cluster.new_database(prefix)
