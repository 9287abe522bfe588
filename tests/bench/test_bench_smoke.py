"""The benchmarks keep working: ``python -m bench --quick`` exits 0 and prints every table.

This checks that the scripts run end to end (servers start, the OAuth flow completes, the
load generator talks to the RS), not the numbers — benchmarks are not timed tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.run_all import BENCHMARKS

REPO_ROOT = Path(__file__).resolve().parents[2]
TABLES = [
    "## bench 1 — RS throughput",
    "## bench 1 — ratios",
    "## bench 1 — scale-out",
    "## bench 1b — RS CPU per request, in process",
    "## bench 1c — authed tools/call CPU with and without the trace",
    "## bench 2 — token verification",
    "## bench 3 — full OAuth dance",
    "## bench 4 — cold start",
    "## bench 5 — RSS",
]


@pytest.mark.e2e
@pytest.mark.timeout(660)
def test_run_all_quick_prints_every_table() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        # About a minute on a quiet machine; the bound is generous because each run starts several
        # server processes, and a busy 2-core CI machine makes each start take many seconds.
        timeout=600,
    )
    output = completed.stdout
    assert completed.returncode == 0, output[-3000:] + completed.stderr[-3000:]
    for title in TABLES:
        assert title in output, f"missing table {title!r}:\n{output[-3000:]}"
    assert output.count("## targets") == len(BENCHMARKS), output[-3000:]  # one verdict table each
