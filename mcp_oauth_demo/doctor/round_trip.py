"""The doctor's last check: sign in as the demo user, like a client, and use the token.

The flow is :func:`mcp_oauth_demo.flow.sign_in`, the same the benchmarks and the tests run;
the access token must carry the resource as ``aud`` (RFC 8707 §2, RFC 9068 §3) and the resource
server must accept it for ``auth_whoami``. The refresh token is revoked afterwards (RFC 7009),
so the doctor leaves no live grant behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from mcp_oauth_demo import flow
from mcp_oauth_demo import oauth_client as oc
from mcp_oauth_demo.doctor.probe import Probe
from mcp_oauth_demo.doctor.problems import DOCTOR_CLIENT_NAME, Finding, fail, ok, skip
from mcp_oauth_demo.user_agent import UserAgentError


def check_token(probe: Probe) -> Iterator[Finding]:
    if not probe.sign_in:
        yield skip("token", "skipped (--no-sign-in)")
        return
    if probe.settings.identity != "demo":
        yield skip("token", f"IDENTITY={probe.settings.identity}: signing in needs a person at the provider")
        return
    prm, metadata = probe.prm.document, probe.as_metadata.document
    if (
        prm is None
        or metadata is None
        or metadata.get("issuer") not in (prm.get("authorization_servers") or [])
    ):
        yield skip("token", "needs working, consistent metadata first")
        return
    try:
        yield from _token_round_trip(probe, prm, metadata)
    except (httpx.TransportError, oc.ProtocolError, UserAgentError, KeyError) as exc:
        yield fail("token", f"the sign-in as the demo user failed: {exc}")


def _token_round_trip(probe: Probe, prm: dict[str, Any], metadata: dict[str, Any]) -> Iterator[Finding]:
    """Sign in as the demo user like a client would; the AS's token must work at the RS."""
    http, resource = probe.http, str(prm["resource"])
    discovery = flow.Discovery(resource=resource, issuer=str(metadata["issuer"]), metadata=metadata)
    signed_in = flow.sign_in(http, discovery, client_name=DOCTOR_CLIENT_NAME)
    client_id, tokens = signed_in.client_id, signed_in.tokens
    claims = oc.jwt_claims(str(tokens["access_token"]))
    audience = claims.get("aud")
    if resource not in (audience if isinstance(audience, list) else [audience]):
        yield fail("token", f"the token's aud is {audience!r}, not the resource {resource!r}")
    else:
        yield ok("token", f"the AS issues tokens with aud = {resource}")
    session = oc.McpSession(http, probe.mcp_url, access_token=str(tokens["access_token"]))
    try:
        session.initialize(DOCTOR_CLIENT_NAME)
        response, message = session.call_tool("auth_whoami", {})
    finally:
        session.close()
        if tokens.get("refresh_token") and metadata.get("revocation_endpoint"):
            # Leave no live grant behind.
            oc.revoke(
                http,
                str(metadata["revocation_endpoint"]),
                client_id=client_id,
                token=str(tokens["refresh_token"]),
            )
    result = message.get("result") or {}
    if response.status_code == 200 and result and not result.get("isError"):
        yield ok("token", "the RS accepts it: auth_whoami works")
    else:
        challenge_header = response.headers.get("www-authenticate", "")
        yield fail(
            "token", f"the RS refuses the AS's token: HTTP {response.status_code} {challenge_header}".strip()
        )
