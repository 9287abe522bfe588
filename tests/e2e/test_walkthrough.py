"""``mcp-oauth-demo walkthrough`` against the live servers: every lesson runs and is printed."""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from mcp_oauth_demo import walkthrough
from mcp_oauth_demo.console import Console
from mcp_oauth_demo.launcher import Pair, free_port
from mcp_oauth_demo.user_agent import sign_in

pytestmark = pytest.mark.e2e

# A whole JWT in the output would mean a secret was printed instead of shortened.
WHOLE_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}")


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    # cwd without a .env, so only the environment given here configures the command.
    result = subprocess.run(
        [sys.executable, "-m", "mcp_oauth_demo.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, time.monotonic() - started


def test_walkthrough_runs_every_step(live_pair: Pair, tmp_path: Path, artifacts_dir: Path) -> None:
    result, wall = run_cli("walkthrough", "--rs", live_pair.rs_base_url, env=live_pair.env, cwd=tmp_path)
    (artifacts_dir / "walkthrough.txt").write_text(result.stdout + result.stderr)
    print(f"\nwalkthrough wall time: {wall:.2f}s")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    for number in range(1, 11):
        assert f"Step {number}. " in result.stdout, f"step {number} missing"
    for reference in (
        "RFC 6750 §3",
        "RFC 9728 §3",
        "RFC 8414 §3",
        "RFC 7591 §3",
        "RFC 7636",
        "RFC 9207",
        "RFC 7009",
    ):
        assert reference in result.stdout
    assert "401 Unauthorized" in result.stdout
    assert "Done: all 10 steps passed" in result.stdout
    assert "\033[" not in result.stdout, "no colour codes when stdout is not a terminal"
    assert not WHOLE_JWT.search(result.stdout), "a token was printed whole"
    assert "password=••••••••" in result.stdout, "the demo password is shown as dots"


def test_walkthrough_defaults_to_rs_base_url_from_settings(live_pair: Pair, tmp_path: Path) -> None:
    result, _ = run_cli("walkthrough", env=live_pair.env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert f"resource server at {live_pair.mcp_url}" in " ".join(result.stdout.split())


def test_walkthrough_without_servers_says_how_to_start_them(live_pair: Pair, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result, _ = run_cli("walkthrough", "--rs", dead, env=live_pair.env, cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot reach the resource server at {dead}" in result.stdout
    assert "honcho start" in result.stdout


def test_walkthrough_browser_mode_catches_the_redirect_on_loopback(live_pair: Pair) -> None:
    """``--browser``: the "browser" signs in and is redirected to the walkthrough's one-shot listener."""
    opened: list[str] = []

    def browser(url: str) -> None:
        opened.append(url)

        def person_at_the_browser() -> None:
            with httpx.Client(timeout=10) as client:
                answer = sign_in(client, url)
                client.get(answer.redirect_url)  # a real browser follows the redirect to the app

        threading.Thread(target=person_at_the_browser, daemon=True).start()

    output = io.StringIO()
    args = argparse.Namespace(rs=live_pair.rs_base_url, browser=True)
    status = walkthrough.run(args, out=Console(output), open_browser=browser)
    assert status == 0, output.getvalue()[-3000:]
    assert len(opened) == 1
    assert re.search(r"the browser came back to http://127\.0\.0\.1:\d+/callback", output.getvalue())
