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
from mcp_types.version import LATEST_HANDSHAKE_VERSION

from mcp_oauth_demo import constants, oauth_client, walkthrough
from mcp_oauth_demo.console import Console
from mcp_oauth_demo.launcher import Pair, free_port
from mcp_oauth_demo.user_agent import sign_in

pytestmark = pytest.mark.e2e

# A whole JWT in the output would mean a secret was printed instead of shortened.
WHOLE_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}")


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """The console script (``[project.scripts]``) as a person runs it."""
    started = time.monotonic()
    # cwd without a .env, so only the environment given here configures the command.
    result = subprocess.run(
        [str(Path(sys.executable).with_name("mcp-oauth-demo")), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, time.monotonic() - started


def test_walkthrough_runs_every_step(shared_pair: Pair, tmp_path: Path, artifacts_dir: Path) -> None:
    result, wall = run_cli("walkthrough", "--rs", shared_pair.rs_base_url, env=shared_pair.env, cwd=tmp_path)
    (artifacts_dir / "walkthrough.txt").write_text(result.stdout + result.stderr)
    print(f"\nwalkthrough wall time: {wall:.2f}s")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    for number in range(1, 12):
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
    assert "Done: all 11 steps passed" in result.stdout
    # Step 3 shows the whole AS metadata: step 6 relies on its last field.
    assert '"authorization_response_iss_parameter_supported": true' in result.stdout
    assert "more lines)" not in result.stdout.split("Step 4. ")[0].split("Step 3. ")[1]
    # Step 9: the narrowed token meets notes_add, the 403 names the missing scope, and after
    # the second consent the call works.
    step_up = result.stdout.split("Step 9. ")[1].split("Step 10. ")[0]
    assert "403 Forbidden" in step_up
    assert 'scope="notes:read notes:write", error="insufficient_scope"' in step_up
    assert "notes_add works again" in step_up
    assert "\033[" not in result.stdout, "no colour codes when stdout is not a terminal"
    assert not WHOLE_JWT.search(result.stdout), "a token was printed whole"
    assert "password=••••••••" in result.stdout, "the demo password is shown as dots"


def run_in_process(rs: str | None, **kwargs: object) -> tuple[int, str]:
    """The walkthrough in this process (a subprocess costs seconds of imports)."""
    output = io.StringIO()
    args = argparse.Namespace(rs=rs, browser=kwargs.pop("browser", False))
    status = walkthrough.run(args, out=Console(output), **kwargs)  # type: ignore[arg-type]
    return status, output.getvalue()


def test_walkthrough_defaults_to_rs_base_url_from_settings(
    shared_pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RS_BASE_URL", shared_pair.rs_base_url)
    monkeypatch.setenv("AUTH_ISSUER", shared_pair.issuer)
    monkeypatch.delenv("MCP_RESOURCE", raising=False)
    monkeypatch.chdir(tmp_path)
    status, output = run_in_process(None)
    assert status == 0, output[-3000:]
    assert f"resource server at {shared_pair.mcp_url}" in " ".join(output.split())


def test_walkthrough_without_servers_says_how_to_start_them() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    status, output = run_in_process(dead)
    assert status == 1
    assert f"cannot reach the resource server at {dead}" in output
    assert "`.venv/bin/mcp-oauth-demo start`" in output


def test_walkthrough_speaks_the_sdks_handshake_revision() -> None:
    """The one spelled-out revision (mcp_oauth_demo.constants) is the SDK's own ``initialize`` offer."""
    assert constants.PROTOCOL_VERSION == LATEST_HANDSHAKE_VERSION
    assert oauth_client.PROTOCOL_VERSION is constants.PROTOCOL_VERSION


def test_walkthrough_browser_mode_catches_the_redirect_on_loopback(shared_pair: Pair) -> None:
    """``--browser``: the "browser" signs in and is redirected to the walkthrough's one-shot listener."""
    opened: list[str] = []
    pages: list[httpx.Response] = []

    def browser(url: str) -> bool:
        opened.append(url)

        def person_at_the_browser() -> None:
            with httpx.Client(timeout=10) as client:
                answer = sign_in(client, url)
                # A real browser follows the redirect to the app.
                pages.append(client.get(answer.redirect_url))

        threading.Thread(target=person_at_the_browser, daemon=True).start()
        return True

    status, output = run_in_process(shared_pair.rs_base_url, browser=True, open_browser=browser)
    assert status == 0, output[-3000:]
    assert len(opened) == 2, "step 6 and the step-up of step 9 each open the browser"
    assert "scope=notes%3Aread+notes%3Awrite+offline_access" in opened[1], "the step-up asks for more"
    page = pages[0]
    assert page.status_code == 200
    assert "<style>" in page.text and "go back to the terminal" in page.text
    assert re.search(r"the browser came back to http://127\.0\.0\.1:\d+/callback", output)


@pytest.mark.parametrize("command", ["start", "walkthrough", "doctor"])
def test_help_is_plain_text(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` shows the module's docstring without its reStructuredText markup."""
    from mcp_oauth_demo import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    shown = capsys.readouterr().out
    assert f"mcp-oauth-demo {command}" in shown
    assert "``" not in shown and not re.search(r":(mod|func|class|data):`", shown), shown
    if command == "walkthrough":
        assert "11. revoke the refresh token" in shown, "the list of steps keeps its layout"


def test_walkthrough_reads_challenges_from_tool_results_too(tmp_path: Path) -> None:
    """TOOL_AUTH_CHALLENGE=result (what ChatGPT gets): the 401 of step 1 and the 403 of step 9
    arrive as HTTP 200 tool results with the challenge in ``_meta``; every step still passes."""
    from mcp_oauth_demo.launcher import running_pair

    with running_pair(tmp_path, TOOL_AUTH_CHALLENGE="result") as pair:
        status, output = run_in_process(pair.rs_base_url)
    assert status == 0, output[-3000:]
    step_up = output.split("Step 9. ")[1].split("Step 10. ")[0]
    assert "200 insufficient_scope; the challenge asks for scope='notes:read notes:write'" in step_up
