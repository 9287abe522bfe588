"""What every test folder shares. ``tests`` is a package: helpers are imported as ``tests.<folder>.<module>``.

The in-process fixtures of each server are plugins (``as_client``, ``make_client``, ``documents``,
``clean_environment`` from ``tests/auth_server/fixtures.py``; ``rs``, ``start_rs``, ``fake_as`` from
``tests/resource_server/fixtures.py``); ``live_pair`` starts both servers as real processes, and
``postgres_cluster`` / ``postgres_url`` give a throw-away PostgreSQL server once per session.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from mcp_oauth_demo.launcher import Pair, running_pair
from mcp_oauth_demo.pg_cluster import Cluster, ClusterUnavailable, start_cluster

pytest_plugins = ("tests.auth_server.fixtures", "tests.resource_server.fixtures")


@pytest.fixture(scope="module")
def live_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """One AS + RS pair per test module, with a fresh DATA_DIR (SQLite store, ES256 keys)."""
    with running_pair(tmp_path_factory.mktemp("pair")) as pair:
        yield pair


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
