"""The benchmarks keep working: ``python -m bench --quick`` exits 0 and prints every table.

That includes bench 6 (``bench.peers``), which starts the peers (the plain SDK server, FastMCP
when installed, a bare Starlette route) beside the RS.

This checks that the scripts run end to end (servers start, the OAuth flow completes, the
load generator talks to the RS), not the numbers — benchmarks are not timed tests.
"""

from __future__ import annotations

import importlib.util
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
    "## bench 6 — peers, tools/call at 8 clients",
    "## bench 6 — the RS's authed auth_whoami against each row",
    "## bench 6 — cold start, spawn → first successful authed tools/call",
    "## bench 7 — GC pauses in the RS",
]
# Every server bench.peers compares, FastMCP's only when it is installed (the `bench` extra).
PEER_ROWS = [
    "RS auth_whoami (authed)",
    "RS, GC untuned (authed)",
    "SDK + bearer auth (authed)",
    "SDK, no auth",
    "Starlette route",
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
    for row in PEER_ROWS:
        assert f"\n{row} " in output, f"bench.peers has no row {row!r}:\n{output[-3000:]}"
    if importlib.util.find_spec("fastmcp") is None:
        assert "FastMCP rows skipped: fastmcp is not installed" in output and "[bench]" in output
    else:
        assert "\nFastMCP JWTVerifier (authed) " in output
