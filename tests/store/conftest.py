"""The engines every contract test runs against: SQLite (a file) and PostgreSQL (a real server)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.store.store_engines import ENGINES, Engine


def _empty(url: str) -> None:
    """Drop every table of the module's database, so each test starts from a first start."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "sqlite":
        return Engine("sqlite", tmp_path)
    url: str = request.getfixturevalue("postgres_url")
    _empty(url)
    return Engine("postgresql", tmp_path, url)
