"""Bench 6 — the RS beside what users would pick instead, same tool, same tokens, same load.

Every server runs as its own process on a free 127.0.0.1 port and answers the same call,
``tools/call auth_whoami`` (return the caller's claims), at 8 keep-alive clients:

* ``RS``: this resource server (``python -m resource_server``), authed with an ES256 token
  from the real OAuth flow — and the same process's public ``auth_show`` without a token;
* ``RS, GC untuned``: a second RS with ``RS_GC_TUNING=false``, to show what
  :mod:`resource_server.__main__`'s garbage-collector tuning does to the tail;
* ``SDK + bearer auth``: the plain ``mcp`` SDK server with the SDK's own resource-server auth
  and a PyJWT ``TokenVerifier`` (:mod:`bench.peer_sdk`);
* ``FastMCP JWTVerifier``: FastMCP 4 with ``JWTVerifier`` (:mod:`bench.peer_fastmcp`) — only
  when ``fastmcp`` is installed (``pip install -e '.[bench]'``); otherwise the row is skipped
  and the bench says so;
* ``SDK, no auth``: the same SDK server without auth (what MCP costs before any token check);
* ``Starlette route``: one bare Starlette JSON route (:mod:`bench.peer_starlette`), the floor.

The authed servers verify the same tokens: signed by the demo AS, ``iss`` the AS, ``aud`` the
RS's resource, keys from the AS's JWK Set. Before any load each server is asked once with the
token (its answer must name the token's subject) and the authed ones once without (they must
refuse), so a row can never measure a server that lets everyone in.

Rows are measured in interleaved **rounds** (every row once per round, the order rotated), so
a slow phase of the host falls on all rows alike. ``CPU µs/req`` — the server process's CPU
time over the measured window ÷ answers, median of the rounds — is the number that survives
the host's freezes; ``req/s`` is the median of the rounds' whole-run rates; p50 and p99 pool
all rounds' latencies. The ``Starlette route`` row is the control for the tail: a p99 the
bare route shares is the host's, one it does not is the server's.

**Cold start** (second table): spawn → first successful authed ``tools/call auth_whoami``, for
the RS and the plain SDK server (and FastMCP when installed), polled every 20 ms with the same
token against the running AS, started alternately, median of the runs. It includes the first
JWKS fetch each server makes. Beside the wall time it shows the CPU seconds the server had
used by its first answer, which the other processes on a shared host move far less.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.load import LoadResult, run_load
from bench.loadgen import Job
from bench.mcp_messages import MCP_HEADERS, mcp_setup, tool_call
from bench.processes import (
    READY_TIMEOUT_SEC,
    bench_pair,
    cpu_seconds,
    port_of,
    second_rs_environment,
    temp_data_dir,
)
from bench.report import Verdict, arguments, ms, percentile, print_machine, print_table, print_verdicts
from bench.tokens import obtain_token
from mcp_oauth_demo import oauth_client as oc
from mcp_oauth_demo.launcher import RS_READY_PATH, Pair, ServerProcess, free_port, launch_server, wait_ready

CLIENTS = 8
TAIL_TARGET = 6.0  # p99 ≤ 6 × p50 for authed calls at 8 clients
COLD_START_TARGET = 1.2  # RS cold start ≤ 1.2 × the plain SDK server's
FASTMCP_HINT = "pip install -e '.[bench]'"
POLL_SEC = 0.02
SDK_COLD = "SDK + bearer auth"

RS, RS_ANON, RS_UNTUNED = "RS auth_whoami (authed)", "RS auth_show (anon)", "RS, GC untuned (authed)"
SDK_AUTH, FASTMCP, SDK_ANON, STARLETTE = (
    "SDK + bearer auth (authed)",
    "FastMCP JWTVerifier (authed)",
    "SDK, no auth",
    "Starlette route",
)


@dataclass
class Server:
    """One server under test: how to start it and the call it answers."""

    name: str
    module: str
    authed: bool
    env: dict[str, str] = field(default_factory=dict)
    ready_path: str = "/ready"
    tool: str = "auth_whoami"


@dataclass
class Row:
    name: str
    server: str  # the Server.name of the process that answers
    authed: bool
    tool: str = "auth_whoami"
    results: list[LoadResult] = field(default_factory=list)


def fastmcp_installed() -> bool:
    return importlib.util.find_spec("fastmcp") is not None


# -- environments -------------------------------------------------------------------------------
def peer_environment(pair: Pair, jwks_uri: str, port: int, **extra: str) -> dict[str, str]:
    """A peer's environment: the pair's (PYTHONPATH, DATA_DIR), its port, and what to check tokens against."""
    return {
        **pair.env,
        "PEER_PORT": str(port),
        "PEER_ISSUER": pair.issuer,
        "PEER_JWKS_URI": jwks_uri,
        "PEER_AUDIENCE": pair.mcp_url,
        **extra,
    }


def jwks_uri_of(pair: Pair) -> str:
    """The AS's ``jwks_uri`` (RFC 8414 metadata), where the peers fetch its keys."""
    with httpx.Client(timeout=10) as http:
        metadata = http.get(pair.issuer + "/.well-known/oauth-authorization-server").raise_for_status()
        return str(metadata.json()["jwks_uri"])


def base_url(server: ServerProcess) -> str:
    parts = urlsplit(server.ready_url)
    return f"{parts.scheme}://{parts.netloc}"


# -- checks ------------------------------------------------------------------------------------
def call_whoami(http: httpx.Client, url: str, token: str | None, tool: str = "auth_whoami") -> httpx.Response:
    headers = dict(MCP_HEADERS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = oc.rpc("tools/call", {"name": tool, "arguments": {}}, 1)
    return http.post(url + "/mcp", headers=headers, content=json.dumps(body))


def answered(response: httpx.Response) -> dict[str, Any] | None:
    """The tool's structured result, or None when the call did not succeed."""
    if response.status_code != 200:
        return None
    try:
        result = response.json().get("result") or {}
    except ValueError:
        return None
    if result.get("isError"):
        return None
    return result.get("structuredContent") or {}


def check_server(http: httpx.Client, url: str, *, authed: bool, token: str, subject: str, tool: str) -> None:
    """The server answers the tool for the token's subject, and (authed) refuses a call without a token."""
    data = answered(call_whoami(http, url, token if authed else None, tool))
    if data is None:
        raise RuntimeError(f"{url} did not answer tools/call {tool}")
    if authed and data.get("sub") != subject:
        raise RuntimeError(f"{url} answered {tool} for {data.get('sub')!r}, not the token's {subject!r}")
    if authed:
        refused = call_whoami(http, url, None, tool)
        if answered(refused) is not None:
            raise RuntimeError(f"{url} answered {tool} without a token (HTTP {refused.status_code})")


def token_subject(token: str) -> str:
    import jwt

    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


# -- throughput rounds -------------------------------------------------------------------------
def servers_and_rows(pair: Pair, jwks_uri: str, data_dir: Path) -> tuple[list[Server], list[Row]]:
    servers = [
        Server(
            RS_UNTUNED,
            "resource_server",
            True,
            second_rs_environment(pair, free_port(), data_dir / "rs-untuned", RS_GC_TUNING="false"),
            RS_READY_PATH,
        ),
        Server(SDK_AUTH, "bench.peer_sdk", True, peer_environment(pair, jwks_uri, free_port())),
        Server(
            SDK_ANON, "bench.peer_sdk", False, peer_environment(pair, jwks_uri, free_port(), PEER_AUTH="0")
        ),
        Server(STARLETTE, "bench.peer_starlette", False, peer_environment(pair, jwks_uri, free_port())),
    ]
    if fastmcp_installed():
        servers.insert(
            2, Server(FASTMCP, "bench.peer_fastmcp", True, peer_environment(pair, jwks_uri, free_port()))
        )
    rows = [Row(RS, RS, True), Row(RS_ANON, RS, False, tool="auth_show")]
    rows += [Row(s.name, s.name, s.authed) for s in servers]
    return servers, rows


def start_servers(stack: ExitStack, servers: Sequence[Server], log_dir: Path) -> dict[str, ServerProcess]:
    """Launch all peers at once (their imports overlap), then wait for each; stopped when ``stack`` closes."""
    started: dict[str, ServerProcess] = {}
    for server in servers:
        port = server.env.get("PEER_PORT") or server.env["RS_PORT"]
        slug = "".join(c if c.isalnum() else "-" for c in server.name.lower()).strip("-")
        process = launch_server(
            slug, server.module, server.env, f"http://127.0.0.1:{port}{server.ready_path}", log_dir
        )
        stack.callback(process.stop)
        started[server.name] = process
    for process in started.values():
        wait_ready(process, timeout=READY_TIMEOUT_SEC)
    return started


def measure_rounds(
    rows: Sequence[Row],
    processes: dict[str, ServerProcess],
    token: str,
    *,
    duration: float,
    warmup: float,
    rounds: int,
) -> None:
    for round_ in range(rounds):
        shift = round_ % len(rows)
        for row in [*rows[shift:], *rows[:shift]]:
            process = processes[row.server]
            job = Job(
                port=port_of(base_url(process)),
                requests=[tool_call(row.tool, token=token if row.authed else None)],
                setup=[] if row.server == STARLETTE else [mcp_setup(token if row.authed else None)],
                concurrency=CLIENTS,
                duration_sec=duration,
                warmup_sec=warmup,
            )
            row.results.append(run_load(job, server_pid=process.process.pid))


def cpu_us(row: Row) -> float:
    return median(r.server_cpu_us_per_request for r in row.results)


def rps(row: Row) -> float:
    return median(r.rps for r in row.results)


def latencies(row: Row) -> list[float]:
    return [latency for r in row.results for latency in r.latencies]


# -- cold start ---------------------------------------------------------------------------------
@dataclass
class ColdStart:
    wall: float  # seconds from the spawn to the first successful authed call
    cpu: float  # CPU seconds the server process had used by then
    ready_wall: float  # seconds from the spawn to the first answer to GET (its ready URL)
    ready_cpu: float  # CPU seconds used by then; cpu - ready_cpu is what the first authed call cost


def first_call_seconds(process: ServerProcess, started: float, token: str) -> ColdStart:
    """From ``started`` (the spawn) to the first answer to ``GET`` its ready URL, then to the
    first authed ``tools/call`` that succeeds: wall and CPU seconds of both."""
    url = base_url(process)
    deadline = started + READY_TIMEOUT_SEC
    ready: tuple[float, float] | None = None
    with httpx.Client(timeout=5.0) as http:
        while time.monotonic() < deadline:
            if process.process.poll() is not None:
                raise RuntimeError(f"{process.name} exited with {process.process.returncode}:\n{process.log}")
            try:
                if ready is None:
                    if http.get(process.ready_url).status_code == 200:
                        ready = (time.monotonic() - started, cpu_seconds(process.process.pid))
                        continue
                elif answered(call_whoami(http, url, token)) is not None:
                    cpu = cpu_seconds(process.process.pid)
                    return ColdStart(time.monotonic() - started, cpu, *ready)
            except httpx.TransportError:
                pass
            time.sleep(POLL_SEC)
    raise RuntimeError(
        f"{process.name} answered no authed tools/call within {READY_TIMEOUT_SEC:g} s:\n{process.log}"
    )


def cold_starts(
    pair: Pair, jwks_uri: str, token: str, data_dir: Path, runs: int, *, rs_from: Path | None = None
) -> dict[str, list[ColdStart]]:
    """``runs`` starts of each server, in turn; with ``rs_from``, also the RS from the code in that folder."""
    kinds = {"RS": "resource_server", SDK_COLD: "bench.peer_sdk"}
    if rs_from:
        kinds[f"RS from {rs_from}"] = "resource_server"
    if fastmcp_installed():
        kinds["FastMCP JWTVerifier"] = "bench.peer_fastmcp"
    times: dict[str, list[ColdStart]] = {name: [] for name in kinds}
    for run in range(runs):
        for name, module in kinds.items():
            port = free_port()
            if module == "resource_server":
                env = second_rs_environment(pair, port, data_dir / f"cold-{run}-{port}")
                ready = f"http://127.0.0.1:{port}{RS_READY_PATH}"
                if name != "RS" and rs_from:
                    env["PYTHONPATH"] = os.pathsep.join([str(rs_from), env["PYTHONPATH"]])
            else:
                env = peer_environment(pair, jwks_uri, port)
                ready = f"http://127.0.0.1:{port}/ready"
            started = time.monotonic()
            process = launch_server(f"cold-{module}-{run}", module, env, ready, data_dir)
            try:
                times[name].append(first_call_seconds(process, started, token))
            finally:
                process.stop()
    return times


# -- the report -----------------------------------------------------------------------------------
def load_report(rows: Sequence[Row], *, rounds: int, duration: float, warmup: float) -> list[Verdict]:
    by_name = {row.name: row for row in rows}
    rs = by_name[RS]
    table = []
    for row in rows:
        lat = latencies(row)
        p50, p99 = percentile(lat, 50), percentile(lat, 99)
        errors = sum(r.errors for r in row.results)
        table.append(
            [
                row.name,
                f"{rps(row):,.0f}",
                ms(p50),
                ms(p99),
                ms(percentile(lat, 99.9)),
                f"{p99 / p50:.1f}×",
                f"{cpu_us(row):,.0f}",
                errors,
            ]
        )
    print_table(
        f"bench 6 — peers, tools/call at {CLIENTS} clients ({rounds} interleaved round(s) of {duration:g} s, "
        f"{warmup:g} s warm-up each; medians of rounds)",
        ["server", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "p99/p50", "CPU µs/req", "errors"],
        table,
    )
    print_table(
        "bench 6 — the RS's authed auth_whoami against each row (< 1 CPU: the RS is cheaper)",
        ["against", "RS CPU / its CPU", "RS req/s / its req/s"],
        [
            [row.name, f"{cpu_us(rs) / cpu_us(row):.2f}", f"{rps(rs) / rps(row):.2f}"]
            for row in rows
            if row is not rs
        ],
    )
    rs_lat = latencies(rs)
    tail = percentile(rs_lat, 99) / percentile(rs_lat, 50)
    verdicts = [
        Verdict(
            f"RS CPU per authed call vs {row.name.removesuffix(' (authed)')}",
            f"{cpu_us(rs) / cpu_us(row):.2f}×",
            "< 1",
            cpu_us(rs) < cpu_us(row),
        )
        for row in rows
        if row.name in (SDK_AUTH, FASTMCP)
    ]
    verdicts += [
        Verdict(
            f"RS tail, authed, {CLIENTS} clients",
            f"p99 = {tail:.1f} × p50",
            f"≤ {TAIL_TARGET:g}×",
            tail <= TAIL_TARGET,
        ),
        Verdict(
            "errors under load (all rows)",
            str(sum(r.errors for row in rows for r in row.results)),
            "0",
            all(r.errors == 0 for row in rows for r in row.results),
        ),
    ]
    return verdicts


def cold_report(colds: dict[str, list[ColdStart]]) -> list[Verdict]:
    def wall(name: str) -> list[float]:
        return [c.wall for c in colds[name]]

    def cpu(name: str) -> float:
        return median(c.cpu for c in colds[name])

    print_table(
        "bench 6 — cold start, spawn → first successful authed tools/call (seconds; alternating starts)",
        [
            "server",
            "median",
            "best",
            "worst",
            "CPU s",
            "answers GET",
            "CPU s then",
            "1st authed call CPU ms",
            "runs",
        ],
        [
            [
                name,
                f"{median(wall(name)):.2f}",
                f"{min(wall(name)):.2f}",
                f"{max(wall(name)):.2f}",
                f"{cpu(name):.2f}",
                f"{median(c.ready_wall for c in colds[name]):.2f}",
                f"{median(c.ready_cpu for c in colds[name]):.2f}",
                f"{median(c.cpu - c.ready_cpu for c in colds[name]) * 1000:.0f}",
                len(wall(name)),
            ]
            for name in colds
        ],
    )
    print("(medians; CPU s: the server process's CPU seconds by then, in clock ticks of 10 ms)", flush=True)
    by_wall = median(wall("RS")) / median(wall(SDK_COLD))
    by_cpu = cpu("RS") / cpu(SDK_COLD)
    print(
        f"RS cold start / plain SDK server's: {by_wall:.2f}× (median wall), {by_cpu:.2f}× (median CPU)",
        flush=True,
    )
    return [
        Verdict(
            f"RS cold start vs the plain SDK server, {how}",
            f"{ratio:.2f}×",
            f"≤ {COLD_START_TARGET:g}×",
            ratio <= COLD_START_TARGET,
        )
        for how, ratio in (("wall", by_wall), ("CPU", by_cpu))
    ]


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--only", choices=["load", "cold"], help="run only the load rounds or only the cold starts"
    )
    parser.add_argument("--rounds", type=int, help="interleaved load rounds (default 5; --quick: 1)")
    parser.add_argument("--cold-runs", type=int, help="cold starts per server (default 7; --quick: 1)")
    parser.add_argument(
        "--cold-rs-from",
        type=Path,
        metavar="DIR",
        help="also cold-start the RS from the resource_server/ and shared/ in DIR, e.g. an older commit's "
        "`git archive <commit> resource_server shared | tar -x -C DIR` (a before/after row)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(__doc__, argv, more=options)
    duration, warmup, rounds, cold_runs = (0.3, 0.2, 1, 1) if args.quick else (2.0, 0.5, 5, 7)
    rounds, cold_runs = args.rounds or rounds, args.cold_runs or cold_runs
    print_machine()
    if not fastmcp_installed():
        print(f"FastMCP rows skipped: fastmcp is not installed (to include them: {FASTMCP_HINT})", flush=True)
    verdicts: list[Verdict] = []
    with temp_data_dir() as data_dir, bench_pair(data_dir) as pair:
        token = obtain_token(pair, client_name="bench-peers")
        jwks_uri = jwks_uri_of(pair)
        if args.only != "cold":
            # The peers stop before the cold starts, where they would only compete for the CPU.
            with ExitStack() as stack, httpx.Client(timeout=10) as http:
                servers, rows = servers_and_rows(pair, jwks_uri, data_dir)
                processes = {RS: pair.rs, **start_servers(stack, servers, data_dir)}
                subject = token_subject(token)
                for row in rows:
                    url = base_url(processes[row.server])
                    check_server(http, url, authed=row.authed, token=token, subject=subject, tool=row.tool)
                measure_rounds(rows, processes, token, duration=duration, warmup=warmup, rounds=rounds)
            verdicts += load_report(rows, rounds=rounds, duration=duration, warmup=warmup)
            print_machine()  # the load average after the rounds, next to their table
        if args.only != "load":
            verdicts += cold_report(
                cold_starts(pair, jwks_uri, token, data_dir, cold_runs, rs_from=args.cold_rs_from)
            )
            print_machine()
    print_verdicts(verdicts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
