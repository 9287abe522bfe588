"""``mcp-oauth-demo walkthrough``: the whole MCP authorization flow, one printed lesson per step.

Run it against the running servers (``.venv/bin/mcp-oauth-demo start``) and read along. It
does, by hand, everything an MCP client such as the ``mcp`` SDK, MCP Inspector, Claude or
ChatGPT does when it meets a protected tool (MCP specification, "Authorization"):

 1. call the tool without a token: 401 + WWW-Authenticate    RFC 6750 §3, RFC 9728 §5.1
 2. read the protected resource metadata                      RFC 9728 §3
 3. read the authorization server metadata                    RFC 8414 §3
 4. register itself (dynamic client registration)             RFC 7591 §3
 5. make a PKCE pair                                          RFC 7636 §4.1–4.2
 6. send the user to authorize; get code, state, iss          RFC 6749 §4.1, RFC 8707, RFC 9207
 7. exchange the code for tokens                              RFC 6749 §4.1.3, §5.1
 8. call the tools with the bearer token                      RFC 6750 §2.1, MCP lifecycle
 9. step up: a narrower token gets 403, the user consents     RFC 6750 §3.1, MCP "Scope Challenge
    to more                                                   Handling", RFC 6749 §6
10. refresh the access token (the refresh token rotates)      RFC 6749 §6, OAuth 2.1 §4.3.1
11. revoke the refresh token                                  RFC 7009 §2

Steps 6 and 9 play the demo user with :mod:`mcp_oauth_demo.user_agent`, or with ``--browser``
open your browser and catch the redirect on a one-shot loopback listener (RFC 8252 §7.3).
"""

from __future__ import annotations

import argparse
import secrets
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from mcp_oauth_demo import oauth_client as oc
from mcp_oauth_demo.console import Console, shorten
from mcp_oauth_demo.constants import DEMO_PASSWORD, DEMO_USERNAME
from mcp_oauth_demo.user_agent import UserAgentError, sign_in
from shared.pkce import make_pair
from shared.scopes import NOTES_READ, OFFLINE_ACCESS, format_scope, parse_scope
from shared.settings import ConfigError, load_settings

CLIENT_NAME = "mcp-oauth-demo walkthrough"
DOCTOR_COMMAND = ".venv/bin/mcp-oauth-demo doctor"
BROWSER_TIMEOUT_SEC = 300.0
START_SERVERS_FIX = (
    "start both servers with `.venv/bin/mcp-oauth-demo start` (from the project folder), "
    "or point the walkthrough at yours with --rs URL / RS_BASE_URL in .env"
)


class StepFailed(RuntimeError):
    """A step got an answer a client cannot continue from; ``fix`` says what to change."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.fix = fix


def expect(condition: object, message: str, fix: str | None = None) -> None:
    if not condition:
        raise StepFailed(message, fix)


# -- step 6 with a real browser ------------------------------------------------------------
# What the browser shows once the AS has redirected back: the code went to the terminal, not here.
CALLBACK_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signed in: back to the terminal</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { color-scheme: light dark; }
  body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 34rem;
         margin: 12vh auto; padding: 0 1.5rem; }
  h1 { font-size: 1.4rem; margin: 0 0 .5rem; }
  .mark { color: #1a7f37; font-size: 2.5rem; line-height: 1; }
  p { color: GrayText; }
</style></head>
<body><div class="mark">&#10004;</div>
<h1>The walkthrough received the authorization response</h1>
<p>The code, state and iss arrived at the walkthrough's loopback listener (RFC 8252 &sect;7.3).
You can close this tab and go back to the terminal.</p></body></html>
"""


class LoopbackCallback:
    """A one-shot HTTP listener on 127.0.0.1 that catches the authorization redirect (RFC 8252 §7.3).

    Native apps cannot own an https URL, so they listen on a loopback port for the moment the
    browser comes back; the AS allows any port on a loopback redirect for this reason (§7.3).
    The socket is bound before registration so that the redirect URI names a real port.
    """

    def __init__(self) -> None:
        self.params: dict[str, str] | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/callback":
                    self.send_error(404)  # the browser's /favicon.ico, for example
                    return
                outer.params = dict(parse_qsl(parts.query))
                body = CALLBACK_PAGE.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the walkthrough prints what matters itself

        self.server = HTTPServer(("127.0.0.1", 0), Handler)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/callback"

    def wait(self, timeout: float = BROWSER_TIMEOUT_SEC) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while self.params is None:
            remaining = deadline - time.monotonic()
            expect(remaining > 0, f"no browser came back to {self.redirect_uri} within {timeout:.0f}s")
            self.server.timeout = remaining
            self.server.handle_request()
        return self.params

    def close(self) -> None:
        self.server.server_close()


# -- the lesson ---------------------------------------------------------------------------
@dataclass
class Walkthrough:
    """The eleven steps, in order; each prints its exchanges and checks what a careful client checks.

    The fields below the first group are what the client learns on the way, in the order it
    learns them — the state a real client keeps between the steps.
    """

    out: Console
    http: httpx.Client
    mcp_url: str
    use_browser: bool = False
    open_browser: Callable[[str], object] = webbrowser.open
    callback: LoopbackCallback = field(default_factory=LoopbackCallback)
    # What the client learns on the way.
    resource: str = ""
    issuer: str = ""
    as_metadata: dict[str, Any] = field(default_factory=dict)
    client_id: str = ""
    verifier: str = ""
    challenge: str = ""
    state: str = ""
    code: str = ""
    tokens: dict[str, Any] = field(default_factory=dict)
    prm_url: str = ""
    mcp: oc.McpSession = field(init=False)

    def __post_init__(self) -> None:
        self.mcp = oc.McpSession(self.http, self.mcp_url, on_response=self._show_mcp)

    def _show_mcp(self, response: httpx.Response) -> None:
        self.out.exchange(
            response, request_headers=("authorization", "mcp-session-id", "mcp-protocol-version", "accept")
        )

    def run(self) -> None:
        started = time.monotonic()
        self.out.line(self.out.bold("MCP authorization, step by step"))
        self.out.explain(
            f"This walkthrough is an MCP client doing by hand what the MCP SDK, MCP Inspector, Claude and "
            f"ChatGPT do when a tool needs sign-in. It talks to the resource server at {self.mcp_url} and "
            "discovers everything else from there. Secrets are shortened like eyJhbGciOi…(412 chars).",
            indent=0,
        )
        steps = (
            self.step1_challenge,
            self.step2_resource_metadata,
            self.step3_as_metadata,
            self.step4_register,
            self.step5_pkce,
            self.step6_authorize,
            self.step7_token,
            self.step8_call_tools,
            self.step9_step_up,
            self.step10_refresh,
            self.step11_revoke,
        )
        for number, step in enumerate(steps, start=1):
            step(number)
        self.out.line()
        self.out.line(
            self.out.bold(
                self.out.green(f"Done: all {len(steps)} steps passed in {time.monotonic() - started:.1f}s.")
            )
        )
        self.out.explain(
            "Next: connect MCP Inspector or ChatGPT (see README), or run "
            "`.venv/bin/mcp-oauth-demo doctor` to check a setup that is exposed through ngrok.",
            indent=0,
        )

    # 1 -----------------------------------------------------------------------------------
    def step1_challenge(self, number: int) -> None:
        self.out.heading(number, "Call a protected tool without a token", "RFC 6750 §3, RFC 9728 §5.1")
        self.out.explain(
            "A client does not know in advance that a tool needs sign-in: it just calls it. "
            "notes_list needs an access token with the scope notes:read, so the resource server refuses "
            "and its WWW-Authenticate challenge says where to learn how to get one (resource_metadata). "
            "Its scope names every scope the app's tools use, not just notes:read, so one sign-in covers "
            'all of them (MCP authorization, "Scope Selection Strategy").'
        )
        response, _ = self.mcp.call_tool("notes_list", {})
        params = bearer_challenge(response)
        expect(
            "resource_metadata" in params, "the challenge has no resource_metadata parameter (RFC 9728 §5.1)"
        )
        self.out.ok(f"{response.status_code}: Bearer challenge, scope={params.get('scope', '(none)')!r}")
        self.out.explain(
            "The body is a JSON-RPC tool result with isError: true as well: the HTTP status and header are "
            "for the client, the text is for a person (or a model) reading the conversation."
        )
        self.out.ok(f"resource_metadata → {params['resource_metadata']}")
        self.prm_url = params["resource_metadata"]

    # 2 -----------------------------------------------------------------------------------
    def step2_resource_metadata(self, number: int) -> None:
        self.out.heading(number, "Read the protected resource metadata", "RFC 9728 §3")
        self.out.explain(
            "The resource server describes itself: its canonical identifier (resource), which "
            "authorization servers it trusts, and the scopes it knows. The client checks that the "
            "document is about the server it called (RFC 9728 §3.3)."
        )
        response = oc.get_json(self.http, self.prm_url)
        self.out.exchange(response)
        metadata = oc.json_body(response, "protected resource metadata")
        self.resource = str(metadata.get("resource", ""))
        expect(
            self.resource == self.mcp_url,
            f"resource {self.resource!r} is not the URL we called, {self.mcp_url!r}",
            "set MCP_RESOURCE (or RS_BASE_URL) to the URL clients use, for both servers",
        )
        servers = metadata.get("authorization_servers") or []
        expect(servers, "authorization_servers is empty", "the RS must list AUTH_ISSUER")
        self.issuer = str(servers[0])
        self.out.ok(f"resource = {self.resource}")
        self.out.ok(f"authorization server = {self.issuer}")

    # 3 -----------------------------------------------------------------------------------
    def step3_as_metadata(self, number: int) -> None:
        self.out.heading(number, "Read the authorization server metadata", "RFC 8414 §3")
        self.out.explain(
            "The well-known URL is built from the issuer (RFC 8414 §3.1). The issuer inside must equal "
            "the one we started from, character for character (§3.3): that is what stops a malicious "
            "metadata document from impersonating another server (mix-up attacks)."
        )
        response = oc.get_json(self.http, oc.well_known_url(self.issuer, "oauth-authorization-server"))
        self.out.exchange(response, max_lines=None)  # whole: later steps rely on its fields
        self.as_metadata = oc.json_body(response, "authorization server metadata")
        expect(
            self.as_metadata.get("issuer") == self.issuer,
            f"metadata issuer {self.as_metadata.get('issuer')!r} differs from {self.issuer!r}",
            "AUTH_ISSUER must be the same string for both servers (no trailing slash)",
        )
        self.out.ok("issuer matches byte for byte")
        expect(
            "S256" in self.as_metadata.get("code_challenge_methods_supported", []),
            "the AS does not advertise PKCE S256",
        )
        self.out.ok(
            "PKCE S256 supported; registration at " + str(self.as_metadata.get("registration_endpoint"))
        )

    # 4 -----------------------------------------------------------------------------------
    def step4_register(self, number: int) -> None:
        self.out.heading(number, "Register the client (dynamic client registration)", "RFC 7591 §3")
        self.out.explain(
            "An MCP client meets servers it has never seen, so it registers on the fly. This one is a "
            "native app: its redirect URI is a loopback address with a port of its choosing (RFC 8252 "
            "§7.3), and it has no secret — token_endpoint_auth_method none — because PKCE protects the code."
        )
        endpoint = self.as_metadata.get("registration_endpoint")
        expect(endpoint, "the AS metadata has no registration_endpoint")
        response = oc.register_client(self.http, str(endpoint), self.callback.redirect_uri, name=CLIENT_NAME)
        self.out.exchange(response, request_headers=("content-type",))
        body = oc.json_body(response, "client registration")
        expect(
            response.status_code == 201 and body.get("client_id"),
            f"registration failed: {body.get('error')}: {body.get('error_description')}",
        )
        self.client_id = str(body["client_id"])
        self.out.ok(f"client_id = {self.client_id}")

    # 5 -----------------------------------------------------------------------------------
    def step5_pkce(self, number: int) -> None:
        self.out.heading(number, "Make a PKCE pair and a state", "RFC 7636 §4.1–4.2, RFC 6749 §10.12")
        self.verifier, self.challenge = make_pair()
        self.state = secrets.token_urlsafe(16)
        self.out.explain(
            "The client invents a random code_verifier and keeps it; only its SHA-256 hash, the "
            "code_challenge, travels with the authorization request. Whoever steals the code later "
            "cannot use it without the verifier. The state ties the answer to this request (CSRF)."
        )
        self.out.line(f"code_verifier  = {shorten(self.verifier)}   (kept secret until step 7)", 4)
        self.out.line(f"code_challenge = {self.challenge}   = BASE64URL(SHA256(verifier))", 4)
        self.out.line(f"state          = {self.state}", 4)
        self.out.ok("S256 pair ready")

    # 6 -----------------------------------------------------------------------------------
    def step6_authorize(self, number: int) -> None:
        self.out.heading(
            number, "Send the user to authorize", "RFC 6749 §4.1.1–4.1.2, RFC 8707 §2, RFC 9207 §2"
        )
        self.out.explain(
            "The user, in a browser, signs in at the authorization server and approves the request. "
            "resource names the MCP server the token is for (RFC 8707) so it becomes the token's audience."
        )
        self.code = self._authorize(oc.DEMO_SCOPE)

    def _authorize(self, scope: str) -> str:
        """Steps 6 and 9: the user signs in and consents to ``scope``; returns the checked code."""
        url = oc.authorization_url(
            str(self.as_metadata["authorization_endpoint"]),
            client_id=self.client_id,
            redirect_uri=self.callback.redirect_uri,
            code_challenge=self.challenge,
            state=self.state,
            resource=self.resource,
            scope=scope,
        )
        self.out.line(f"{self.out.bold('GET')} {url.split('?')[0]}", 2)
        for key, value in parse_qsl(urlsplit(url).query):
            self.out.line(self.out.dim(f"{key} = {value}"), 6)
        if self.use_browser:
            self.out.line()
            self.out.line(
                f"Opening your browser; sign in as {DEMO_USERNAME} / {DEMO_PASSWORD} and click Allow.", 2
            )
            self.out.line(self.out.dim(f"(listening on {self.callback.redirect_uri} for the redirect)"), 2)
            if not self.open_browser(url):
                # No browser here (an SSH session, a container): the person can open it elsewhere
                # on this machine, since the redirect must reach this loopback listener.
                self.out.line(f"No browser could be opened; open this URL yourself:\n{url}", 2)
            self.callback.params = None  # step 9 waits for a second redirect
            params = self.callback.wait()
            self.out.ok(f"the browser came back to {self.callback.redirect_uri}")
        else:
            self.out.line()
            self.out.line(f"Playing the user {DEMO_USERNAME!r} (login form, then consent form):", 2)
            try:
                answer = sign_in(self.http, url, trace=lambda response: self._show_hop(response, url))
            except UserAgentError as exc:
                raise StepFailed(str(exc)) from None
            params = answer.params
            self.out.ok("the AS redirects to our redirect_uri (not followed: the code is in the URL)")
        for key, value in params.items():
            self.out.line(self.out.dim(f"{key} = {shorten(value) if key == 'code' else value}"), 6)
        expect(
            "code" in params,
            f"the AS answered error={params.get('error')!r}: {params.get('error_description', '')}",
        )
        expect(params.get("state") == self.state, "state does not match: this answer is not for our request")
        self.out.ok("state matches")
        if self.as_metadata.get("authorization_response_iss_parameter_supported") is True:
            # Step 3's metadata promised iss, so a response without it is refused (RFC 9207 §2.4).
            expect(
                params.get("iss") == self.issuer,
                f"iss {params.get('iss')!r} is not the issuer {self.issuer!r} (RFC 9207 §2.4)",
            )
            self.out.ok(
                "iss equals the issuer, as authorization_response_iss_parameter_supported: true in step 3 "
                "promised: the code came from the server we asked (RFC 9207)"
            )
        return params["code"]

    def _show_hop(self, response: httpx.Response, authorization_url: str) -> None:
        if str(response.request.url) == authorization_url:
            # Printed parameter by parameter just above; once is enough.
            self.out.line(f"{self.out.bold('→ GET')} {authorization_url.split('?')[0]}?… (the URL above)", 2)
            self.out.response(response)
        else:
            self.out.exchange(response)

    # 7 -----------------------------------------------------------------------------------
    def step7_token(self, number: int) -> None:
        self.out.heading(number, "Exchange the code for tokens", "RFC 6749 §4.1.3, §5.1; RFC 9068")
        self.out.explain(
            "The client sends the code with the code_verifier; the AS hashes the verifier and compares "
            "it with the challenge from step 6. The access token is a signed JWT (RFC 9068) that the "
            "resource server can verify by itself with the AS's public keys (jwks_uri)."
        )
        self.tokens = self._exchange_code()
        claims = oc.jwt_claims(self.tokens["access_token"])
        self.out.line("access token claims (decoded here without verifying, only to show them):", 2)
        self.out.data(claims)
        audience = claims.get("aud")
        expect(
            self.resource in (audience if isinstance(audience, list) else [audience]),
            f"aud {audience!r} does not contain the resource {self.resource!r}",
        )
        self.out.ok("aud is the MCP server, iss is the AS, scope is what was granted")

    def _exchange_code(self) -> dict[str, Any]:
        """RFC 6749 §4.1.3: this run's code, its redirect URI and PKCE verifier, and the resource."""
        response = oc.exchange_code(
            self.http,
            str(self.as_metadata["token_endpoint"]),
            client_id=self.client_id,
            code=self.code,
            redirect_uri=self.callback.redirect_uri,
            code_verifier=self.verifier,
            resource=self.resource,
        )
        return self._token_response(response)

    def _token_response(self, response: httpx.Response) -> dict[str, Any]:
        self.out.exchange(response, request_headers=("content-type",))
        body = oc.json_body(response, "token response")
        expect(
            response.status_code == 200 and body.get("access_token"),
            f"token request refused: {body.get('error')}: {body.get('error_description')}",
        )
        expect(body.get("token_type", "").lower() == "bearer", f"token_type is {body.get('token_type')!r}")
        expect(
            "no-store" in response.headers.get("cache-control", ""),
            "token response lacks Cache-Control: no-store",
        )
        self.out.ok(
            f"Bearer token for {body.get('expires_in')}s, scope {body.get('scope')!r}; "
            "Cache-Control: no-store"
        )
        return body

    # 8 -----------------------------------------------------------------------------------
    def step8_call_tools(self, number: int) -> None:
        self.out.heading(number, "Call the tools with the bearer token", "RFC 6750 §2.1, MCP lifecycle")
        self.out.explain(
            "Now the MCP session proper, as the SDK's ClientSession runs it: initialize, the initialized "
            "notification, then the tool calls — each with Authorization: Bearer <access token>."
        )
        self.mcp.access_token = str(self.tokens["access_token"])
        result = self.mcp.initialize(CLIENT_NAME)
        self.out.ok(
            f"protocol {result.get('protocolVersion')}, session {self.mcp.session_id or '(stateless)'}"
        )
        note = f"Written by the walkthrough at {time.strftime('%H:%M:%S')}"
        added = self.call_tool("notes_add", {"text": note})
        self.out.ok(f"notes_add stored note {added.get('id', '?')}")
        listed = self.call_tool("notes_list", {})
        texts = [n.get("text") for n in listed.get("notes", [])]
        expect(note in texts, "notes_list does not contain the note just added")
        self.out.ok(f"notes_list returns {len(texts)} note(s), including the new one")
        me = self.call_tool("auth_whoami", {})
        self.out.ok(f"auth_whoami: {me.get('name') or me.get('sub')} via client {me.get('client_id')}")

    # 9 -----------------------------------------------------------------------------------
    def step9_step_up(self, number: int) -> None:
        self.out.heading(
            number,
            "Step up: a narrower token meets a tool that needs more",
            'RFC 6750 §3.1, MCP authorization "Scope Challenge Handling", RFC 6749 §6',
        )
        self.out.explain(
            "A careful client asks only for what it needs now. Here it trades its refresh token for a "
            "token with just notes:read (a refresh may narrow the scope, RFC 6749 §6), then calls notes_add, "
            "which needs notes:write. The token is valid, so the answer is not 401 but 403 "
            "insufficient_scope, and the challenge's scope names what the token has plus what the call "
            "needs, so a client that replaces its scopes instead of adding to them keeps what it had."
        )
        narrow = format_scope([NOTES_READ, OFFLINE_ACCESS])
        response = oc.refresh(
            self.http,
            str(self.as_metadata["token_endpoint"]),
            client_id=self.client_id,
            refresh_token=str(self.tokens["refresh_token"]),
            resource=self.resource,
            scope=narrow,
        )
        self.tokens = self._token_response(response)
        granted = parse_scope(self.tokens.get("scope"))
        expect(granted == parse_scope(narrow), f"asked for {narrow!r}, got {self.tokens.get('scope')!r}")
        self.mcp.access_token = str(self.tokens["access_token"])
        self.out.ok(f"the new access token carries only {self.tokens.get('scope')!r}")
        response, _ = self.mcp.call_tool("notes_add", {"text": "needs notes:write"})
        params = bearer_challenge(response)
        expect(
            params.get("error") == "insufficient_scope",
            f"notes_add with a notes:read token got {response.status_code} {params}",
        )
        required = parse_scope(params.get("scope"))
        self.out.ok(
            f"{response.status_code} insufficient_scope; the challenge asks for scope={params.get('scope')!r}"
        )
        self.out.explain(
            "Stepping up is a new authorization request for the scopes the client has plus the ones the "
            "challenge named: new PKCE pair, new state, and the user sees a consent page again — the AS "
            "never widens a grant behind the user's back."
        )
        self.verifier, self.challenge = make_pair()
        self.state = secrets.token_urlsafe(16)
        old_refresh = str(self.tokens["refresh_token"])
        self.code = self._authorize(format_scope(granted | required))
        self.tokens = self._exchange_code()
        self.mcp.access_token = str(self.tokens["access_token"])
        # The narrow grant is not needed any more; leave no live refresh token behind.
        oc.revoke(
            self.http,
            str(self.as_metadata["revocation_endpoint"]),
            client_id=self.client_id,
            token=old_refresh,
        )
        added = self.call_tool(
            "notes_add", {"text": f"Written after a step-up at {time.strftime('%H:%M:%S')}"}
        )
        self.out.ok(f"with {self.tokens.get('scope')!r}, notes_add works again: note {added.get('id', '?')}")

    def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        response, message = self.mcp.call_tool(name, arguments)
        result = message.get("result") or {}
        expect(
            response.status_code == 200 and result and not result.get("isError"),
            f"{name} failed: HTTP {response.status_code} {message.get('error') or result.get('content')}",
        )
        return dict(result.get("structuredContent") or {})

    # 10 ----------------------------------------------------------------------------------
    def step10_refresh(self, number: int) -> None:
        self.out.heading(number, "Refresh the access token", "RFC 6749 §6, OAuth 2.1 §4.3.1")
        self.out.explain(
            "Access tokens are short-lived. The refresh token gets a new one without the user — and for a "
            "public client OAuth 2.1 requires the refresh token to rotate: each use returns a new one and "
            "retires the old. Presenting a retired one again revokes the whole family — unless it comes "
            "back within a minute while its successor is still unused: that is a client retrying after a "
            "lost answer (auth_server/token.py explains the grace and its cost)."
        )
        old_refresh = self.tokens.get("refresh_token")
        expect(old_refresh, "the token response had no refresh_token (was offline_access granted?)")
        response = oc.refresh(
            self.http,
            str(self.as_metadata["token_endpoint"]),
            client_id=self.client_id,
            refresh_token=str(old_refresh),
            resource=self.resource,
        )
        self.tokens = self._token_response(response)
        self.mcp.access_token = str(self.tokens["access_token"])
        expect(
            self.tokens.get("refresh_token") not in (None, old_refresh), "the refresh token did not rotate"
        )
        self.out.ok("new refresh token issued; the old one is now retired")
        listed = self.call_tool("notes_list", {})
        self.out.ok(f"the new access token works: notes_list → {len(listed.get('notes', []))} note(s)")

    # 11 ----------------------------------------------------------------------------------
    def step11_revoke(self, number: int) -> None:
        self.out.heading(number, "Revoke the refresh token (sign out)", "RFC 7009 §2")
        self.out.explain(
            "When the user disconnects the app, the client revokes its refresh token. The AS answers 200 "
            "whatever the token was (§2.2), so a client cannot probe tokens. The JWT access token stays "
            "valid until it expires: the resource server verifies it alone — which is why it is short-lived."
        )
        endpoint = self.as_metadata.get("revocation_endpoint")
        expect(endpoint, "the AS metadata has no revocation_endpoint")
        refresh_token = str(self.tokens["refresh_token"])
        response = oc.revoke(self.http, str(endpoint), client_id=self.client_id, token=refresh_token)
        self.out.exchange(response, request_headers=("content-type",))
        expect(response.status_code == 200, f"revocation answered HTTP {response.status_code}")
        self.out.ok("revoked")
        self.out.line("Trying the revoked refresh token once more:", 2)
        retry = oc.refresh(
            self.http,
            str(self.as_metadata["token_endpoint"]),
            client_id=self.client_id,
            refresh_token=refresh_token,
            resource=self.resource,
        )
        self.out.exchange(retry)
        expect(retry.status_code == 400, f"the revoked refresh token still worked (HTTP {retry.status_code})")
        self.out.ok(f"refused with {oc.json_body(retry, 'token error').get('error')}, as it should be")

    def close(self) -> None:
        self.mcp.close()
        self.callback.close()


def bearer_challenge(response: httpx.Response) -> dict[str, str]:
    """The parameters of the Bearer challenge in ``response``: its header, or the tool result's ``_meta``."""
    header = response.headers.get("www-authenticate")
    if header is None and response.status_code == 200:
        # TOOL_AUTH_CHALLENGE=result: the challenge travels in the tool result (what ChatGPT reads).
        meta = oc.rpc_response(response).get("result", {}).get("_meta", {})
        challenges = meta.get("mcp/www_authenticate") or []
        header = challenges[0] if challenges else None
    expect(
        header,
        f"the resource server answered {response.status_code} without a Bearer challenge",
        "the tool must be protected: check resource_server's tool policies",
    )
    scheme, params = oc.parse_www_authenticate(str(header))
    expect(scheme.lower() == "bearer", f"challenge scheme is {scheme!r}, not Bearer")
    return params


def unreachable(exc: httpx.TransportError, rs_base: str) -> str:
    """“cannot reach the authorization server at http://…” — which server, from the failed request."""
    try:
        url = exc.request.url
    except RuntimeError:  # httpx raises when the error carries no request
        return f"cannot reach the servers ({exc})"
    origin = f"{url.scheme}://{url.netloc.decode()}"
    which = "resource server" if rs_base.startswith(origin) else "authorization server"
    return f"cannot reach the {which} at {origin} ({type(exc).__name__}: {exc or 'no answer'})"


def mcp_url_from(rs: str) -> str:
    rs = rs.rstrip("/")
    return rs if rs.endswith("/mcp") else rs + "/mcp"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rs", metavar="URL", help="resource server base URL (default: RS_BASE_URL from .env)"
    )
    parser.add_argument(
        "--browser",
        action="store_true",
        help="sign in with your browser instead of playing the demo user (loopback redirect, RFC 8252)",
    )


def run(
    args: argparse.Namespace,
    out: Console | None = None,
    open_browser: Callable[[str], object] = webbrowser.open,
) -> int:
    out = out or Console()
    if args.rs:
        rs = args.rs
    else:
        try:
            rs = load_settings().rs_base_url
        except ConfigError as exc:
            out.fail(f"configuration error: {exc}", indent=0)
            return 2
    mcp_url = mcp_url_from(rs)
    with httpx.Client(timeout=15.0) as http:
        walk = Walkthrough(
            out=out, http=http, mcp_url=mcp_url, use_browser=args.browser, open_browser=open_browser
        )
        try:
            walk.run()
        except StepFailed as exc:
            out.line()
            out.fail(str(exc), exc.fix, indent=0)
            return 1
        except oc.ProtocolError as exc:
            out.line()
            out.fail(
                str(exc), "run `.venv/bin/mcp-oauth-demo doctor` to find out what is misconfigured", indent=0
            )
            return 1
        except httpx.TransportError as exc:
            out.line()
            out.fail(unreachable(exc, rs_base=mcp_url.rsplit("/", 1)[0]), START_SERVERS_FIX, indent=0)
            return 1
        finally:
            walk.close()
    return 0
