"""The real thing: ``python -m auth_server`` in a subprocess, on a free 127.0.0.1 port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.settings import Settings
from tests.auth_server.as_flow_helpers import get_tokens, post_token, refresh, register_client

pytestmark = pytest.mark.timeout(240)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One ``python -m auth_server`` process; always stopped by the fixture."""

    def __init__(self, data_dir: Path, port: int, **env: str) -> None:
        self.port = port
        self.issuer = f"http://127.0.0.1:{port}"
        self.env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
        self.env |= {"AUTH_PORT": str(port), "AUTH_ISSUER": self.issuer, "DATA_DIR": str(data_dir), **env}
        self.cwd = data_dir.parent  # no developer .env file
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> str:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "auth_server"],
            cwd=self.cwd,
            env=self.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited: {self.process.stdout.read()}")  # type: ignore[union-attr]
            try:
                if (
                    httpx.get(f"{self.issuer}/.well-known/oauth-authorization-server", timeout=1).status_code
                    == 200
                ):
                    return self.issuer
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("the server did not start within 90 s")

    def stop(self) -> str:
        output = ""
        if self.process is not None:
            self.process.terminate()
            try:
                output, _ = self.process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                output, _ = self.process.communicate()
            self.process = None
        return output


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "data", free_port())
    try:
        yield running
    finally:
        running.stop()


def test_whole_flow_and_restart_against_uvicorn(server: Server) -> None:
    with httpx.Client(base_url=server.start()) as http:
        metadata = http.get("/.well-known/oauth-authorization-server").json()
        assert metadata["issuer"] == server.issuer
        tokens = get_tokens(http, resource="http://localhost:3000/mcp")
        kid = http.get("/oauth2/jwks").json()["keys"][0]["kid"]
    output = server.stop()
    assert f"issuer   {server.issuer}" in output
    assert f"metadata {server.issuer}/.well-known/oauth-authorization-server" in output
    assert f"jwks     {server.issuer}/oauth2/jwks" in output

    with httpx.Client(base_url=server.start()) as http:  # a new process on the same DATA_DIR
        assert http.get("/oauth2/jwks").json()["keys"][0]["kid"] == kid
        refreshed = refresh(http, tokens.client_id, tokens.refresh_token)
        assert refreshed.status_code == 200, refreshed.text
        confidential = register_client(http, token_endpoint_auth_method="client_secret_basic")
        own = get_tokens(http, confidential)
        info = post_token(
            http,
            {"token": own.access_token},
            confidential["client_id"],
            client_secret=confidential["client_secret"],
            basic=True,
            path="/oauth2/introspect",
        ).json()
        assert info["active"] is True and info["iss"] == server.issuer


def test_misconfiguration_is_one_line(tmp_path: Path) -> None:
    bad = Server(tmp_path / "data", free_port())
    bad.env["AUTH_ISSUER"] = "http://localhost:4000/"
    result = subprocess.run(
        [sys.executable, "-m", "auth_server"],
        cwd=bad.cwd,
        env=bad.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "AUTH_ISSUER" in result.stderr and "trailing slash" in result.stderr


def test_unreadable_database_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """``python -m auth_server``'s own check, run in-process (the subprocess path is shown above)."""
    from auth_server.__main__ import main
    from shared.settings import get_settings

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "auth_server.sqlite3").write_bytes(b"garbage" * 1000)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    try:
        assert main() == 2
    finally:
        get_settings.cache_clear()
    error = capsys.readouterr().err
    assert error.strip().count("\n") == 0
    assert error.startswith("configuration error: DATA_DIR=") and "move the file away" in error
