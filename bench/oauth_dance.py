"""Bench 3 — the whole OAuth dance over HTTP on loopback, as a new MCP client performs it.

Each run is a new client with a fresh cookie jar: discovery (RFC 9728 protected-resource
metadata, then RFC 8414 AS metadata) → dynamic client registration (RFC 7591) → the
authorization request with PKCE and ``resource`` → login → consent → the code exchange →
``initialize`` and the first authed ``tools/call notes_list``. The user's part is played by
:mod:`mcp_oauth_demo.user_agent`, so every form post, cookie and redirect is real.

Reported: median and p95 of the total over the runs, and the median of each step, which
shows where the time goes. Both servers run as real processes (``STORE=sqlite``).
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from bench.processes import bench_pair, temp_data_dir
from bench.report import Verdict, arguments, ms, percentile, print_machine, print_table, print_verdicts
from bench.tokens import Dance, oauth_dance

MEDIAN_TARGET_SEC = 0.100


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(__doc__, argv)
    runs = 3 if args.quick else 50
    print_machine()
    dances: list[Dance] = []
    with temp_data_dir() as data_dir, bench_pair(data_dir) as pair:
        # One unmeasured run: the RS fetches the JWKS once, both processes touch every code path.
        with httpx.Client(timeout=10) as http:
            oauth_dance(pair, http, client_name="bench-warmup")
        for run in range(runs):
            with httpx.Client(timeout=10) as http:  # built before the clock starts, like a running client
                dances.append(oauth_dance(pair, http, client_name=f"bench-dance-{run}"))
    totals = [d.total for d in dances]
    step_rows = [
        [
            step,
            ms(percentile([d.steps[step] for d in dances], 50)),
            ms(percentile([d.steps[step] for d in dances], 95)),
        ]
        for step in dances[0].steps
    ]
    step_rows.append(["total", ms(percentile(totals, 50)), ms(percentile(totals, 95))])
    print_table(
        f"bench 3 — full OAuth dance over loopback HTTP ({runs} runs)",
        ["step", "median ms", "p95 ms"],
        step_rows,
    )
    median = percentile(totals, 50)
    print_verdicts(
        [
            Verdict(
                "full dance, median",
                f"{ms(median)} ms",
                f"≤ {MEDIAN_TARGET_SEC * 1000:.0f} ms",
                median <= MEDIAN_TARGET_SEC,
            )
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
