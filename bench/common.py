"""What every benchmark shares: servers, tokens, load, percentiles, tables and verdicts.

* **Servers** run as real processes on free 127.0.0.1 ports through
  :mod:`mcp_oauth_demo.launcher`, with a throw-away ``DATA_DIR`` and the default
  ``STORE=sqlite`` (what a deployment runs; the notes and the AS state live in SQLite files
  in that temp folder).
* **Tokens** come from the real flow (:func:`oauth_dance`), built from the walkthrough's
  protocol functions (:mod:`mcp_oauth_demo.oauth_client`) and the httpx user agent
  (:mod:`mcp_oauth_demo.user_agent`) — no shortcut that mints tokens behind the AS's back.
* **Load** is :mod:`bench.loadgen` in a separate process (:func:`run_load`).
* **Output** is a small aligned table (:func:`print_table`) plus ✔/✖ target verdicts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.loadgen import Job
from mcp_oauth_demo import oauth_client as oc
from mcp_oauth_demo.launcher import (
    Pair,
    ServerProcess,
    free_port,
    launch_server,
    pair_environment,
    wait_ready,
)
from mcp_oauth_demo.user_agent import sign_in
from shared.jwks import SigningKey, jwks_document
from shared.pkce import make_pair
from shared.settings import Settings, load_settings
from shared.tokens import mint_access_token

REPO_ROOT = Path(__file__).resolve().parent.parent
MCP_HEADERS = {
    "Accept": oc.MCP_ACCEPT,
    "Content-Type": "application/json",
    "MCP-Protocol-Version": oc.PROTOCOL_VERSION,
}
SCOPE = "profile:read notes:read notes:write"


# -- command line --------------------------------------------------------------------------
def arguments(
    description: str | None,
    argv: Sequence[str] | None = None,
    *,
    more: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The options every benchmark takes: ``--quick`` (tiny bounds, for CI smoke runs); ``more``
    adds a benchmark's own."""
    parser = argparse.ArgumentParser(description=(description or "").strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny bounds: checks the benchmark runs")
    if more:
        more(parser)
    return parser.parse_args(argv)


# -- numbers and tables --------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A small aligned table: text left, numbers right."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in cells[1:]) and len(cells) > 1 for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True)
        )

    print(f"\n## {title}\n")
    print(line(cells[0]).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row).rstrip())
    sys.stdout.flush()


def _is_number(text: str) -> bool:
    return bool(re.fullmatch(r"[-+]?[\d,.]+(e[-+]?\d+)?[%×x]?|nan|—", text))


@dataclass
class Verdict:
    name: str
    measured: str
    target: str
    ok: bool


def print_verdicts(verdicts: Sequence[Verdict]) -> bool:
    """Print ✔/✖ per target; returns whether all were met (benchmarks still exit 0 either way)."""
    print_table(
        "targets",
        ["", "target", "measured", "goal"],
        [["✔" if v.ok else "✖", v.name, v.measured, v.target] for v in verdicts],
    )
    return all(v.ok for v in verdicts)


def machine() -> dict[str, str]:
    """What the numbers were measured on: cores, CPU model, Python, load average."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "load average (1/5/15 min)": " ".join(f"{x:.2f}" for x in load),
    }


def print_machine() -> None:
    print("machine: " + "; ".join(f"{k} {v}" for k, v in machine().items()), flush=True)


# -- servers -------------------------------------------------------------------------------
@contextmanager
def temp_data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="mcp-oauth-bench-") as tmp:
        yield Path(tmp)


READY_TIMEOUT_SEC = 90.0  # generous: other test suites may be loading the machine


def spawn(name: str, module: str, env: dict[str, str], ready_path: str, log_dir: Path) -> ServerProcess:
    """Start ``python -m <module>`` without waiting (the cold-start bench times the wait itself)."""
    base = env["AUTH_ISSUER"] if name == "auth" else env["RS_BASE_URL"]
    return launch_server(name, module, env, base + ready_path, log_dir)


AS_READY_PATH = "/.well-known/oauth-authorization-server"
RS_READY_PATH = "/.well-known/oauth-protected-resource/mcp"


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


# -- the OAuth flow --------------------------------------------------------------------------
@dataclass
class Dance:
    """One full OAuth + MCP flow: the access token and the seconds each step took."""

    access_token: str
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.steps.values())


def oauth_dance(pair: Pair, http: httpx.Client, *, client_name: str = "bench", scope: str = SCOPE) -> Dance:
    """Discovery → DCR → authorize → login → consent → token → first authed tool call.

    Every step is one or more real HTTP exchanges with the servers on loopback, as an MCP
    client does them; raises :class:`mcp_oauth_demo.oauth_client.ProtocolError` on any surprise.
    """
    steps: dict[str, float] = {}
    clock = time.perf_counter
    started = clock()
    prm = oc.json_body(oc.get_json(http, oc.well_known_url(pair.mcp_url, "oauth-protected-resource")), "PRM")
    issuer = prm["authorization_servers"][0]
    metadata = oc.json_body(
        oc.get_json(http, oc.well_known_url(issuer, "oauth-authorization-server")), "AS metadata"
    )
    steps["discovery"], started = clock() - started, clock()

    redirect_uri = "http://127.0.0.1:9/callback"  # RFC 8252 loopback; never followed
    registered = oc.register_client(
        http, metadata["registration_endpoint"], redirect_uri, name=client_name, scope=scope
    )
    client_id = oc.json_body(registered, "registration")["client_id"]
    steps["register (DCR)"], started = clock() - started, clock()

    verifier, challenge = make_pair()
    state = os.urandom(12).hex()
    url = oc.authorization_url(
        metadata["authorization_endpoint"],
        client_id=client_id,
        redirect_uri=redirect_uri,
        code_challenge=challenge,
        state=state,
        resource=pair.mcp_url,
        scope=scope,
    )
    answer = sign_in(http, url)
    code = answer.require_code()
    if answer.state != state or answer.iss != issuer:
        raise oc.ProtocolError(f"the authorization response has state {answer.state!r}, iss {answer.iss!r}")
    steps["authorize+login+consent"], started = clock() - started, clock()

    tokens = oc.exchange_code(
        http,
        metadata["token_endpoint"],
        client_id=client_id,
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=verifier,
        resource=pair.mcp_url,
    )
    access_token = oc.json_body(tokens, "token response")["access_token"]
    steps["token"], started = clock() - started, clock()

    session = oc.McpSession(http, pair.mcp_url, access_token=access_token)
    session.initialize(client_name)
    response, message = session.call_tool("notes_list", {})
    if response.status_code != 200 or message.get("result", {}).get("isError"):
        raise oc.ProtocolError(f"the first authed tool call failed: HTTP {response.status_code} {message}")
    steps["first tool call"] = clock() - started
    return Dance(access_token=access_token, steps=steps)


def obtain_token(pair: Pair, *, client_name: str = "bench") -> str:
    with httpx.Client(timeout=10) as http:
        return oauth_dance(pair, http, client_name=client_name).access_token


# -- MCP requests as the load generator sends them ------------------------------------------
def mcp_request(
    method: str, params: dict[str, Any] | None, *, token: str | None, id: int | None = 1
) -> dict[str, Any]:
    """A loadgen request spec: one JSON-RPC message POSTed to /mcp as a stateless client sends it."""
    headers = dict(MCP_HEADERS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return {
        "method": "POST",
        "path": "/mcp",
        "headers": headers,
        "body": json.dumps(oc.rpc(method, params, id)),
    }


def tool_call(
    tool: str, *, token: str | None = None, arguments: dict[str, Any] | None = None
) -> dict[str, Any]:
    return mcp_request("tools/call", {"name": tool, "arguments": arguments or {}}, token=token)


def mcp_setup(token: str | None) -> list[dict[str, Any]]:
    """What a client sends once per connection before its calls: ``initialize`` + ``initialized``."""
    return [
        mcp_request("initialize", oc.initialize_params("bench-loadgen"), token=token),
        mcp_request("notifications/initialized", None, token=token, id=None),
    ]


# -- the RS in process, against a stub AS (benches 1b and 2) ----------------------------------
STUB_ISSUER = "http://127.0.0.1:4000"
STUB_RS_BASE = "http://127.0.0.1:3000"
STUB_SCOPE = "profile:read notes:read notes:write"


def stub_as(key: SigningKey) -> httpx.AsyncClient:
    """An HTTP client whose "AS" serves RFC 8414 metadata and a JWK Set holding ``key``."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/oauth-authorization-server":
            return httpx.Response(200, json={"issuer": STUB_ISSUER, "jwks_uri": STUB_ISSUER + "/oauth2/jwks"})
        return httpx.Response(200, json=jwks_document([key]))

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


def stub_settings(data_dir: Path, *, alg: str = "ES256", secret: str | None = None, store: str) -> Settings:
    """RS settings for a stub AS; a developer's ``.env`` is ignored."""
    return load_settings(
        _env_file=None,
        auth_issuer=STUB_ISSUER,
        rs_base_url=STUB_RS_BASE,
        jwt_alg=alg,
        jwt_secret=secret,
        data_dir=data_dir,
        store=store,
        tool_auth_challenge="http",
    )


def stub_token(key: SigningKey, settings: Settings, subject: str = "alex") -> str:
    """An access token for the RS of ``settings``, signed with ``key`` as the stub AS would."""
    token, _ = mint_access_token(
        key,
        issuer=STUB_ISSUER,
        subject=subject,
        audience=settings.mcp_resource,
        client_id="bench",
        scope=STUB_SCOPE,
        ttl_sec=3600,
        extra_claims={"name": "Alex", "email": "alex@example.com"},
    )
    return token


# -- running the load generator ----------------------------------------------------------------
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
