"""Fixtures for the security and reliability suite (RFC 9700, MCP authorization spec).

The suite reuses the fixtures and helpers of the other test folders instead of copying them:

* ``as_client`` / ``make_client`` / ``documents`` — the AS app in-process (``tests/auth_server/fixtures.py``);
* ``rs`` / ``start_rs`` / ``fake_as`` — the RS app against a fake AS (``tests/resource_server/fixtures.py``);
* ``tests.auth_server.as_flow_helpers`` and ``tests.resource_server.rs_support`` for flows and tokens;
* ``live_pair`` (``tests/conftest.py``) for both servers as real processes.

Bounds. The load, fault and fuzz tests run a small bound by default (CI, a 2-core machine
shared with other suites) and a larger one when asked::

    SECURITY_FULL=1 .venv/bin/python -m pytest tests/security
    .venv/bin/python -m pytest tests/security --full-load

(``--full-load`` is only known when ``tests/security`` is on the command line, since pytest
reads this file's options only for the folders it is given; ``SECURITY_FULL=1`` works always.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest


@pytest.fixture(autouse=True)
def _clean_environment(clean_environment: None) -> None:
    """Every test here configures the servers only through what it passes."""


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
