"""What the garbage collector did inside a server process: passes and pauses per generation.

:mod:`bench.gc_pauses` needs to see inside the RS: how often each generation was collected and
how long every pass held the process (and so every request in flight). :class:`GcRecorder`
hangs on ``gc.callbacks`` — CPython calls it at the start and the end of every collection —
and :func:`stats_route` serves the running totals at ``GET /bench/gc``. Only the benchmark
apps mount it (:mod:`bench.rs_app`, :mod:`bench.peer_sdk`), and only with ``BENCH_GC_STATS=1``:
the shipped RS has neither.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

GC_STATS_PATH = "/bench/gc"


class GcRecorder:
    """Counts and times every collection, per generation; keeps each full pass's pause."""

    def __init__(self) -> None:
        self.passes = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.full_pauses: list[float] = []  # generation 2, in seconds
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        generation = info["generation"]
        self.passes[generation] += 1
        self.seconds[generation] += pause
        if generation == 2:
            self.full_pauses.append(pause)

    def install(self) -> GcRecorder:
        gc.callbacks.append(self)
        return self

    def snapshot(self) -> dict[str, Any]:
        return {
            "passes": list(self.passes),
            "seconds": list(self.seconds),
            "full_pauses": list(self.full_pauses),
            "tracked": len(gc.get_objects()),  # what a full pass walks
            "frozen": gc.get_freeze_count(),  # what it no longer walks (gc.freeze)
            "threshold": list(gc.get_threshold()),
        }


def stats_endpoint(recorder: GcRecorder) -> Callable[[Request], Awaitable[JSONResponse]]:
    """A Starlette endpoint answering ``recorder``'s totals."""

    async def stats(_: Request) -> JSONResponse:
        return JSONResponse(recorder.snapshot())

    return stats


def stats_route(recorder: GcRecorder) -> Route:
    return Route(GC_STATS_PATH, stats_endpoint(recorder), methods=["GET"])
