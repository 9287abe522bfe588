"""Running :mod:`bench.loadgen` in its own process, and what it measured (:class:`LoadResult`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.loadgen import Job
from bench.processes import REPO_ROOT, cpu_seconds
from bench.report import percentile


@dataclass
class LoadResult:
    count: int
    errors: int
    error_sample: str
    elapsed: float
    cpu_sec: float
    latencies: list[float]
    as_requests: int = 0  # requests the AS answered during the measured window
    server_cpu_sec: float = 0.0  # CPU time the server under test used during the measured window

    @property
    def rps(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)

    @property
    def server_cpu_us_per_request(self) -> float:
        """Server CPU per answered request, in µs (0 when not measured)."""
        return self.server_cpu_sec / self.count * 1e6 if self.count else float("nan")

    @property
    def generator_cpu(self) -> float:
        """Share of one core the load generator used (near 100 % would mean it is the bottleneck)."""
        return self.cpu_sec / self.elapsed if self.elapsed else 0.0


def run_load(
    job: Job,
    *,
    as_counter: Callable[[], int] | None = None,
    server_pid: int | None = None,
    on_warm: Callable[[], None] | None = None,
    timeout: float = 600,
) -> LoadResult:
    """Run :mod:`bench.loadgen` in its own process.

    ``as_counter`` (e.g. :func:`as_request_count`) is read when warm-up ends and again at the
    end: ``LoadResult.as_requests`` is what the AS answered during the measured window.
    With ``server_pid``, ``LoadResult.server_cpu_sec`` is that server's CPU time in the window.
    ``on_warm`` is called when warm-up ends (to snapshot anything else).
    """
    at_warm = 0
    cpu_at_warm = 0.0
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen"],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(json.dumps(asdict(job)))
        process.stdin.close()
        deadline = time.monotonic() + timeout
        result: dict[str, Any] | None = None
        for line in process.stdout:
            event = json.loads(line)
            if event["event"] == "warm":
                at_warm = as_counter() if as_counter else 0
                cpu_at_warm = cpu_seconds(server_pid) if server_pid else 0.0
                if on_warm:
                    on_warm()
            elif event["event"] == "done":
                result = event
                latencies_file = Path(result.pop("latencies_path"))
                result["latencies"] = json.loads(latencies_file.read_text())
                latencies_file.unlink()
                result["as_requests"] = as_counter() - at_warm if as_counter else 0
                result["server_cpu_sec"] = cpu_seconds(server_pid) - cpu_at_warm if server_pid else 0.0
            if time.monotonic() > deadline:
                break
        process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if result is None:
        raise RuntimeError(f"the load generator failed (exit code {process.returncode})")
    result.pop("event")
    return LoadResult(**result)
