"""Driving real Node MCP clients through OAuth: the person at the browser, and a stdio child process.

A Node client that needs a token prints (and tries to open) an authorization URL, then waits on
its loopback callback (RFC 8252 §7.3) for the browser to come back with the code. Here
:class:`BrowserUser` is that person and that browser: for each authorization URL the client
shows, it signs in as the demo user and approves with :func:`mcp_oauth_demo.user_agent.sign_in`,
which stops at the AS's redirect, then follows that redirect to the client's callback as a
browser would. The URLs it handled are the count of browser sign-ins a person would go through.

:class:`NodeProcess` runs the client with pipes and reads its stderr on a thread, handing every
authorization URL to the :class:`BrowserUser` while the test talks to the client over stdout.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mcp_oauth_demo.launcher import Pair
from mcp_oauth_demo.user_agent import sign_in
from tests.e2e.oauth_flow import as_metadata

# The display and desktop variables that make xdg-open pick a real browser; a Node client's
# opener falls back to $BROWSER without them (see :func:`no_browser_environment`).
_DESKTOP_VARIABLES = (
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "XDG_CURRENT_DESKTOP",
    "XDG_SESSION_DESKTOP",
    "DESKTOP_SESSION",
    "KDE_FULL_SESSION",
    "GNOME_DESKTOP_SESSION_ID",
    "DBUS_SESSION_BUS_ADDRESS",
)


CALLBACK_WAIT_SEC = 15.0


def no_browser_environment(work_dir: Path) -> tuple[dict[str, str], Path]:
    """An environment in which "opening a browser" only appends the URL to a file.

    ``BROWSER`` names a two-line shell script; with no display and no desktop session, xdg-open
    (which the ``open`` npm package runs) uses ``$BROWSER``, so nothing is ever launched. Returns
    the environment and the file the script writes, one URL per line.
    """
    opened = work_dir / "browser-opened.txt"
    script = work_dir / "record-browser.sh"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{opened}"\n')
    script.chmod(0o755)
    env = {name: value for name, value in os.environ.items() if name not in _DESKTOP_VARIABLES}
    env["BROWSER"] = str(script)
    return env, opened


def opened_urls(opened: Path) -> list[str]:
    return opened.read_text().split() if opened.exists() else []


@dataclass
class BrowserUser:
    """Signs in and approves at each authorization URL once, and delivers the code to the callback."""

    pair: Pair
    authorization_urls: list[str] = field(default_factory=list)
    callback_statuses: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        endpoint = as_metadata(self.pair)["authorization_endpoint"]
        self._url_re = re.compile(re.escape(endpoint) + r"\?[^\s\"']+")

    def urls_in(self, line: str) -> list[str]:
        return self._url_re.findall(line)

    def visit(self, url: str) -> None:
        if url in self.authorization_urls:
            return  # a client that prints the same URL twice still means one sign-in
        self.authorization_urls.append(url)
        try:
            with httpx.Client(timeout=15) as browser:
                answer = sign_in(browser, url)
                answer.require_code()
                self.callback_statuses.append(self._follow_to_callback(browser, answer.redirect_url))
        except Exception as exc:  # reported by the test; a thread must not die silently
            self.failures.append(f"{url}: {exc!r}")

    @staticmethod
    def _follow_to_callback(browser: httpx.Client, redirect_url: str) -> int:
        """Follow the AS's redirect to the client's loopback callback, as the browser would.

        A client may print its URL a moment before its callback listens (mcp-remote does), and a
        scripted user is faster than a person, so a refused connection is retried for a while.
        """
        deadline = time.monotonic() + CALLBACK_WAIT_SEC
        while True:
            try:
                return browser.get(redirect_url).status_code
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def scopes(self, index: int) -> set[str]:
        return set(query_param(self.authorization_urls[index], "scope").split())


def query_param(url: str, name: str) -> str:
    return httpx.URL(url).params.get(name, "")


class NodeProcess:
    """A Node client with pipes: stdout lines into a queue, stderr scanned for authorization URLs."""

    def __init__(
        self, command: Sequence[str], *, user: BrowserUser, env: Mapping[str, str], cwd: Path
    ) -> None:
        self.user = user
        self.stderr_lines: list[str] = []
        self.stdout_lines: queue.Queue[str] = queue.Queue()
        self.process = subprocess.Popen(
            list(command),
            cwd=str(cwd),
            env={**env, "NO_COLOR": "1", "FORCE_COLOR": "0"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.stdout_lines.put(line)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line)
            for url in self.user.urls_in(line):
                self.user.visit(url)

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def next_json(self, timeout: float, *, request_id: int | None = None) -> dict[str, Any]:
        """The next JSON line on stdout (with ``id == request_id`` when given); other lines are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer within {timeout:.0f}s\n{self.describe()}")
            try:
                line = self.stdout_lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                if self.process.poll() is not None and self.stdout_lines.empty():
                    raise RuntimeError(f"the client exited early\n{self.describe()}") from None
                continue
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if request_id is None or (isinstance(message, dict) and message.get("id") == request_id):
                return message

    def request(self, request_id: int, method: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        """A JSON-RPC request over stdin, and its response."""
        self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return self.next_json(timeout, request_id=request_id)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            if self.wait(5) is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.wait(5)
        for thread in self._threads:
            thread.join(timeout=5)

    def describe(self) -> str:
        """For assertion messages: the command, how it ended and the tail of its stderr."""
        code = self.process.poll()
        ended = "still running" if code is None else f"exit code {code}"
        return f"$ {' '.join(self.process.args)}\n({ended})\n{''.join(self.stderr_lines)[-6000:]}"  # type: ignore[arg-type]
