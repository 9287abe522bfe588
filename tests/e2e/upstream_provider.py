"""node-oidc-provider (``oidc_provider.mjs``) as a real upstream OpenID Provider for the tests."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from mcp_oauth_demo.launcher import Pair, free_port, running_pair
from tests.e2e.node_tools import NodeTools

SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
CLIENT_ID = "mcp-oauth-demo"
CLIENT_SECRET = "a-test-secret-of-the-upstream-client-0123456789"


@contextmanager
def running_provider(node_tools: NodeTools, callback: str, port: int | None = None) -> Iterator[str]:
    """node-oidc-provider on 127.0.0.1 with one client whose redirect URI is ``callback``; its issuer."""
    # A copy beside the cache's node_modules, so that `import "oidc-provider"` resolves there.
    script = node_tools.root / SCRIPT.name
    shutil.copyfile(SCRIPT, script)
    port = port or free_port()
    process = subprocess.Popen(
        [str(node_tools.node22), str(script), str(port), CLIENT_ID, CLIENT_SECRET, callback],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read() if process.stdout else ""
                pytest.fail(f"oidc-provider did not start:\n{output[-2000:]}")
            time.sleep(0.1)
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def pair_behind_provider(node_tools: NodeTools, data_dir: Path) -> Iterator[Pair]:
    """Both servers as real processes with ``IDENTITY=oidc``, and the provider they send users to."""
    provider_port = free_port()
    upstream = {
        "IDENTITY": "oidc",
        "UPSTREAM_ISSUER": f"http://127.0.0.1:{provider_port}",
        "UPSTREAM_CLIENT_ID": CLIENT_ID,
        "UPSTREAM_CLIENT_SECRET": CLIENT_SECRET,
    }
    with running_pair(data_dir, **upstream) as pair:
        with running_provider(node_tools, f"{pair.issuer}/oauth2/upstream/callback", provider_port):
            yield pair
