"""README.md, tried as a new user would: every command in its code blocks works as printed.

Each shell block of README (```bash) runs in a fresh copy of the project — the README, the
Procfile and ``.env.example`` in a temporary folder, with ``.venv`` pointing at this checkout's
virtual environment (the one README's test command created) — from a new shell: no
``VIRTUAL_ENV``, no venv ``bin/`` on ``PATH``, none of the servers' variables, no ``.env``.

The comment line just above a block says how it runs:

* no marker — runs offline, each command must exit 0;
* ``<!-- with-servers -->`` — runs against both servers (the session's ``shared_pair``), with
  ``http://localhost:3000`` and ``http://localhost:4000`` replaced by the pair's URLs and the
  pair's ``RS_BASE_URL``/``AUTH_ISSUER`` in the environment, as a ``.env`` would set them;
* ``<!-- starts-servers -->`` — a command that runs until Ctrl-C: started on free ports, it must
  bring both servers up (their discovery documents answer 200), then it gets Ctrl-C (SIGINT to
  its process group, as a terminal sends it) and must stop;
* ``<!-- run-command -->`` — README's first set-up command: its venv and install steps are what
  README's test command already did, so what is run is the rest (activate, ``honcho start``),
  as ``starts-servers``;
* ``<!-- test-command -->`` — README's test command: ``.ci/run`` runs it literally;
* ``<!-- example -->`` — not run: it needs a person, a tunnel, the internet or your own values.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mcp_oauth_demo import doctor
from mcp_oauth_demo.launcher import Pair, free_port
from shared.settings import Settings

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
VENV = REPO / ".venv"
SHELL_LANGUAGES = {"bash", "sh", "shell"}
MARKERS = {"with-servers", "starts-servers", "run-command", "test-command", "example"}
COMMAND_TIMEOUT_SEC = 60.0
READY_TIMEOUT_SEC = 60.0
_MARKER_RE = re.compile(r"^<!--\s*([a-z-]+)\s*-->$")
_FENCE_RE = re.compile(r"^```\s*([A-Za-z0-9_+-]*)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of README.md."""

    line: int  # 1-based line of the opening fence
    language: str
    marker: str | None  # the marker comment on the line above, if any
    text: str

    @property
    def commands(self) -> list[str]:
        """Its commands: continuation lines joined, comment-only and blank lines dropped."""
        commands, current = [], ""
        for raw in self.text.splitlines():
            line = raw.strip()
            if not current and (not line or line.startswith("#")):
                continue
            if line.endswith("\\"):
                current += line[:-1] + " "
                continue
            commands.append(current + line)
            current = ""
        return commands

    @property
    def id(self) -> str:
        return f"line{self.line}-{self.marker or 'offline'}"


def readme_blocks(text: str) -> list[Block]:
    blocks, lines = [], text.splitlines()
    index = 0
    while index < len(lines):
        fence = _FENCE_RE.match(lines[index].strip())
        if fence is None:
            index += 1
            continue
        above = lines[index - 1].strip() if index else ""
        marker = _MARKER_RE.match(above)
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = "\n".join(lines[index + 1 : end])
        blocks.append(Block(index + 1, fence.group(1).lower(), marker.group(1) if marker else None, body))
        index = end + 1
    return blocks


SHELL_BLOCKS = [block for block in readme_blocks(README.read_text()) if block.language in SHELL_LANGUAGES]


def blocks_marked(*markers: str | None) -> list[pytest.param]:
    return [pytest.param(block, id=block.id) for block in SHELL_BLOCKS if block.marker in markers]


# -- a new user's terminal ------------------------------------------------------------------
@dataclass
class Terminal:
    """A fresh copy of the project and the environment of a new shell in it."""

    folder: Path
    env: dict[str, str]

    def run(self, command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=self.folder,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SEC,
        )


def new_shell_environment() -> dict[str, str]:
    """``os.environ`` as a new terminal has it: no venv active, none of the servers' variables."""
    settings_variables = {name.upper() for name in Settings.model_fields}
    venv_bins = {str(VENV / "bin"), str(Path(sys.executable).parent)}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH"} and key.upper() not in settings_variables
    }
    env["PATH"] = os.pathsep.join(
        entry for entry in env.get("PATH", "").split(os.pathsep) if entry and entry not in venv_bins
    )
    return env


@pytest.fixture
def terminal(tmp_path: Path) -> Terminal:
    if not (VENV / "bin" / "mcp-oauth-demo").exists():
        pytest.skip(f"README's commands use .venv/bin/…; create {VENV} with README's test command first")
    folder = tmp_path / "project"
    folder.mkdir()
    for name in ("README.md", "Procfile", ".env.example"):
        shutil.copy2(REPO / name, folder / name)
    (folder / ".venv").symlink_to(VENV)
    env = new_shell_environment()
    env["DATA_DIR"] = str(tmp_path / "data")  # whatever a command stores stays in the copy
    return Terminal(folder, env)


def assert_succeeded(result: subprocess.CompletedProcess[str], command: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"`{command}` exited {result.returncode}:\n{output[-4000:]}"
    assert "Traceback (most recent call last)" not in output, f"`{command}` printed a traceback:\n{output}"


# -- the blocks -----------------------------------------------------------------------------
def test_readme_has_the_blocks_this_module_runs() -> None:
    markers = [block.marker for block in SHELL_BLOCKS]
    unknown = sorted({marker for marker in markers if marker is not None and marker not in MARKERS})
    assert not unknown, f"unknown README block markers {unknown}; known: {sorted(MARKERS)}"
    for marker in ("run-command", "test-command", "starts-servers", "with-servers", None):
        assert marker in markers, f"README has no shell block marked {marker or '(offline)'}"


@pytest.mark.parametrize("block", blocks_marked(None))
def test_offline_block_runs_as_printed(block: Block, terminal: Terminal) -> None:
    for command in block.commands:
        assert_succeeded(terminal.run(command), command)


@pytest.mark.parametrize("block", blocks_marked("with-servers"))
def test_block_runs_against_the_servers(block: Block, terminal: Terminal, shared_pair: Pair) -> None:
    env = {
        **terminal.env,
        # What a .env with the pair's URLs would say; both commands also read RS_BASE_URL.
        "RS_BASE_URL": shared_pair.rs_base_url,
        "AUTH_ISSUER": shared_pair.issuer,
        "RS_PORT": shared_pair.env["RS_PORT"],
        "AUTH_PORT": shared_pair.env["AUTH_PORT"],
    }
    if any(command.startswith("curl ") for command in block.commands) and shutil.which("curl") is None:
        pytest.skip("curl is not installed (Debian package 'curl')")
    for command in block.commands:
        live = command.replace("http://localhost:3000", shared_pair.rs_base_url).replace(
            "http://localhost:4000", shared_pair.issuer
        )
        assert_succeeded(terminal.run(live, env), live)


def test_the_401_curl_shows_what_readme_explains(terminal: Terminal, shared_pair: Pair) -> None:
    """README's "Why a 401 or 403 carries a tool result with isError" describes this answer."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (Debian package 'curl')")
    (command,) = [
        command
        for block in SHELL_BLOCKS
        if block.marker == "with-servers"
        for command in block.commands
        if command.startswith("curl -si") and "tools/call" in command
    ]
    result = terminal.run(command.replace("http://localhost:3000", shared_pair.rs_base_url))
    assert_succeeded(result, command)
    head, _, body = result.stdout.partition("\n\n")  # text mode has turned CRLF into LF
    assert head.startswith("HTTP/1.1 401 Unauthorized")
    assert re.search(r'^www-authenticate: Bearer resource_metadata="', head, re.I | re.M), head
    message = json.loads(body)
    assert message["result"]["isError"] is True
    assert message["result"]["_meta"]["mcp/www_authenticate"], "the challenge repeated for ChatGPT"
    assert "Sign-in required" in message["result"]["content"][0]["text"]


def wait_for_both(process: subprocess.Popen[str], env: dict[str, str], log: Path) -> float:
    """Seconds until both servers answer their discovery documents (RFC 8414 §3, RFC 9728 §3)."""
    urls = [
        env["AUTH_ISSUER"] + "/.well-known/oauth-authorization-server",
        env["RS_BASE_URL"] + "/.well-known/oauth-protected-resource/mcp",
    ]
    started = time.monotonic()
    while urls:
        assert process.poll() is None, f"exited with {process.returncode}:\n{log.read_text()[-4000:]}"
        assert time.monotonic() - started < READY_TIMEOUT_SEC, f"not ready:\n{log.read_text()[-4000:]}"
        try:
            if httpx.get(urls[0], timeout=1.0).status_code == 200:
                urls.pop(0)
                continue
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return time.monotonic() - started


@contextmanager
def started(terminal: Terminal, command: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, str], Path]]:
    """``command`` running in its own process group on free ports; killed on the way out."""
    auth_port, rs_port = free_port(), free_port()
    env = {
        **terminal.env,
        "AUTH_PORT": str(auth_port),
        "RS_PORT": str(rs_port),
        "AUTH_ISSUER": f"http://127.0.0.1:{auth_port}",
        "RS_BASE_URL": f"http://127.0.0.1:{rs_port}",
        "PYTHONUNBUFFERED": "1",
    }
    log = terminal.folder / "servers.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=terminal.folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, like a job in a terminal
        )
    try:
        yield process, env, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def run_until_ctrl_c(terminal: Terminal, command: str) -> str:
    """Start ``command``, wait for both servers, press Ctrl-C; returns what it printed."""
    with started(terminal, command) as (process, env, log):
        wait_for_both(process, env, log)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's foreground job
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`{command}` did not stop on Ctrl-C:\n{log.read_text()[-4000:]}")
        output = log.read_text()
    assert "Traceback (most recent call last)" not in output, output
    return output


@pytest.mark.parametrize("block", blocks_marked("starts-servers"))
def test_block_starts_both_servers(block: Block, terminal: Terminal) -> None:
    (command,) = block.commands
    output = run_until_ctrl_c(terminal, command)
    assert "MCP endpoint (Streamable HTTP)" in output and "authorization server on" in output, output


def test_run_command_starts_both_servers_in_its_activated_venv(terminal: Terminal) -> None:
    (block,) = [block for block in SHELL_BLOCKS if block.marker == "run-command"]
    (command,) = block.commands
    steps = command.split(" && ")
    install = [step for step in steps if step.startswith(("python3 -m venv", "pip install"))]
    assert install == ["python3 -m venv .venv", "pip install -q -e ."], command
    rest = " && ".join(step for step in steps if step not in install)
    assert rest == ". .venv/bin/activate && honcho start", "README's set-up command changed: update this test"
    output = run_until_ctrl_c(terminal, rest)
    assert "MCP endpoint (Streamable HTTP)" in output and "authorization server on" in output, output


def test_test_command_is_the_one_ci_runs() -> None:
    (block,) = [block for block in SHELL_BLOCKS if block.marker == "test-command"]
    ci = (REPO / ".ci" / "run").read_text()
    assert f'test_command="{block.text.strip()}"' in ci


def test_honcho_alone_fails_in_a_new_terminal_as_readme_says(terminal: Terminal) -> None:
    """Why README prints `.venv/bin/mcp-oauth-demo start`: `.venv/bin/honcho start` needs activation."""
    env = {**terminal.env, "PATH": f"{terminal.folder / 'no-python-here'}{os.pathsep}/usr/bin:/bin"}
    if shutil.which("python", path="/usr/bin:/bin") is None:
        expected = "python: not found"
    else:
        expected = "No module named"  # another Python, without this project's packages
    with started(Terminal(terminal.folder, env), ".venv/bin/honcho start") as (process, _, log):
        process.wait(timeout=COMMAND_TIMEOUT_SEC)
        assert expected in log.read_text(), log.read_text()


# -- README's troubleshooting table is the doctor's -----------------------------------------
def test_troubleshooting_table_is_generated_by_the_doctor(terminal: Terminal) -> None:
    text = README.read_text()
    assert doctor.TABLE_BEGIN in text and doctor.TABLE_END in text
    block = text.split(doctor.TABLE_BEGIN, 1)[1].split(doctor.TABLE_END, 1)[0].strip()
    printed = terminal.run(".venv/bin/mcp-oauth-demo doctor --table")
    assert printed.returncode == 0 and printed.stdout.strip() == doctor.troubleshooting_table()
    assert block == doctor.troubleshooting_table(), (
        "README's troubleshooting table differs from the doctor's problems: replace the lines between "
        "the troubleshooting-table markers with the output of `.venv/bin/mcp-oauth-demo doctor --table`"
    )


def test_readme_cites_no_spec_file() -> None:
    """The repository stands alone: it cites RFCs, the MCP spec and its own modules, no SPEC.md."""
    assert not re.search(r"\bSPEC(\.md|\s*§)", README.read_text())


# -- `mcp-oauth-demo start` beyond README's one line ----------------------------------------
def test_start_runs_only_the_processes_named(terminal: Terminal) -> None:
    with started(terminal, ".venv/bin/mcp-oauth-demo start auth") as (process, env, log):
        url = env["AUTH_ISSUER"] + "/.well-known/oauth-authorization-server"
        deadline = time.monotonic() + READY_TIMEOUT_SEC
        while True:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with pytest.raises(httpx.TransportError):
            httpx.get(env["RS_BASE_URL"] + "/.well-known/oauth-protected-resource/mcp", timeout=1.0)
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=20)
    assert "starting auth with " in log.read_text()


def test_start_refuses_an_unknown_process(terminal: Terminal) -> None:
    result = terminal.run(".venv/bin/mcp-oauth-demo start web")
    assert result.returncode == 2
    assert "no process web in the Procfile; it has auth, rs" in result.stderr
