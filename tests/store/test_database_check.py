"""The doctor's database check against a real PostgreSQL, an unreachable one, and SQLite."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from auth_server.storage import open_store
from auth_server.store_postgres import MIGRATIONS
from mcp_oauth_demo.doctor.database import check_database
from shared.settings import load_settings


def test_postgresql_before_and_after_the_first_start(postgres_url: str, tmp_path: Path) -> None:
    settings = load_settings(_env_file=None, data_dir=tmp_path, database_url=postgres_url)
    status, message, _ = check_database(settings)
    assert status == "warn" and "no tables yet" in message and "PostgreSQL 1" in message

    async def first_start() -> None:
        await (await open_store(settings)).close()

    anyio.run(first_start)
    status, message, fix = check_database(settings)
    assert (status, fix) == ("ok", None) and f"schema auth_server v{len(MIGRATIONS)}" in message


def test_an_unreachable_server_fails_with_the_fix(tmp_path: Path) -> None:
    settings = load_settings(
        _env_file=None, data_dir=tmp_path, database_url="postgresql://u:secret@127.0.0.1:1/db"
    )
    status, message, fix = check_database(settings)
    assert status == "fail" and message.startswith("DATABASE_URL (127.0.0.1:1/db): cannot connect")
    assert "secret" not in message and fix and "DATABASE_URL" in fix


@pytest.mark.parametrize(("store", "status"), [("sqlite", "ok"), ("memory", "warn")])
def test_without_database_url(tmp_path: Path, store: str, status: str) -> None:
    settings = load_settings(_env_file=None, data_dir=tmp_path, store=store)
    assert check_database(settings)[0] == status
