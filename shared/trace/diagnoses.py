"""Named causes, read off one connection's events — what went wrong and how to fix it.

Each rule is a pure function from a connection's events (oldest first) and the current time to
zero or more :class:`Diagnosis`. Where a cause is one the doctor (``mcp-oauth-demo doctor``)
also checks for, the diagnosis names its problem key (``doctor``) and reuses its fix, so the
trace, the doctor and README's troubleshooting table speak one vocabulary.

A step still in progress is not a failure: rules about something that "never happened" wait
:data:`PATIENCE_SEC` after the last step before they speak.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from .events import Event

PATIENCE_SEC = 60.0
STEP_UP_LOOP_MIN = 3


@dataclass(frozen=True)
class Diagnosis:
    key: str
    title: str
    detail: str
    fix: str
    rfc: str = ""
    doctor: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _doctor_fix(key: str) -> str:
    from mcp_oauth_demo.doctor import PROBLEM  # the CLI package: imported only when a diagnosis needs it

    return PROBLEM[key].fix


def _ok(event: Event) -> bool:
    return 200 <= event["status"] < 400


def _steps(events: list[Event], *steps: str) -> list[Event]:
    return [event for event in events if event["step"] in steps]


def _after(events: list[Event], event: Event) -> list[Event]:
    return [later for later in events if later["time"] >= event["time"] and later is not event]


def _quiet(events: list[Event], now: float) -> bool:
    return now - events[-1]["time"] >= PATIENCE_SEC


def prm_without_as_metadata(events: list[Event], now: float) -> list[Diagnosis]:
    prm = [event for event in _steps(events, "prm") if _ok(event)]
    if not prm or _steps(_after(events, prm[0]), "as-metadata", "register", "authorize"):
        return []
    params = prm[-1]["params"]
    resource, servers = params.get("prm_resource"), params.get("authorization_servers") or []
    connected = {
        f"{event.get('host')}{event['path']}" for event in _steps(events, *MCP_STEPS) if event.get("host")
    }
    mismatch = resource and connected and not any(resource.split("://", 1)[-1] == url for url in connected)
    if mismatch:
        return [
            Diagnosis(
                "prm-resource-mismatch",
                "Protected resource metadata names another resource; the client stopped there",
                f"The PRM says resource {resource!r}, but the client connected to "
                f"{', '.join(sorted(connected))}. Clients must refuse a PRM whose resource is not the "
                "server they talk to, so the client never asked the authorization server.",
                _doctor_fix("prm-resource"),
                "RFC 9728 §3.3",
                "prm-resource",
            )
        ]
    if not _quiet(events, now):
        return []  # the client may still be on its way to the AS
    return [
        Diagnosis(
            "prm-no-as-metadata",
            "Protected resource metadata fetched, authorization server metadata never fetched",
            f"The client read the PRM (authorization_servers {servers}) and then did not fetch "
            "/.well-known/oauth-authorization-server from that issuer: it could not reach it, or did not "
            "accept what the PRM said.",
            _doctor_fix("as-reachable") + "; " + _doctor_fix("prm-issuer"),
            "RFC 9728 §3, RFC 8414 §3",
            "as-reachable",
        )
    ]


def metadata_document_refused(events: list[Event], now: float) -> list[Diagnosis]:
    return [
        Diagnosis(
            "metadata-document-refused",
            "The client's metadata document was refused",
            f"client_id {event.get('client_id')!r}: {event.get('error_description')}",
            "Fix the document the client_id URL serves (the reason above says what), or, if the host is "
            "trusted, add it to OAUTH_ALLOWED_CLIENT_METADATA_HOSTS and restart the AS.",
            "MCP authorization, 'Client ID Metadata Documents'",
        )
        for event in _steps(events, "authorize")
        if event.get("error") == "Client metadata document refused"
    ]


def registration_refused(events: list[Event], now: float) -> list[Diagnosis]:
    found = []
    for event in _steps(events, "register"):
        if _ok(event):
            continue
        redirects = event["params"].get("redirect_uris") or []
        redirect_error = event.get("error") == "invalid_redirect_uri"
        found.append(
            Diagnosis(
                "registration-refused",
                "Client registration refused" + (" (redirect URI)" if redirect_error else ""),
                f"{event.get('error')}: {event.get('error_description')} — redirect_uris {redirects}",
                _doctor_fix("redirect-allowlist")
                if redirect_error
                else "Correct the registration request as the description says.",
                "RFC 7591 §3.2.2",
                "redirect-allowlist" if redirect_error else None,
            )
        )
    return found


def authorization_refused(events: list[Event], now: float) -> list[Diagnosis]:
    found = []
    for event in _steps(events, "authorize", "consent"):
        error = event.get("error")
        if not error or error == "Client metadata document refused":
            continue
        target = error == "invalid_target"
        found.append(
            Diagnosis(
                "authorization-refused",
                f"Authorization refused: {error}",
                str(event.get("error_description") or "")
                + (f" (the client asked for resource {event['params'].get('resource')!r})" if target else ""),
                _doctor_fix("prm-resource") if target else "Send what the description asks for, then retry.",
                "RFC 8707 §2" if target else "RFC 6749 §4.1.2.1",
                "prm-resource" if target else None,
            )
        )
    return found


def authorization_incomplete(events: list[Event], now: float) -> list[Diagnosis]:
    started = [event for event in _steps(events, "authorize") if _ok(event) and "request" in event["links"]]
    if not started or not _quiet(events, now):
        return []
    last = started[-1]
    completed = any(
        "code" in event["links"] or event.get("error") for event in _steps(_after(events, last), "consent")
    )
    if completed:
        return []
    reached = {event["step"] for event in _after(events, last)}
    where = "the consent page" if "consent" in reached else "the login page" if "login" in reached else None
    return [
        Diagnosis(
            "authorization-incomplete",
            "Authorization started but never completed",
            "The authorization request was accepted, but no code was ever issued: the user "
            + (f"reached {where} and stopped there." if where else "never opened the sign-in page it led to.")
            + " A browser that blocks the pop-up, or a closed window, looks like this.",
            "Open the sign-in page the client shows (allow its pop-up), sign in as the demo user and "
            "approve; "
            "then the client continues on its own.",
            "RFC 6749 §4.1.1",
        )
    ]


def code_reused(events: list[Event], now: float) -> list[Diagnosis]:
    seen: dict[str, Event] = {}
    found = []
    for event in _steps(events, "token-code"):
        code = event["links"].get("code")
        if code is None:
            continue
        if code in seen:
            found.append(
                Diagnosis(
                    "code-reused",
                    "Authorization code redeemed twice",
                    f"The code was exchanged at {seen[code]['time']:.3f} and again at {event['time']:.3f} "
                    f"({event['status']} {event.get('error') or ''}). A second redemption is refused, "
                    "and the "
                    "tokens of the first are revoked (RFC 9700 §4.2.3).",
                    "Redeem each code once: a client that retries the token request after a timeout must "
                    "start a new authorization instead.",
                    "RFC 6749 §4.1.2, §10.5",
                )
            )
        seen.setdefault(code, event)
    return found


def _issued(events: list[Event]) -> list[Event]:
    return [
        event for event in _steps(events, "token-code", "token-refresh") if event["links"].get("access_token")
    ]


def _tokenless_calls_after(events: list[Event], event: Event) -> list[Event]:
    return [
        call
        for call in _steps(_after(events, event), "mcp-tool-call")
        if "bearer" not in call["links"] and call.get("www_authenticate")
    ]


def token_not_sent(events: list[Event], now: float) -> list[Diagnosis]:
    issued = _issued(events)
    if not issued:
        return []
    calls = _tokenless_calls_after(events, issued[0])
    if not calls:
        return []
    tools = sorted({call["params"].get("tool") or "?" for call in calls})
    return [
        Diagnosis(
            "token-not-sent",
            "A tool was called again without a token after sign-in",
            f"The client got an access token, then called {', '.join(tools)} without an Authorization "
            f"header {len(calls)} time(s) and got the sign-in challenge again: it did not retry with "
            "its token.",
            "A client bug or a stale connector: disconnect and reconnect the connector (so it stores the "
            "new token), and check that it sends Authorization: Bearer <token> on every MCP request.",
            "MCP authorization, 'Access Token Usage'; RFC 6750 §2.1",
        )
    ]


def token_unused(events: list[Event], now: float) -> list[Diagnosis]:
    presented = {event["links"].get("bearer") for event in events if event["server"] == "rs"}
    found = []
    for event in _issued(events):
        if event["links"]["access_token"] in presented or _tokenless_calls_after(events, event):
            continue
        if now - event["time"] < PATIENCE_SEC or not _quiet(events, now):
            continue
        audience = (event.get("token") or {}).get("aud")
        found.append(
            Diagnosis(
                "token-unused",
                "Token issued but never used at the resource server",
                f"The AS issued an access token (aud {audience!r}) and the RS never saw it.",
                "Check that the client calls the MCP server URL whose PRM it read, and sends the token as "
                "Authorization: Bearer; " + _doctor_fix("token"),
                "MCP authorization, 'Access Token Usage'",
                "token",
            )
        )
    return found[-1:]


TOKEN_CHECKS: tuple[tuple[str, str, str | None], ...] = (
    # (words in the RS's error_description, the check, the doctor's problem key)
    ("signature", "signature", "jwks"),
    ("(kid)", "kid", "jwks"),
    ("'kid'", "kid", "jwks"),
    ("not issued by", "iss", "issuer"),
    ("not issued for this resource", "aud", "prm-resource"),
    ("has expired", "exp", None),
    ("not valid yet", "clock", "clock"),
    ("in the future", "clock", "clock"),
    ("must be signed with", "alg", "token"),
)


def token_check(description: str) -> tuple[str, str | None]:
    """Which verification step refused a token, read off the RS's ``error_description``."""
    for words, check, doctor in TOKEN_CHECKS:
        if words in description:
            return check, doctor
    return "other", "token"


def token_refused(events: list[Event], now: float) -> list[Diagnosis]:
    by_check: dict[str, list[Event]] = {}
    for event in events:
        if event["server"] == "rs" and "bearer" in event["links"] and event.get("error") == "invalid_token":
            by_check.setdefault(token_check(event.get("error_description") or "")[0], []).append(event)
    found = []
    for check, refused in by_check.items():
        _, doctor = token_check(refused[-1].get("error_description") or "")
        claims = refused[-1].get("token") or {}
        fix = (
            _doctor_fix(doctor)
            if doctor
            else "The client must refresh the token before it expires (grant_type=refresh_token) "
            "or sign in again."
        )
        found.append(
            Diagnosis(
                f"token-refused-{check}",
                f"Token refused by the resource server ({check} check)",
                f"{len(refused)} call(s) refused: {refused[-1].get('error_description')} — the token says "
                f"iss {claims.get('iss')!r}, aud {claims.get('aud')!r}, kid {claims.get('kid')!r}.",
                fix,
                "RFC 9068 §4, RFC 6750 §3.1",
                doctor,
            )
        )
    return found


def step_up_loop(events: list[Event], now: float) -> list[Diagnosis]:
    by_tool: dict[str, list[Event]] = {}
    for event in _steps(events, "mcp-tool-call"):
        if event.get("error") == "insufficient_scope":
            by_tool.setdefault(event["params"].get("tool") or "?", []).append(event)
    found = []
    for tool, refused in by_tool.items():
        tokens = {event["links"].get("bearer") for event in refused}
        if len(refused) >= STEP_UP_LOOP_MIN and len(tokens) >= 2:
            asked = refused[-1]["params"].get("challenge_scope")
            has = (refused[-1].get("token") or {}).get("scope")
            found.append(
                Diagnosis(
                    "step-up-loop",
                    f"Step-up loop on {tool}",
                    f"{len(refused)} insufficient_scope answers across {len(tokens)} tokens: "
                    "the challenge asks "
                    f"for {asked!r}, each new token has only {has!r}.",
                    "The client re-authorizes without asking for the challenged scopes, or the user does not "
                    "grant them at consent; request exactly the 403's scope parameter.",
                    "MCP authorization, 'Scope Challenge Handling'; RFC 6750 §3.1",
                )
            )
    return found


def refresh_never_attempted(events: list[Event], now: float) -> list[Diagnosis]:
    with_refresh = [event for event in _issued(events) if event["links"].get("issued_refresh_token")]
    if not with_refresh:
        return []
    first = with_refresh[0]
    later = _after(events, first)
    if _steps(later, "token-refresh"):
        return []
    expires = (first.get("token") or {}).get("exp")
    expired_calls = [
        event
        for event in later
        if "expired" in (event.get("error_description") or "") and event["server"] == "rs"
    ]
    reauthorized = [
        event
        for event in _steps(later, "authorize")
        if isinstance(expires, int | float) and event["time"] > expires
    ]
    if not expired_calls and not reauthorized:
        return []
    return [
        Diagnosis(
            "refresh-never-attempted",
            "Refresh never attempted before expiry",
            "The client holds a refresh token but, when its access token expired, "
            + ("kept sending the expired token" if expired_calls else "started a new sign-in instead")
            + " — it never asked the token endpoint with grant_type=refresh_token.",
            "Use the refresh token (RFC 6749 §6) shortly before exp; if the client cannot, raise "
            "ACCESS_TOKEN_TTL_SEC so sign-ins are rarer.",
            "RFC 6749 §6; MCP authorization, 'Refresh Tokens'",
        )
    ]


MCP_STEPS = ("mcp-initialize", "mcp-discover", "mcp-tools-list", "mcp-tool-call", "mcp-request")

RULES: tuple[Callable[[list[Event], float], list[Diagnosis]], ...] = (
    prm_without_as_metadata,
    metadata_document_refused,
    registration_refused,
    authorization_refused,
    authorization_incomplete,
    code_reused,
    token_not_sent,
    token_unused,
    token_refused,
    step_up_loop,
    refresh_never_attempted,
)


def diagnose(events: list[Event], now: float) -> list[Diagnosis]:
    """Every diagnosis for one connection's events (oldest first), in the order of the flow."""
    if not events:
        return []
    return [diagnosis for rule in RULES for diagnosis in rule(events, now)]
