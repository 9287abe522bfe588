"""Bench 7 — PostgreSQL against SQLite, with one and with two workers per server.

For each engine (SQLite under a throw-away ``DATA_DIR``; PostgreSQL: ``DATABASE_URL`` of a
throw-away local server, :mod:`mcp_oauth_demo.pg_cluster`, or the ``DATABASE_URL`` of the
environment when set) and each worker count (``WEB_CONCURRENCY`` 1 and 2, both servers):

* **authed RS throughput** — ``tools/call notes_list`` with a valid token at 8 keep-alive
  clients (bench 1's request, :mod:`bench.loadgen`): the RS verifies the token locally and
  reads the caller's notes from the engine on every call;
* **full OAuth dance** — bench 3's discovery → DCR → authorize → login → consent → token →
  first authed call, as a new client: every AS step reads and writes the engine (pending
  request, code, grant, refresh token, key ring).

Both servers run as real processes on loopback; the load generator shares the 2 cores.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from bench.load import run_load
from bench.loadgen import Job
from bench.mcp_messages import mcp_setup, tool_call
from bench.processes import bench_pair, port_of, temp_data_dir
from bench.report import arguments, ms, percentile, print_machine, print_table
from bench.tokens import oauth_dance, obtain_token
from mcp_oauth_demo.pg_cluster import ClusterUnavailable, start_cluster

CLIENTS = 8


@dataclass
class Result:
    engine: str
    workers: int
    rps: float
    p50: float
    p99: float
    errors: int
    dance_p50: float
    dance_p95: float


@contextmanager
def postgres_url() -> Iterator[str | None]:
    """DATABASE_URL of the environment, else a throw-away local server (None if unavailable)."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    try:
        cluster = start_cluster()
    except ClusterUnavailable as exc:
        print(f"PostgreSQL skipped: {exc}")
        yield None
        return
    try:
        yield cluster.url()
    finally:
        cluster.stop()


def _fresh_database(url: str, name: str) -> str:
    """A new empty database next to ``url``'s, so every configuration starts from a first start."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


def measure(engine: str, database_url: str, workers: int, duration: float, dances: int) -> Result:
    overrides = {"WEB_CONCURRENCY": str(workers), "DATABASE_URL": database_url}
    with temp_data_dir() as data_dir, bench_pair(data_dir, rs_workers=workers, **overrides) as pair:
        token = obtain_token(pair, client_name="bench-postgres")
        with httpx.Client(timeout=10) as http:
            oauth_dance(pair, http, client_name="bench-postgres-warmup")
        totals = []
        for run in range(dances):
            with httpx.Client(timeout=10) as http:
                totals.append(oauth_dance(pair, http, client_name=f"bench-postgres-{run}").total)
        job = Job(
            port=port_of(pair.rs_base_url),
            requests=[tool_call("notes_list", token=token)],
            setup=[mcp_setup(token)],
            concurrency=CLIENTS,
            duration_sec=duration,
            warmup_sec=min(1.0, duration / 3),
        )
        load = run_load(job)
    return Result(
        engine,
        workers,
        load.rps,
        load.p50,
        load.p99,
        load.errors,
        percentile(totals, 50),
        percentile(totals, 95),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(__doc__, argv)
    duration, dances = (1.0, 3) if args.quick else (8.0, 30)
    print_machine()
    results: list[Result] = []
    with postgres_url() as url:
        for workers in (1, 2):
            results.append(measure("SQLite", "", workers, duration, dances))
            if url is not None:
                fresh = _fresh_database(url, f"bench_postgres_{workers}")
                results.append(measure("PostgreSQL", fresh, workers, duration, dances))
    print_table(
        f"bench 7 — PostgreSQL vs SQLite: authed notes_list, {CLIENTS} clients; OAuth dance, {dances} runs",
        ["engine", "workers", "authed req/s", "p50 ms", "p99 ms", "errors", "dance p50 ms", "dance p95 ms"],
        [
            [
                r.engine,
                r.workers,
                f"{r.rps:.0f}",
                ms(r.p50),
                ms(r.p99),
                r.errors,
                ms(r.dance_p50),
                ms(r.dance_p95),
            ]
            for r in results
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
