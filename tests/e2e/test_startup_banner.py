"""What the servers print when they start: where to connect, and a warning for a demo-only mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_oauth_demo.launcher import Pair, running_pair

pytestmark = pytest.mark.e2e

HS256_WARNING = "warning: JWT_ALG=HS256 is a demo mode"


def test_default_start_names_the_inspector_steps_and_warns_about_nothing(shared_pair: Pair) -> None:
    rs_log, as_log = shared_pair.rs.log, shared_pair.auth.log
    assert f"MCP endpoint (Streamable HTTP): {shared_pair.mcp_url}" in rs_log
    assert "MCP Inspector (Node >= 22.19)" in rs_log and "+ Add manually" in rs_log
    assert "`.venv/bin/mcp-oauth-demo doctor`" in rs_log
    assert "warning:" not in rs_log and "warning:" not in as_log


def test_hs256_mode_warns_at_start_up(tmp_path: Path) -> None:
    with running_pair(tmp_path, JWT_ALG="HS256", JWT_SECRET="s" * 40) as pair:
        for server in (pair.auth, pair.rs):
            assert HS256_WARNING in server.log, server.log
            assert "anyone who has it can mint tokens" in server.log
