"""``mcp-oauth-demo doctor``: check a configured or running setup, and say how to fix it.

Almost every "sign-in loops forever" or "the connector says it cannot connect" comes from
a handful of mismatches between what the servers are configured with, what they publish
in their metadata, and what a remote client can reach. The doctor reads the same
configuration the servers read (``.env`` and the environment, :mod:`shared.settings`) and
then looks at the running servers from the outside, the way a client does:

* RFC 9728 §3 / §3.3 — protected resource metadata (path-aware URL first) and its ``resource``;
* RFC 8414 §3 / §3.3 — authorization server metadata, whose ``issuer`` must equal
  ``AUTH_ISSUER`` byte for byte, and its ``jwks_uri`` (RFC 7517);
* RFC 6750 §3 / RFC 9728 §5.1 — the 401 challenge that starts sign-in;
* a real sign-in as the demo user (RFC 6749 §4.1) whose access token must carry the resource
  as ``aud`` (RFC 8707, RFC 9068 §3) and be accepted by the resource server.

:data:`PROBLEMS` lists every problem it detects — problem, how it is checked, the fix — and is
the one source of README's troubleshooting table: ``doctor --table`` prints that table, and a
test keeps README's copy equal to it. Each check is a small function over a
:class:`Probe`, so each can be tested on its own.

The package, in the order it runs:

* :mod:`.problems` — the problems table (:data:`PROBLEMS`) and the findings that point into it;
* :mod:`.probe` — the configuration and the running servers, each URL fetched once;
* :mod:`.checks` — the checks, run in the order of :data:`CHECKS`;
* :mod:`.round_trip` — the last check: a real sign-in through :mod:`mcp_oauth_demo.flow`;
* :mod:`.command` — the command line: ``run``, ``add_arguments``, ``--table``.
"""

from mcp_oauth_demo.doctor.checks import (
    CHECKS,
    check_as_metadata,
    check_challenge,
    check_clock,
    check_config,
    check_cors,
    check_hs256,
    check_https,
    check_jwks,
    check_one_url,
    check_prm,
    check_prm_contents,
    check_public_rs_local_as,
    check_redirect_allowlist,
    check_upstream,
    clock_skew,
)
from mcp_oauth_demo.doctor.command import add_arguments, configuration_source, diagnose, report, run
from mcp_oauth_demo.doctor.probe import Fetched, Probe, read_settings
from mcp_oauth_demo.doctor.problems import (
    CHATGPT_CALLBACK,
    CLAUDE_CALLBACKS,
    PROBLEM,
    PROBLEMS,
    TABLE_BEGIN,
    TABLE_END,
    Finding,
    Problem,
    troubleshooting_table,
)
from mcp_oauth_demo.doctor.round_trip import check_token

__all__ = [
    "CHATGPT_CALLBACK",
    "CHECKS",
    "CLAUDE_CALLBACKS",
    "PROBLEM",
    "PROBLEMS",
    "TABLE_BEGIN",
    "TABLE_END",
    "Fetched",
    "Finding",
    "Probe",
    "Problem",
    "add_arguments",
    "check_as_metadata",
    "check_challenge",
    "check_clock",
    "check_config",
    "check_cors",
    "check_hs256",
    "check_https",
    "check_jwks",
    "check_one_url",
    "check_prm",
    "check_prm_contents",
    "check_public_rs_local_as",
    "check_redirect_allowlist",
    "check_token",
    "check_upstream",
    "clock_skew",
    "configuration_source",
    "diagnose",
    "read_settings",
    "report",
    "run",
    "troubleshooting_table",
]
