"""The RS freezes its start-up objects out of the garbage collector's full passes (``RS_GC_TUNING``).

Why is in :func:`resource_server.__main__.tune_gc`; ``bench/peers.py`` measures the tail
latency with and without. These tests check the switch does what it says, in the app object
uvicorn serves (:func:`resource_server.__main__.served_app`, the factory in every worker).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

import resource_server.app
from resource_server.__main__ import served_app, tune_gc
from shared.settings import ConfigError, get_settings, load_settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Start and end with nothing frozen, so no other test runs with a frozen heap."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_tune_gc_takes_the_start_up_objects_out_of_full_passes(unfrozen: None) -> None:
    tracked_before = len(gc.get_objects())
    tune_gc()
    assert gc.get_freeze_count() >= tracked_before * 0.9  # ~everything alive at start-up
    # A full pass walks only what is tracked outside the permanent generation.
    assert len(gc.get_objects()) < tracked_before * 0.1
    assert gc.isenabled()  # cycles created from now on are still collected


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
