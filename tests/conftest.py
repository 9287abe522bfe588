"""What every test folder shares. ``tests`` is a package: helpers are imported as ``tests.<folder>.<module>``.

The in-process fixtures of each server are plugins (``as_client``, ``make_client``, ``documents``,
``clean_environment`` from ``tests/auth_server/fixtures.py``; ``rs``, ``start_rs``, ``fake_as`` from
``tests/resource_server/fixtures.py``), and ``live_pair`` starts both servers as real processes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mcp_oauth_demo.launcher import Pair, running_pair

pytest_plugins = ("tests.auth_server.fixtures", "tests.resource_server.fixtures")


@pytest.fixture(scope="module")
def live_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """One AS + RS pair per test module, with a fresh DATA_DIR (SQLite store, ES256 keys)."""
    with running_pair(tmp_path_factory.mktemp("pair")) as pair:
        yield pair
