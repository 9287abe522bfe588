"""The official MCP conformance suite (``@modelcontextprotocol/conformance``) against the live RS.

One run of the suite's whole active server suite, on Node 22, against ``/mcp`` of the resource
server started as a real process. It proves:

* the transport and lifecycle basics every MCP client relies on pass outright —
  ``server-initialize``, ``ping``, ``tools-list``, ``resources-list``,
  ``server-sse-multiple-streams`` (concurrent POST streams on one session) and
  ``dns-rebinding-protection`` (a foreign ``Host``/``Origin`` is refused with 4xx, a loopback one
  accepted) — with no FAILURE and no WARNING check;
* every other scenario passes too, except those listed in ``conformance-expected-failures.yml``,
  which need the suite's own fixture tools, prompts and resources (the file says why for each).
  The suite's baseline logic fails the run on an unexpected failure *and* on a stale entry (a
  listed scenario that now passes), so the list cannot silently rot.

Results (``checks.json`` per scenario) and the suite's output are kept in
``test-artifacts/conformance/``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcp_oauth_demo.launcher import Pair
from tests.e2e.node_tools import NodeRun, NodeTools, run_node_tool

pytestmark = pytest.mark.e2e

REQUIRED = (
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
)
EXPECTED_FAILURES = Path(__file__).with_name("conformance-expected-failures.yml")
SUITE_TIMEOUT_SEC = 300.0
# The suite names each result folder "server-<scenario>-<ISO timestamp with ':' and '.' as '-'>".
_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")
_RUNNING = re.compile(r"^=== Running scenario: (?P<scenario>\S+) ===$", re.M)


def expected_failures() -> set[str]:
    baseline = yaml.safe_load(EXPECTED_FAILURES.read_text()) or {}
    return set(baseline.get("server") or [])


def read_results(output_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Scenario name → its checks, from the ``checks.json`` files the suite wrote."""
    results: dict[str, list[dict[str, Any]]] = {}
    for checks_file in output_dir.glob("*/checks.json"):
        match = _RESULT_DIR.match(checks_file.parent.name)
        if match:
            results[match["scenario"]] = json.loads(checks_file.read_text())
    return results


def problems(checks: list[dict[str, Any]]) -> list[str]:
    """What the suite's baseline logic counts against a scenario: FAILURE and WARNING checks."""
    found = []
    for check in checks:
        if check.get("status") in ("FAILURE", "WARNING"):
            details = check.get("details") if isinstance(check.get("details"), dict) else {}
            why = check.get("errorMessage") or details.get("message") or check.get("description")
            found.append(f"{check.get('status')} {check.get('id')}: {why}")
    return found


def run_suite(node_tools: NodeTools, url: str, output_dir: Path) -> NodeRun:
    return run_node_tool(
        node_tools.node22,
        node_tools.conformance,
        ["server", "--url", url, "--expected-failures", str(EXPECTED_FAILURES), "-o", str(output_dir)],
        timeout=SUITE_TIMEOUT_SEC,
    )


def test_expected_failures_file_does_not_excuse_a_required_scenario() -> None:
    assert not expected_failures() & set(REQUIRED)


@pytest.mark.timeout(SUITE_TIMEOUT_SEC + 600)  # + a first-time npm install and server start-up
def test_active_server_suite(shared_pair: Pair, node_tools: NodeTools, artifacts_dir: Path) -> None:
    output_dir = artifacts_dir / "conformance"
    shutil.rmtree(output_dir, ignore_errors=True)
    output_dir.mkdir(parents=True)

    run = run_suite(node_tools, shared_pair.mcp_url, output_dir)
    (output_dir / "suite-output.txt").write_text(run.describe())
    assert run.returncode is not None, f"the suite did not finish:\n{run.describe()}"

    scenarios_run = _RUNNING.findall(run.stdout)
    results = read_results(output_dir)
    assert scenarios_run, f"the suite ran no scenario:\n{run.describe()}"
    assert sorted(results) == sorted(scenarios_run), f"scenarios without results:\n{run.describe()}"

    required_problems = {
        name: problems(results.get(name, []))
        + ([] if any(c.get("status") == "SUCCESS" for c in results.get(name, [])) else ["no SUCCESS check"])
        for name in REQUIRED
    }
    assert all(name in results for name in REQUIRED), f"required scenarios not run: {scenarios_run}"
    assert not any(required_problems.values()), json.dumps(required_problems, indent=2)

    failing = {name for name, checks in results.items() if problems(checks)}
    baseline = expected_failures()
    unexpected = {name: problems(results[name]) for name in sorted(failing - baseline)}
    stale = sorted((baseline & set(results)) - failing)
    assert not unexpected, "unexpected failures:\n" + json.dumps(unexpected, indent=2)
    assert not stale, f"listed in {EXPECTED_FAILURES.name} but passing now — remove them: {stale}"
    # The suite's own verdict (exit code) must agree with ours.
    assert run.returncode == 0, run.describe()
