"""Fixtures for the security and reliability suite (RFC 9700, MCP authorization spec).

The suite reuses the fixtures and helpers of the other test folders instead of copying them:

* ``as_client`` / ``make_client`` / ``documents`` — the AS app in-process (``tests/auth_server/conftest.py``);
* ``rs`` / ``start_rs`` / ``fake_as`` — the RS app against a fake AS (``tests/resource_server/conftest.py``);
* ``tests/auth_server/as_flow_helpers.py`` and ``tests/resource_server/rs_support.py`` for flows and tokens;
* :func:`mcp_oauth_demo.launcher.running_pair` for real processes (``live_pair``).

Bounds. The load, fault and fuzz tests run a small bound by default (CI, a 2-core machine
shared with other suites) and a larger one when asked::

    SECURITY_FULL=1 .venv/bin/python -m pytest tests/security
    .venv/bin/python -m pytest tests/security --full-load

(``--full-load`` is only known when ``tests/security`` is on the command line, since pytest
reads this file's options only for the folders it is given; ``SECURITY_FULL=1`` works always.)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parents[1]
# The other folders' helpers import each other by bare module name (pytest's "prepend" import
# mode puts a test's own folder on sys.path); make that hold when only this folder is collected.
for _path in (_TESTS.parent, _TESTS / "resource_server", _TESTS / "auth_server"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from mcp_oauth_demo.launcher import Pair, running_pair  # noqa: E402
from tests.auth_server.conftest import (  # noqa: E402, F401 - fixtures re-exported for this folder
    _clean_environment,
    as_client,
    documents,
    make_client,
)
from tests.resource_server.conftest import fake_as, rs, start_rs  # noqa: E402, F401


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--full-load",
        action="store_true",
        default=False,
        help="security suite: run the load, fault and fuzz tests with their full bounds (or SECURITY_FULL=1)",
    )


@dataclass(frozen=True)
class Bounds:
    """How much load and fuzzing to do: small by default, full with ``--full-load``/``SECURITY_FULL=1``."""

    full: bool

    @property
    def registrations(self) -> int:
        return 1000 if self.full else 300

    @property
    def notes(self) -> int:
        return 1000 if self.full else 200

    @property
    def concurrency(self) -> int:
        return 64 if self.full else 32

    @property
    def fuzz_examples(self) -> int:
        return 200 if self.full else 12


@pytest.fixture(scope="session")
def bounds(request: pytest.FixtureRequest) -> Bounds:
    option = bool(request.config.getoption("--full-load", default=False))
    return Bounds(full=option or os.environ.get("SECURITY_FULL", "") not in ("", "0"))


@pytest.fixture(scope="module")
def live_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Both servers as real processes on free 127.0.0.1 ports, SQLite store, one per module."""
    with running_pair(tmp_path_factory.mktemp("pair")) as pair:
        yield pair
