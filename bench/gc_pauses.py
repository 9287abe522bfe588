"""Bench 7 — where the RS's tail latency came from: the garbage collector's full passes.

At 8 clients the RS's p99 was 14 × its p50 while a bare Starlette route in the same rounds
stayed near 5 ×. This bench shows the cause from inside the process. Two RS processes
(:mod:`bench.rs_app` with ``BENCH_GC_STATS=1``, which serves :mod:`bench.gc_stats` at
``GET /bench/gc``) answer authed ``tools/call auth_whoami`` at 8 clients in interleaved
rounds: one as it ships (``RS_GC_TUNING=true``: :func:`resource_server.__main__.start_up_heap_frozen`
freezes the start-up heap), one with Python's defaults (``RS_GC_TUNING=false``) — and the
plain SDK server of :mod:`bench.peer_sdk`, to show the same pauses come with the SDK itself.
For each, over the measured windows only:

* the objects a full (generation-2) pass walks, and how many start-up objects are frozen;
* how many full passes ran, their median and longest pause;
* all collections' time per 1,000 requests and as a share of the wall time;
* p50, p99 and how many requests took more than 5 × p50.

A full pass stops the one thread that serves every request, so each one shows up in the
latency of all requests in flight: with the defaults the count of slow requests tracks
``full passes × clients``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

import httpx

from bench.gc_stats import GC_STATS_PATH
from bench.load import LoadResult, run_load
from bench.loadgen import Job
from bench.mcp_messages import mcp_setup, tool_call
from bench.peers import jwks_uri_of, peer_environment
from bench.processes import bench_pair, port_of, second_rs_environment, temp_data_dir
from bench.report import Verdict, arguments, ms, percentile, print_machine, print_table, print_verdicts
from bench.tokens import obtain_token
from mcp_oauth_demo.launcher import free_port, launch_server, wait_ready

CLIENTS = 8
TUNED, DEFAULTS = "RS (RS_GC_TUNING=true)", "RS (RS_GC_TUNING=false)"
SDK = "plain SDK + bearer auth"
FULL_PAUSE_TARGET_MS = 10.0


@dataclass
class Window:
    """One measured window: the load's result and what the collector did meanwhile."""

    result: LoadResult
    passes: list[int]
    seconds: list[float]
    full_pauses: list[float]
    tracked: int
    frozen: int


@dataclass
class Server:
    name: str
    url: str
    pid: int
    windows: list[Window] = field(default_factory=list)

    def pooled_latencies(self) -> list[float]:
        return [latency for w in self.windows for latency in w.result.latencies]


def gc_snapshot(http: httpx.Client, url: str) -> dict[str, Any]:
    return http.get(url + GC_STATS_PATH).raise_for_status().json()


def measure(server: Server, token: str, http: httpx.Client, *, duration: float, warmup: float) -> None:
    at_warm: dict[str, Any] = {}
    job = Job(
        port=port_of(server.url),
        requests=[tool_call("auth_whoami", token=token)],
        setup=[mcp_setup(token)],
        concurrency=CLIENTS,
        duration_sec=duration,
        warmup_sec=warmup,
    )
    result = run_load(
        job, server_pid=server.pid, on_warm=lambda: at_warm.update(gc_snapshot(http, server.url))
    )
    after = gc_snapshot(http, server.url)
    server.windows.append(
        Window(
            result=result,
            passes=[b - a for a, b in zip(at_warm["passes"], after["passes"], strict=True)],
            seconds=[b - a for a, b in zip(at_warm["seconds"], after["seconds"], strict=True)],
            full_pauses=after["full_pauses"][len(at_warm["full_pauses"]) :],
            tracked=after["tracked"],
            frozen=after["frozen"],
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(__doc__, argv)
    duration, warmup, rounds = (0.5, 0.2, 1) if args.quick else (3.0, 0.5, 5)
    print_machine()
    with (
        temp_data_dir() as data_dir,
        bench_pair(data_dir, rs_module="bench.rs_app", BENCH_GC_STATS="1") as pair,
    ):
        token = obtain_token(pair, client_name="bench-gc-pauses")
        rs_port, sdk_port = free_port(), free_port()
        env = second_rs_environment(pair, rs_port, data_dir / "rs-defaults", RS_GC_TUNING="false")
        sdk_env = peer_environment(pair, jwks_uri_of(pair), sdk_port, BENCH_GC_STATS="1")
        others = [
            launch_server(
                "rs-gc-defaults", "bench.rs_app", env, f"http://127.0.0.1:{rs_port}{GC_STATS_PATH}", data_dir
            ),
            launch_server(
                "sdk-gc", "bench.peer_sdk", sdk_env, f"http://127.0.0.1:{sdk_port}{GC_STATS_PATH}", data_dir
            ),
        ]
        try:
            for process in others:
                wait_ready(process)
            servers = [
                Server(TUNED, pair.rs_base_url, pair.rs.process.pid),
                Server(DEFAULTS, f"http://127.0.0.1:{rs_port}", others[0].process.pid),
                Server(SDK, f"http://127.0.0.1:{sdk_port}", others[1].process.pid),
            ]
            with httpx.Client(timeout=10) as http:
                for round_ in range(rounds):
                    shift = round_ % len(servers)
                    for server in servers[shift:] + servers[:shift]:
                        measure(server, token, http, duration=duration, warmup=warmup)
        finally:
            for process in others:
                process.stop()

    rows = []
    for server in servers:
        latencies = server.pooled_latencies()
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        requests = sum(w.result.count for w in server.windows)
        wall = sum(w.result.elapsed for w in server.windows)
        gc_seconds = sum(sum(w.seconds) for w in server.windows)
        full = [pause for w in server.windows for pause in w.full_pauses]
        rows.append(
            [
                server.name,
                f"{server.windows[-1].tracked:,}",
                f"{server.windows[-1].frozen:,}",
                len(full),
                ms(median(full)) if full else "—",
                ms(max(full)) if full else "—",
                f"{gc_seconds / requests * 1e6:,.0f}" if requests else "—",
                f"{gc_seconds / wall:.1%}" if wall else "—",
                ms(p50),
                ms(p99),
                ms(percentile(latencies, 99.9)),
                f"{p99 / p50:.1f}×",
                sum(1 for latency in latencies if latency > 5 * p50),
                requests,
            ]
        )
    print_table(
        f"bench 7 — GC pauses in the RS, authed auth_whoami at {CLIENTS} clients "
        f"({rounds} interleaved round(s) of {duration:g} s)",
        [
            "server",
            "tracked objects",
            "frozen",
            "full passes",
            "full pause median ms",
            "full pause max ms",
            "GC µs/req",
            "GC share of wall",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "p99/p50",
            "requests > 5×p50",
            "requests",
        ],
        rows,
    )
    print_machine()
    tuned = servers[0]
    tuned_full = [pause for w in tuned.windows for pause in w.full_pauses]
    tuned_lat = tuned.pooled_latencies()
    tail = percentile(tuned_lat, 99) / percentile(tuned_lat, 50)
    full_ms = median(tuned_full) * 1000 if tuned_full else 0.0
    print_verdicts(
        [
            Verdict(
                "full GC pause, RS as shipped (median)",
                f"{full_ms:.1f} ms" if tuned_full else "no full pass in the windows",
                f"≤ {FULL_PAUSE_TARGET_MS:g} ms",
                full_ms <= FULL_PAUSE_TARGET_MS,
            ),
            Verdict(f"RS tail, authed, {CLIENTS} clients", f"p99 = {tail:.1f} × p50", "≤ 6×", tail <= 6.0),
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
