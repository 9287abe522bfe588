"""Bench 5 — memory: resident set size of each server idle, after 10,000 and after 50,000 authed calls.

A server that keeps something per request — per token, per session, per client in a
rate-limit table — grows without bound under steady traffic. The RS here is stateless and
verifies tokens without caching them, so its RSS should level off after warm-up: the target
is ≤ 10 % growth between 10,000 and 50,000 calls (after 10,000 calls allocator pools and
caches have reached their size; what grows after that is a leak).

The calls are ``tools/call notes_list`` and ``auth_whoami`` on 8 keep-alive connections,
with several tokens from separate real OAuth flows (separate DCR clients), each connection
doing ``initialize`` first as an SDK client does. RSS is read from ``/proc/<pid>/status``
(summed over worker processes, if any). The AS is measured too: it sees the OAuth flows,
and no traffic at all during the RS load.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.load import run_load
from bench.loadgen import Job
from bench.mcp_messages import mcp_setup, tool_call
from bench.processes import bench_pair, port_of, rss_kib, temp_data_dir
from bench.report import Verdict, arguments, print_machine, print_table, print_verdicts
from bench.tokens import obtain_token

GROWTH_TARGET = 0.10
CLIENTS = 8


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(__doc__, argv)
    first, second = (300, 1500) if args.quick else (10_000, 50_000)
    token_count = 2 if args.quick else 4
    print_machine()
    with temp_data_dir() as data_dir, bench_pair(data_dir) as pair:
        idle = {"AS": rss_kib(pair.auth.process.pid), "RS": rss_kib(pair.rs.process.pid)}
        tokens = [obtain_token(pair, client_name=f"bench-memory-{i}") for i in range(token_count)]
        requests = [
            tool_call(tool, token=token) for token in tokens for tool in ("notes_list", "auth_whoami")
        ]
        setups = [mcp_setup(token) for token in tokens for _ in ("notes_list", "auth_whoami")]
        samples: dict[int, dict[str, int]] = {}
        errors = 0
        done = 0
        for target in (first, second):
            job = Job(
                port=port_of(pair.rs_base_url),
                requests=requests,
                setup=setups,
                concurrency=CLIENTS,
                duration_sec=600,  # a safety bound; max_requests ends the run
                warmup_sec=0,
                max_requests=target - done,
            )
            result = run_load(job)
            done += result.count
            errors += result.errors
            samples[target] = {"AS": rss_kib(pair.auth.process.pid), "RS": rss_kib(pair.rs.process.pid)}

    def mib(kib: int) -> str:
        return f"{kib / 1024:.1f}"

    rows = []
    growth: dict[str, float] = {}
    for server in ("RS", "AS"):
        growth[server] = samples[second][server] / samples[first][server] - 1
        rows.append(
            [
                server,
                mib(idle[server]),
                mib(samples[first][server]),
                mib(samples[second][server]),
                f"{growth[server]:+.1%}",
            ]
        )
    print_table(
        f"bench 5 — RSS in MiB ({CLIENTS} clients, {len(tokens)} tokens, STORE=sqlite; {errors} errors)",
        [
            "server",
            "idle",
            f"after {first:,} calls",
            f"after {second:,} calls",
            f"growth {first:,}→{second:,}",
        ],
        rows,
    )
    print_verdicts(
        [
            Verdict(
                f"{server} memory flat {first:,}→{second:,}",
                f"{growth[server]:+.1%}",
                f"≤ +{GROWTH_TARGET:.0%}",
                growth[server] <= GROWTH_TARGET,
            )
            for server in ("RS", "AS")
        ]
        + [Verdict("errors during the calls", str(errors), "0", errors == 0)]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
