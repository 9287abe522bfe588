"""Bench 4 — cold start: from spawning both servers to both answering their metadata.

What ``honcho start`` does: ``python -m auth_server`` and ``python -m resource_server``
are spawned together; the clock runs until the AS answers RFC 8414 metadata and the RS
answers RFC 9728 metadata (HTTP 200), polled every 50 ms. Two cases per run:

* **first start** — a new empty ``DATA_DIR``: the AS creates its SQLite store and its
  signing key;
* **restart** — the same ``DATA_DIR`` again: store and key are read back.

Most of the time is Python importing the stack (FastAPI, pydantic, the ``mcp`` SDK,
cryptography), so the table also shows floors, spawned and polled the same way. The floor
pair is two processes started together like the demo's: the smallest FastAPI app on uvicorn
(:mod:`bench.floor_app`, in the AS column) and the smallest Starlette app after ``import mcp``
(in the RS column) — the least the two stacks can take on the machine. The
distance from the floor pair to the real pair is the demo's own start-up work.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.processes import (
    READY_TIMEOUT_SEC,
    bench_environment,
    rs_environment,
    spawn,
    temp_data_dir,
)
from bench.report import Verdict, arguments, percentile, print_machine, print_table, print_verdicts
from mcp_oauth_demo.launcher import (
    AS_READY_PATH,
    RS_READY_PATH,
    ServerProcess,
    free_port,
    launch_server,
    wait_ready,
)

READY_TARGET_SEC = 2.0


def start_both(data_dir: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """Seconds from spawn until the AS, the RS, and both were ready."""
    started = time.monotonic()
    auth = spawn("auth", "auth_server", env, AS_READY_PATH, data_dir)
    rs = spawn("rs", "resource_server", rs_environment(env), RS_READY_PATH, data_dir)
    return _time_ready([auth, rs], started)


def _time_ready(servers: list[ServerProcess], started: float) -> tuple[float, float, float]:
    """Seconds from ``started`` until each of two servers answered, and until both had; stops them."""
    try:

        def ready(server: ServerProcess) -> float:
            wait_ready(server, timeout=READY_TIMEOUT_SEC)
            return time.monotonic() - started

        with ThreadPoolExecutor(2) as pool:
            first, second = pool.map(ready, servers)
        return first, second, max(first, second)
    finally:
        for server in servers:
            server.stop()


def _spawn_floor(data_dir: Path, env: dict[str, str], *, import_mcp: bool) -> ServerProcess:
    port = free_port()
    floor_env = {**env, "FLOOR_PORT": str(port), "FLOOR_IMPORT_MCP": "1" if import_mcp else "0"}
    name = "floor-mcp" if import_mcp else "floor-fastapi"
    return launch_server(name, "bench.floor_app", floor_env, f"http://127.0.0.1:{port}/ready", data_dir)


def floor_pair(data_dir: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """The floor started like the demo: two :mod:`bench.floor_app` processes at once, one
    importing ``mcp`` (the RS's floor) and one not (the AS's)."""
    started = time.monotonic()
    servers = [_spawn_floor(data_dir, env, import_mcp=False), _spawn_floor(data_dir, env, import_mcp=True)]
    return _time_ready(servers, started)


def interpreter_floor() -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.monotonic() - started


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(__doc__, argv)
    runs = 1 if args.quick else 5
    print_machine()
    first: list[tuple[float, float, float]] = []
    again: list[tuple[float, float, float]] = []
    floors: list[tuple[float, float, float]] = []
    for _ in range(runs):
        with temp_data_dir() as data_dir:
            env = bench_environment(data_dir)
            first.append(start_both(data_dir, env))
            again.append(start_both(data_dir, env))
            floors.append(floor_pair(data_dir, env))
    floor = percentile([interpreter_floor() for _ in range(runs)], 50)

    def row(name: str, samples: list[tuple[float, float, float]]) -> list[str]:
        return [
            name,
            *(f"{percentile([s[i] for s in samples], 50):.2f}" for i in range(3)),
            f"{max(s[2] for s in samples):.2f}",
        ]

    print_table(
        f"bench 4 — cold start, spawn → metadata answered (median of {runs}, seconds)",
        ["case", "AS ready", "RS ready", "both ready", "worst both"],
        [
            row("first start (new DATA_DIR)", first),
            row("restart (same DATA_DIR)", again),
            row("floor: bare FastAPI app ‖ Starlette + import mcp", floors),
            ["floor: python -c pass", f"{floor:.2f}", "—", "—", "—"],
        ],
    )
    worst = max(s[2] for s in first + again)
    above_floor = percentile([s[2] for s in first + again], 50) - percentile([s[2] for s in floors], 50)
    print(f"the demo's own start-up work, above the floor pair (medians): {above_floor:+.2f} s")
    median = percentile([s[2] for s in first + again], 50)
    print_verdicts(
        [
            Verdict(
                "both servers ready, median",
                f"{median:.2f} s",
                f"≤ {READY_TARGET_SEC:g} s",
                median <= READY_TARGET_SEC,
            ),
            Verdict(
                "both servers ready, worst run",
                f"{worst:.2f} s",
                f"≤ {READY_TARGET_SEC:g} s",
                worst <= READY_TARGET_SEC,
            ),
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
