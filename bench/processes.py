"""The servers under load, as real processes, and what the benchmarks read about them.

Both servers start through :mod:`mcp_oauth_demo.launcher` on free 127.0.0.1 ports, with a
throw-away ``DATA_DIR`` and the default ``STORE=sqlite`` (what a deployment runs; the notes and
the AS state live in SQLite files in that temp folder). Memory and CPU time come from ``/proc``.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mcp_oauth_demo.launcher import (
    AS_READY_PATH,
    RS_READY_PATH,
    Pair,
    ServerProcess,
    free_port,
    launch_server,
    pair_environment,
    wait_ready,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def temp_data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="mcp-oauth-bench-") as tmp:
        yield Path(tmp)


READY_TIMEOUT_SEC = 90.0  # generous: other test suites may be loading the machine


def spawn(name: str, module: str, env: dict[str, str], ready_path: str, log_dir: Path) -> ServerProcess:
    """Start ``python -m <module>`` without waiting (the cold-start bench times the wait itself)."""
    base = env["AUTH_ISSUER"] if name == "auth" else env["RS_BASE_URL"]
    return launch_server(name, module, env, base + ready_path, log_dir)


def bench_environment(data_dir: Path, *, rs_workers: int = 1, **overrides: str) -> dict[str, str]:
    """The launcher's pair environment on free ports, plus this repo on PYTHONPATH and the worker count."""
    # Tokens must outlive the longest run (the memory bench takes minutes on a slow machine);
    # with the default 600 s they expired mid-run and every later call was a 401.
    overrides = {"ACCESS_TOKEN_TTL_SEC": "3600", **overrides}
    env = pair_environment(data_dir, auth_port=free_port(), rs_port=free_port(), **overrides)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["RS_WORKERS"] = str(rs_workers)
    return env


def rs_environment(env: dict[str, str]) -> dict[str, str]:
    """The RS's environment: ``WEB_CONCURRENCY`` is uvicorn's default worker count (RS only — the AS
    passes uvicorn an app object, which cannot be forked into workers)."""
    return {**env, "WEB_CONCURRENCY": env.get("RS_WORKERS", "1")}


@contextmanager
def bench_pair(
    data_dir: Path, *, rs_module: str = "resource_server", rs_workers: int = 1, **overrides: str
) -> Iterator[Pair]:
    """AS + RS as real processes on free loopback ports, started together, stopped on exit.

    ``rs_module`` may be ``bench.rs_app`` (the RS plus the ceiling endpoint).
    """
    env = bench_environment(data_dir, rs_workers=rs_workers, **overrides)
    auth = spawn("auth", "auth_server", env, AS_READY_PATH, data_dir)
    rs = spawn("rs", rs_module, rs_environment(env), RS_READY_PATH, data_dir)
    try:
        wait_ready(auth, timeout=READY_TIMEOUT_SEC)
        wait_ready(rs, timeout=READY_TIMEOUT_SEC)
        yield Pair(auth=auth, rs=rs, env=env, data_dir=data_dir)
    finally:
        rs.stop()
        auth.stop()


def second_rs_environment(pair: Pair, port: int, data_dir: Path, **extra: str) -> dict[str, str]:
    """Another RS beside the pair's, accepting the same tokens: same resource (``aud``), own port and data."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **pair.env,
        # RS_BASE_URL stays the pair RS's, so MCP_RESOURCE (the tokens' `aud`) is the same; the
        # transport's DNS-rebinding check allows 127.0.0.1 on RS_PORT.
        "RS_PORT": str(port),
        "DATA_DIR": str(data_dir),
        **extra,
    }
    return rs_environment(env)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


_ACCESS_LOG_RE = re.compile(r'"(GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH) \S+ HTTP/[\d.]+" \d{3}')


def as_request_count(pair: Pair) -> int:
    """Requests the AS has answered so far, counted in its uvicorn access log."""
    return len(_ACCESS_LOG_RE.findall(pair.auth.log))


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (uvicorn's workers)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants, in KiB."""
    total = 0
    for current in process_tree(pid):
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        except (OSError, AttributeError):
            continue
    return total


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by ``pid`` and its descendants.

    CPU time per request is the benchmark's noise-resistant number: other processes on the
    machine stretch wall-clock latency, but hardly the CPU a request costs the server.
    """
    total = 0
    for current in process_tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        except (OSError, IndexError, ValueError):
            continue
    return total / _CLOCK_TICKS
