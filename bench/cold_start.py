"""Bench 4 — cold start: from spawning both servers to both answering their metadata.

What ``honcho start`` does: ``python -m auth_server`` and ``python -m resource_server``
are spawned together; the clock runs until the AS answers RFC 8414 metadata and the RS
answers RFC 9728 metadata (HTTP 200), polled every 50 ms. Two cases per run:

* **first start** — a new empty ``DATA_DIR``: the AS creates its SQLite store and its
  signing key;
* **restart** — the same ``DATA_DIR`` again: store and key are read back.

Most of the time is Python importing the stack (FastAPI, pydantic, the ``mcp`` SDK,
cryptography), so the table also shows a bare ``python -c pass`` spawn as the floor.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import (
    AS_READY_PATH,
    READY_TIMEOUT_SEC,
    RS_READY_PATH,
    Verdict,
    arguments,
    bench_environment,
    percentile,
    print_machine,
    print_table,
    print_verdicts,
    rs_environment,
    spawn,
    temp_data_dir,
)
from mcp_oauth_demo.launcher import ServerProcess, wait_ready

READY_TARGET_SEC = 2.0


def start_both(data_dir: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """Seconds from spawn until the AS, the RS, and both were ready."""
    started = time.monotonic()
    auth = spawn("auth", "auth_server", env, AS_READY_PATH, data_dir)
    rs = spawn("rs", "resource_server", rs_environment(env), RS_READY_PATH, data_dir)
    servers = [auth, rs]
    try:

        def ready(server: ServerProcess) -> float:
            wait_ready(server, timeout=READY_TIMEOUT_SEC)
            return time.monotonic() - started

        with ThreadPoolExecutor(2) as pool:
            auth_sec, rs_sec = pool.map(ready, servers)
        return auth_sec, rs_sec, max(auth_sec, rs_sec)
    finally:
        for server in servers:
            server.stop()


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
    for _ in range(runs):
        with temp_data_dir() as data_dir:
            env = bench_environment(data_dir)
            first.append(start_both(data_dir, env))
            again.append(start_both(data_dir, env))
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
            ["python -c pass", f"{floor:.2f}", "—", "—", "—"],
        ],
    )
    worst = max(s[2] for s in first + again)
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
