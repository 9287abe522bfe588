"""``mcp-oauth-demo doctor``: silent on a healthy pair, precise on each classic misconfiguration.

The healthy case runs the console script as a person would. The misconfigurations run the same
command in-process (a subprocess costs seconds of imports each) with the pair's environment plus
one wrong variable, the way a person's ``.env`` would be wrong. The individual checks are also
exercised directly on a :class:`~mcp_oauth_demo.doctor.Probe` with canned answers.
"""

from __future__ import annotations

import argparse
import email.utils
import io
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mcp_oauth_demo import doctor
from mcp_oauth_demo.console import Console
from mcp_oauth_demo.launcher import Pair, free_port
from shared.settings import SettingsFields

pytestmark = pytest.mark.e2e


@dataclass
class Outcome:
    returncode: int
    stdout: str


def run_doctor(pair: Pair, cwd: Path, monkeypatch: pytest.MonkeyPatch, **overrides: str) -> Outcome:
    """``mcp-oauth-demo doctor`` in this process, configured exactly like the pair plus ``overrides``."""
    env = {**pair.env, **overrides}
    for name in set(os.environ) - set(env):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(cwd)  # no .env there: only this environment configures the doctor
    output = io.StringIO()
    code = doctor.run(argparse.Namespace(no_sign_in=False, timeout=10.0, table=False), out=Console(output))
    print(output.getvalue())
    return Outcome(code, output.getvalue())


def failed_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip().startswith("✖")]


def test_healthy_pair_passes(shared_pair: Pair, tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("mcp-oauth-demo")  # the [project.scripts] entry point
    started = time.monotonic()
    result = subprocess.run(
        [str(script), "doctor"], env=shared_pair.env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    print(result.stdout, f"\ndoctor wall time: {time.monotonic() - started:.2f}s")
    assert result.returncode == 0, result.stdout + result.stderr
    assert failed_lines(result.stdout) == []
    assert "all checks passed" in result.stdout
    assert "the RS accepts it: auth_whoami works" in result.stdout
    assert f"the AS issues tokens with aud = {shared_pair.mcp_url}" in result.stdout
    assert f"(no .env in {tmp_path}: configuration from the environment and the defaults)" in result.stdout


def test_header_names_the_env_file_it_read(
    shared_pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("TOOL_AUTH_CHALLENGE=auto\n")
    result = run_doctor(shared_pair, tmp_path, monkeypatch)
    assert result.returncode == 0, result.stdout
    assert f"(configuration from {tmp_path / '.env'} and the environment)" in result.stdout.splitlines()[0]


def test_issuer_with_trailing_slash(
    shared_pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_doctor(shared_pair, tmp_path, monkeypatch, AUTH_ISSUER=shared_pair.issuer + "/")
    assert result.returncode == 1
    assert (
        f"the AS announces issuer '{shared_pair.issuer}' but AUTH_ISSUER is '{shared_pair.issuer}/'"
        in result.stdout
    )
    assert f"set AUTH_ISSUER={shared_pair.issuer} exactly (no trailing slash)" in result.stdout


def test_chatgpt_callback_missing_from_allowlist(
    shared_pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    claude_only = ",".join(doctor.CLAUDE_CALLBACKS)
    result = run_doctor(shared_pair, tmp_path, monkeypatch, OAUTH_ALLOWED_REDIRECT_URIS=claude_only)
    assert result.returncode == 1
    assert f"does not allow {doctor.CHATGPT_CALLBACK}" in result.stdout
    assert doctor.PROBLEM["redirect-allowlist"].fix in result.stdout


def test_public_http_url(shared_pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # .invalid never resolves (RFC 6761), so the unreachable RS fails fast too.
    result = run_doctor(shared_pair, tmp_path, monkeypatch, RS_BASE_URL="http://mcp.demo.invalid")
    assert result.returncode == 1
    assert "public URL without https: RS_BASE_URL=http://mcp.demo.invalid" in result.stdout
    assert doctor.PROBLEM["https"].fix in result.stdout
    assert doctor.PROBLEM["public-rs-local-as"].fix in result.stdout


def test_unreachable_authorization_server(
    shared_pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = f"http://127.0.0.1:{free_port()}"
    result = run_doctor(shared_pair, tmp_path, monkeypatch, AUTH_ISSUER=wrong)
    assert result.returncode == 1
    assert f"no answer from {wrong}/.well-known/oauth-authorization-server" in result.stdout
    assert doctor.PROBLEM["as-reachable"].fix in result.stdout
    # The running RS still names the real issuer: the doctor says so too.
    assert f"does not contain '{wrong}'" in result.stdout


# -- single checks on canned answers ---------------------------------------------------------
def probe_for(handler: httpx.MockTransport | None = None, **settings: str) -> doctor.Probe:
    values = {"rs_base_url": "http://localhost:3000", "auth_issuer": "http://localhost:4000", **settings}
    http = httpx.Client(transport=handler or httpx.MockTransport(lambda request: httpx.Response(404)))
    return doctor.Probe(settings=SettingsFields(_env_file=None, **values), http=http)  # type: ignore[call-arg]


def statuses(findings: object) -> list[tuple[str, str]]:
    return [(finding.key, finding.status) for finding in findings]  # type: ignore[attr-defined]


def test_every_problem_has_a_check_and_a_fix() -> None:
    assert all(problem.fix and problem.check and problem.problem for problem in doctor.PROBLEMS)
    assert len({problem.key for problem in doctor.PROBLEMS}) == len(doctor.PROBLEMS)
    table = doctor.troubleshooting_table().splitlines()
    assert len(table) == 2 + len(doctor.PROBLEMS)
    assert all(line.count(" | ") == 2 for line in table[2:]), "no '|' inside a cell"


def test_check_public_rs_with_local_issuer() -> None:
    probe = probe_for(rs_base_url="https://abc123.ngrok-free.app", auth_issuer="http://localhost:4000")
    assert statuses(doctor.check_public_rs_local_as(probe)) == [("public-rs-local-as", "fail")]
    probe = probe_for(
        rs_base_url="https://abc123.ngrok-free.app", auth_issuer="https://def456.ngrok-free.app"
    )
    assert statuses(doctor.check_public_rs_local_as(probe)) == [("public-rs-local-as", "ok")]


def test_check_hs256_is_a_warning() -> None:
    probe = probe_for(jwt_alg="HS256", jwt_secret="x" * 40)
    assert statuses(doctor.check_hs256(probe)) == [("hs256", "warn")]


def test_check_clock_skew_from_date_header() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        off = 120 if request.url.port == 3000 else 0
        date = email.utils.formatdate(time.time() + off, usegmt=True)
        return httpx.Response(200, json={}, headers={"Date": date})

    findings = list(doctor.check_clock(probe_for(httpx.MockTransport(answer))))
    assert [(f.key, f.status) for f in findings] == [("clock", "fail"), ("clock", "ok")]
    assert re.search(r"the RS's clock is \+1(19|20)s off", findings[0].message), findings[0].message


def test_check_cors_notices_missing_headers() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(
                401,
                json={},
                headers={
                    "WWW-Authenticate": 'Bearer resource_metadata="x"',
                    "Access-Control-Allow-Origin": "*",
                },
            )
        return httpx.Response(200, json={})

    findings = list(doctor.check_cors(probe_for(httpx.MockTransport(answer))))
    assert statuses(findings) == [("cors", "fail")]
    assert "the PRM has no Access-Control-Allow-Origin" in findings[0].message
    assert "does not expose WWW-Authenticate" in findings[0].message


def test_check_upstream_names_what_is_missing_and_what_the_provider_says() -> None:
    assert statuses(doctor.check_upstream(probe_for())) == [("upstream", "ok")]  # IDENTITY=demo
    missing = list(doctor.check_upstream(probe_for(identity="oidc", upstream_client_id="c")))
    assert statuses(missing) == [("upstream", "fail")]
    assert "UPSTREAM_ISSUER, UPSTREAM_CLIENT_SECRET" in missing[0].message
    assert "http://localhost:4000/oauth2/upstream/callback" in missing[0].message

    def provider(issuer: str) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            if str(request.url) == "https://idp.example/.well-known/openid-configuration":
                return httpx.Response(200, json={"issuer": issuer})
            return httpx.Response(404)

        return httpx.MockTransport(handle)

    configured = {
        "identity": "oidc",
        "upstream_client_id": "c",
        "upstream_client_secret": "s",
        "upstream_issuer": "https://idp.example",
    }
    good = list(doctor.check_upstream(probe_for(provider("https://idp.example"), **configured)))
    assert statuses(good) == [("upstream", "ok")] and "/oauth2/upstream/callback" in good[0].message
    other = list(doctor.check_upstream(probe_for(provider("https://other.example"), **configured)))
    assert statuses(other) == [("upstream", "fail")] and "other.example" in other[0].message
    down = doctor.check_upstream(probe_for(None, **configured | {"upstream_issuer": "https://gone.example"}))
    assert statuses(down) == [("upstream", "fail")]


def test_the_round_trip_is_skipped_when_a_person_must_sign_in_upstream() -> None:
    findings = list(doctor.check_token(probe_for(identity="oidc")))
    assert statuses(findings) == [("token", "skip")] and "IDENTITY=oidc" in findings[0].message


def test_check_upstream_for_github_needs_the_app_credentials() -> None:
    missing = list(doctor.check_upstream(probe_for(identity="github")))
    assert statuses(missing) == [("upstream", "fail")]
    assert "UPSTREAM_CLIENT_ID, UPSTREAM_CLIENT_SECRET" in missing[0].message
    configured = probe_for(identity="github", upstream_client_id="c", upstream_client_secret="s")
    assert statuses(doctor.check_upstream(configured)) == [("upstream", "ok")]
