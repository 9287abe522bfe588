"""Start the authorization server and the resource server as real processes.

The end-to-end tests, the benchmarks and the walkthrough's ``--start`` mode all need the
same thing `honcho start` does — both servers on their own ports, sharing one configuration —
but on free loopback ports and a throw-away ``DATA_DIR``. This module does that and waits
until each server answers its discovery document (RFC 8414 §3 for the AS, RFC 9728 §3 for the RS).
:func:`running_one_url` does the same for the one-URL mode (:mod:`mcp_oauth_demo.one_url`):
both servers in one process on one port, ``PUBLIC_URL=http://127.0.0.1:<port>``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# A cold start imports the mcp SDK, FastAPI and cryptography: a couple of seconds on an idle
# machine, far more when test suites share two CPUs. Waiting longer costs nothing when the
# server is up; the process exiting is still reported at once.
READY_TIMEOUT_SEC = float(os.environ.get("MCP_DEMO_READY_TIMEOUT_SEC", "60"))


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS just handed out; good enough for tests that start servers right away."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """One server started by :func:`start_server`; ``log`` holds what it printed."""

    name: str
    process: subprocess.Popen[bytes]
    ready_url: str
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """``kill -9``: no shutdown handlers run, as in a crash."""
        self.stop(signal.SIGKILL)


@dataclass
class Pair:
    """Both servers of the demo, with the environment they were started with.

    In one-URL mode ``auth`` and ``rs`` are the same process, and issuer = RS base URL.
    """

    auth: ServerProcess
    rs: ServerProcess
    env: dict[str, str]
    data_dir: Path
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return self.env["AUTH_ISSUER"]

    @property
    def rs_base_url(self) -> str:
        return self.env["RS_BASE_URL"]

    @property
    def mcp_url(self) -> str:
        return self.env["RS_BASE_URL"] + "/mcp"


def pair_environment(data_dir: Path, *, auth_port: int, rs_port: int, **overrides: str) -> dict[str, str]:
    """The environment both processes share: one issuer, one resource, one data folder."""
    env = {
        key: value
        for key, value in os.environ.items()
        # Variables of the developer's shell must not leak into a test pair.
        if key.upper()
        not in {"MCP_RESOURCE", "JWT_ALG", "JWT_SECRET", "STORE", "TOOL_AUTH_CHALLENGE", "PUBLIC_URL"}
    }
    env.update(
        {
            "AUTH_PORT": str(auth_port),
            "RS_PORT": str(rs_port),
            "AUTH_ISSUER": f"http://127.0.0.1:{auth_port}",
            "RS_BASE_URL": f"http://127.0.0.1:{rs_port}",
            "DATA_DIR": str(data_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides)
    return env


def start_server(
    name: str, module: str, env: Mapping[str, str], ready_url: str, log_dir: Path, cwd: Path | None = None
) -> ServerProcess:
    """Run ``python -m <module>`` and wait until ``ready_url`` answers 200."""
    server = launch_server(name, module, env, ready_url, log_dir, cwd)
    wait_ready(server)
    return server


def launch_server(
    name: str,
    module: str,
    env: Mapping[str, str],
    ready_url: str,
    log_dir: Path,
    cwd: Path | None = None,
    args: Sequence[str] = (),
) -> ServerProcess:
    """Run ``python -m <module> <args>`` with its output in ``<log_dir>/<name>.log``; does not wait."""
    log_path = log_dir / f"{name}.log"
    log_file = log_path.open("ab")
    # cwd outside the repo by default so a developer's .env cannot change the test's settings.
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", module, *args],
        env=dict(env),
        cwd=str(cwd or log_dir),
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    log_file.close()
    return ServerProcess(name=name, process=process, ready_url=ready_url, log_path=log_path)


def wait_ready(server: ServerProcess, timeout: float = READY_TIMEOUT_SEC) -> float:
    """Poll the server's discovery URL; returns the seconds it took. Raises with its log on failure."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.log}")
        try:
            if httpx.get(server.ready_url, timeout=1.0).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{server.name} did not answer {server.ready_url} within {timeout}s:\n{server.log}")


# A server is ready when its discovery document answers (RFC 8414 §3, RFC 9728 §3.1).
AS_READY_PATH = "/.well-known/oauth-authorization-server"
RS_READY_PATH = "/.well-known/oauth-protected-resource/mcp"


def start_auth(env: Mapping[str, str], log_dir: Path) -> ServerProcess:
    return start_server("auth", "auth_server", env, env["AUTH_ISSUER"] + AS_READY_PATH, log_dir)


def start_rs(env: Mapping[str, str], log_dir: Path) -> ServerProcess:
    return start_server("rs", "resource_server", env, env["RS_BASE_URL"] + RS_READY_PATH, log_dir)


@contextmanager
def running_pair(data_dir: Path, **overrides: str) -> Iterator[Pair]:
    """Both servers on free loopback ports with ``data_dir`` as their DATA_DIR; stopped on exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = pair_environment(data_dir, auth_port=free_port(), rs_port=free_port(), **overrides)
    auth = start_auth(env, data_dir)
    try:
        rs = start_rs(env, data_dir)
    except BaseException:
        auth.stop()
        raise
    pair = Pair(auth=auth, rs=rs, env=env, data_dir=data_dir)
    try:
        yield pair
    finally:
        pair.rs.stop()
        pair.auth.stop()


def one_url_environment(data_dir: Path, *, port: int, **overrides: str) -> dict[str, str]:
    """The one-URL process's environment: PUBLIC_URL on loopback, which issuer and RS base URL follow."""
    public_url = f"http://127.0.0.1:{port}"
    return pair_environment(data_dir, auth_port=port, rs_port=port, PUBLIC_URL=public_url, **overrides)


def start_one_url(env: Mapping[str, str], log_dir: Path) -> ServerProcess:
    """``python -m mcp_oauth_demo.one_url`` on ``RS_PORT``; ready once the RS's metadata answers."""
    server = launch_server(
        "one-url",
        "mcp_oauth_demo.one_url",
        env,
        env["PUBLIC_URL"] + RS_READY_PATH,
        log_dir,
        args=["--port", env["RS_PORT"]],
    )
    wait_ready(server)
    return server


@contextmanager
def running_one_url(data_dir: Path, **overrides: str) -> Iterator[Pair]:
    """Both servers as one process on a free loopback port (one-URL mode); stopped on exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = one_url_environment(data_dir, port=free_port(), **overrides)
    server = start_one_url(env, data_dir)
    try:
        yield Pair(auth=server, rs=server, env=env, data_dir=data_dir)
    finally:
        server.stop()
