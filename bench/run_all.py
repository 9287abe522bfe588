"""Run every benchmark in turn (``python -m bench [--quick]``); each prints its own tables.

The order puts the cheap, in-process measurement first and the long load runs last. A
benchmark that crashes is reported and the others still run; the exit status is 1 if any
crashed (a missed target is printed with ✖ but is not a failure: benchmarks are not tests).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence

from bench import (
    cold_start,
    gc_pauses,
    memory,
    oauth_dance,
    peers,
    rs_cpu,
    rs_throughput,
    trace_cost,
    verify_tokens,
)
from bench.report import arguments

BENCHMARKS: list[tuple[str, Callable[[Sequence[str]], int]]] = [
    ("verify_tokens", verify_tokens.main),
    ("rs_cpu", rs_cpu.main),
    ("trace_cost", trace_cost.main),
    ("cold_start", cold_start.main),
    ("oauth_dance", oauth_dance.main),
    ("rs_throughput", rs_throughput.main),
    ("peers", peers.main),
    ("gc_pauses", gc_pauses.main),
    ("memory", memory.main),
]


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(__doc__, argv)
    forwarded = ["--quick"] if args.quick else []
    failed: list[str] = []
    for name, run in BENCHMARKS:
        print(f"\n# {name}", flush=True)
        started = time.monotonic()
        try:
            status = run(forwarded)
        except Exception:
            traceback.print_exc()
            status = 1
        if status:
            failed.append(name)
        print(f"({name}: {time.monotonic() - started:.1f} s)", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
