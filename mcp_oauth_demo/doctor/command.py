"""``mcp-oauth-demo doctor``'s command: run the checks, print ✔/✖ with the fix, or print the table."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx

from mcp_oauth_demo.console import Console
from mcp_oauth_demo.doctor.checks import CHECKS
from mcp_oauth_demo.doctor.probe import Probe, read_settings
from mcp_oauth_demo.doctor.problems import DOCTOR_CLIENT_NAME, PROBLEM, Finding, troubleshooting_table


def diagnose(probe: Probe) -> Iterator[tuple[str, Finding]]:
    for section, function in CHECKS:
        for finding in function(probe):
            yield section, finding


def report(findings: Iterable[tuple[str, Finding]], out: Console) -> tuple[int, int]:
    """Print ✔/✖ lines grouped by section; returns (problems, warnings)."""
    problems = warnings = 0
    current = None
    for section, finding in findings:
        if finding.status == "skip" and not finding.message:
            continue
        if section != current:
            out.line()
            out.line(out.bold(section))
            current = section
        if finding.status == "ok":
            out.ok(finding.message)
        elif finding.status == "fail":
            problems += 1
            out.fail(finding.message, finding.advice)
        elif finding.status == "warn":
            warnings += 1
            out.warn(finding.message, finding.advice)
        else:
            out.line(out.dim(f"– {finding.message}"), 2)
    return problems, warnings


def configuration_source(folder: Path) -> str:
    """Where the settings come from, as the header line says it (``.env`` is read from the current folder)."""
    if (folder / ".env").is_file():
        return f"configuration from {folder / '.env'} and the environment"
    return f"no .env in {folder}: configuration from the environment and the defaults"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-sign-in",
        action="store_true",
        help="skip the round trip that signs in as the demo user (it registers a client named "
        f"{DOCTOR_CLIENT_NAME!r} and revokes its token afterwards)",
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to wait for each answer (default 5)"
    )
    parser.add_argument(
        "--table",
        action="store_true",
        help="print the problems it detects as the Markdown table of README's troubleshooting section, "
        "and exit",
    )


def run(args: argparse.Namespace, out: Console | None = None) -> int:
    out = out or Console()
    if args.table:
        out.line(troubleshooting_table())
        return 0
    out.line(out.bold("mcp-oauth-demo doctor") + out.dim(f"  ({configuration_source(Path.cwd())})"))
    settings, config_error = read_settings()
    if settings is None:
        out.fail(f"configuration error: {config_error}", PROBLEM["config"].fix, indent=0)
        return 1
    with httpx.Client(timeout=args.timeout) as http:
        probe = Probe(settings=settings, http=http, config_error=config_error, sign_in=not args.no_sign_in)
        problems, warnings = report(diagnose(probe), out)
    out.line()
    if problems:
        out.line(
            out.red(out.bold(f"✖ {problems} problem(s)")) + (f", {warnings} warning(s)" if warnings else "")
        )
        return 1
    out.line(out.green(out.bold("✔ all checks passed")) + (f" ({warnings} warning(s))" if warnings else ""))
    return 0
