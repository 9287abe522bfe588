"""The RS freezes its start-up objects out of the garbage collector's full passes (``RS_GC_TUNING``).

Why is in :func:`resource_server.__main__.start_up_heap_frozen`; ``bench/gc_pauses.py`` and
``bench/peers.py`` measure the passes and the tail latency with and without. These tests check
the switch does what it says, in the app object uvicorn serves
(:func:`resource_server.__main__.served_app`, the factory in every worker).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

import resource_server.app
from resource_server.__main__ import served_app, start_up_heap_frozen
from shared.settings import ConfigError, get_settings, load_settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Start and end with nothing frozen, so no other test runs with a frozen heap."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_start_up_runs_without_collections_and_ends_frozen(unfrozen: None) -> None:
    with start_up_heap_frozen():
        assert not gc.isenabled()  # no pass over objects that all live anyway
        built = [{"n": [i]} for i in range(10_000)]  # what building the app leaves behind
        tracked_before = len(gc.get_objects())
    assert gc.isenabled()  # cycles created from now on are still collected
    assert gc.get_freeze_count() >= tracked_before * 0.99  # all of it is out of the passes' reach
    assert len(gc.get_objects()) < tracked_before * 0.1  # what a full pass still walks
    assert len(built) == 10_000


def test_start_up_with_the_tuning_off_keeps_pythons_defaults(unfrozen: None) -> None:
    with start_up_heap_frozen(enabled=False):
        assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_the_heap_is_frozen_even_when_start_up_fails(unfrozen: None) -> None:
    with pytest.raises(RuntimeError), start_up_heap_frozen():
        raise RuntimeError("a bad configuration")
    assert gc.isenabled()


@pytest.mark.parametrize(("value", "frozen"), [("true", True), ("false", False)])
def test_the_served_app_is_tuned_unless_rs_gc_tuning_is_false(
    unfrozen: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, frozen: bool
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env
    monkeypatch.setenv("RS_GC_TUNING", value)
    get_settings.cache_clear()
    try:
        assert served_app() is resource_server.app.app
        assert (gc.get_freeze_count() > 0) is frozen
    finally:
        get_settings.cache_clear()


def test_rs_gc_tuning_is_on_by_default_and_a_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RS_GC_TUNING", raising=False)
    assert load_settings(_env_file=None).rs_gc_tuning is True
    with pytest.raises(ConfigError, match="RS_GC_TUNING"):
        load_settings(_env_file=None, rs_gc_tuning="sometimes")
