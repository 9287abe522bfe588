"""The resource server's notes store, against SQLite and against a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from resource_server.notes_storage import open_notes_store
from resource_server.notes_store import Notes, RequestIdReused
from shared.settings import load_settings
from tests.store.store_engines import Engine


def run(engine: Engine, scenario: Callable[..., Awaitable[Any]], stores: int = 1) -> Any:
    async def main() -> Any:
        settings = load_settings(_env_file=None, data_dir=engine.data_dir, database_url=engine.database_url)
        opened: list[Notes] = []
        try:
            for _ in range(stores):
                opened.append(await open_notes_store(settings))
            return await scenario(*opened)
        finally:
            for store in opened:
                await store.aclose()

    return anyio.run(main)


def test_notes_are_private_and_newest_first(engine: Engine) -> None:
    async def scenario(store: Notes) -> None:
        for text in ("first", "second", "third"):
            await store.add("user-alex", text)
        await store.add("user-sam", "sam's")
        assert [n.text for n in await store.list("user-alex")] == ["third", "second", "first"]
        assert [n.text for n in await store.list("user-alex", limit=2)] == ["third", "second"]
        assert [n.text for n in await store.list("user-sam")] == ["sam's"]
        assert await store.list("nobody") == []

    run(engine, scenario)


def test_a_request_id_stores_once_across_connections(engine: Engine) -> None:
    async def scenario(first: Notes, second: Notes) -> None:
        results: list[Any] = []

        async def one(store: Notes) -> None:
            results.append(await store.add("user-alex", "only once", request_id="r-1"))

        async with anyio.create_task_group() as group:
            for n in range(20):
                group.start_soon(one, [first, second][n % 2])
        assert sum(created for _, created in results) == 1
        assert len({note.id for note, _ in results}) == 1
        assert [n.text for n in await second.list("user-alex")] == ["only once"]
        # Another owner's request_id is another key; a different text under the same key is refused.
        _, created = await first.add("user-sam", "mine", request_id="r-1")
        assert created
        with pytest.raises(RequestIdReused, match="already saved a different note"):
            await second.add("user-alex", "something else", request_id="r-1")

    run(engine, scenario, stores=2)


def test_notes_survive_reopening(engine: Engine) -> None:
    async def write(store: Notes) -> None:
        await store.add("user-alex", "durable")

    async def read(store: Notes) -> None:
        assert [n.text for n in await store.list("user-alex")] == ["durable"]

    run(engine, write)
    run(engine, read)
