"""Terminal output shared by the walkthrough and the doctor.

Both commands show HTTP exchanges the way the specs describe them — method, URL, the headers
that matter, the body — so a reader can map each line to RFC 6749 §4.1, RFC 9728 §3, …
Secrets are never printed whole: an access token becomes ``eyJhbGciOi…(412 chars)``, which
is enough to recognise it and useless to anyone reading over your shoulder (RFC 6749 §10.3).

Colour and bold are used only when the output is a terminal (and ``NO_COLOR`` is unset,
https://no-color.org), so piped output and test logs stay plain text.
"""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
from collections.abc import Iterable, Mapping
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlsplit

import httpx

# Keys whose values are credentials or one-time secrets wherever they appear
# (JSON bodies, form bodies, query strings).
SECRET_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "code",
        "client_secret",
        "registration_access_token",
        "code_verifier",
        "token",
        "csrf_token",
        "csrf",
        "_csrf",
        "session",
    }
)
# Shown as dots: a password is never useful to see, even shortened.
PASSWORD_KEYS = frozenset({"password"})
# A compact JWS: three base64url parts, the first one starting with '{"' encoded.
_JWT_RE = re.compile(r"^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$")

# Response headers a reader of the OAuth and MCP specs cares about; the rest is noise here.
INTERESTING_HEADERS = (
    "content-type",
    "www-authenticate",
    "location",
    "mcp-session-id",
    "cache-control",
    "set-cookie",
)
MAX_BODY_LINES = 40


def shorten(value: str, keep: int = 10) -> str:
    """``eyJhbGciOi…(412 chars)``: recognisable, not usable."""
    if len(value) <= keep + 4:
        return value
    return f"{value[:keep]}…({len(value)} chars)"


def redact_value(key: str, value: Any) -> Any:
    if key.lower() in PASSWORD_KEYS and isinstance(value, str):
        return "•" * 8
    if isinstance(value, str) and (key.lower() in SECRET_KEYS or _JWT_RE.match(value)):
        return shorten(value)
    return redact(value)


def redact(data: Any) -> Any:
    """A copy of a JSON value with every secret shortened."""
    if isinstance(data, Mapping):
        return {key: redact_value(str(key), value) for key, value in data.items()}
    if isinstance(data, list):
        return [redact(item) for item in data]
    if isinstance(data, str) and _JWT_RE.match(data):
        return shorten(data)
    return data


def redact_url(url: str) -> str:
    """The URL with secret query parameters (``code``, ``token``…) shortened."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = "&".join(f"{key}={redact_value(key, value)}" for key, value in parse_qsl(parts.query))
    return parts._replace(query=query).geturl()


def redact_header(name: str, value: str) -> str:
    lowered = name.lower()
    if lowered == "authorization":
        scheme, _, credentials = value.partition(" ")
        return f"{scheme} {shorten(credentials)}"
    if lowered in ("cookie", "set-cookie"):
        # Keep cookie names and attributes (they teach something); hide the values.
        return re.sub(r"=([^;\s]{14,})", lambda m: "=" + shorten(m.group(1)), value)
    return value


def json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def sse_messages(text: str) -> list[Any]:
    """The JSON payloads of a ``text/event-stream`` body (MCP streamable HTTP may answer so)."""
    messages = []
    for event in re.split(r"\r?\n\r?\n", text):
        data = "\n".join(line[5:].lstrip() for line in event.splitlines() if line.startswith("data:"))
        if data:
            try:
                messages.append(json.loads(data))
            except json.JSONDecodeError:
                messages.append(data)
    return messages


def body_summary(content_type: str, content: bytes) -> tuple[str, Any]:
    """(label, value) describing a body: parsed JSON, form fields, SSE events or a short text."""
    media = content_type.split(";")[0].strip().lower()
    text = content.decode("utf-8", errors="replace")
    if media == "application/json" or media.endswith("+json"):
        try:
            return "json", redact(json.loads(text))
        except json.JSONDecodeError:
            pass
    if media == "application/x-www-form-urlencoded":
        # One field per line: the wire joins them with '&', which is hard to read.
        fields = parse_qsl(text, keep_blank_values=True)
        return "form", "\n".join(f"{key}={redact_value(key, value)}" for key, value in fields)
    if media == "text/event-stream":
        return "sse", redact(sse_messages(text))
    if media == "text/html":
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
        name = f" “{title.group(1).strip()}”" if title else ""
        return "text", f"(an HTML page{name}, {len(content)} bytes)"
    return "text", text[:300] + ("…" if len(text) > 300 else "")


class Console:
    """Writes lessons and check results; styles only when writing to a terminal."""

    def __init__(self, stream: TextIO | None = None, *, color: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        if color is None:
            color = self.stream.isatty() and "NO_COLOR" not in os.environ
        self.color = color

    # -- styling -------------------------------------------------------------------------
    def style(self, text: str, *codes: int) -> str:
        if not self.color or not codes:
            return text
        return f"\033[{';'.join(map(str, codes))}m{text}\033[0m"

    def bold(self, text: str) -> str:
        return self.style(text, 1)

    def dim(self, text: str) -> str:
        return self.style(text, 2)

    def green(self, text: str) -> str:
        return self.style(text, 32)

    def red(self, text: str) -> str:
        return self.style(text, 31)

    def yellow(self, text: str) -> str:
        return self.style(text, 33)

    def cyan(self, text: str) -> str:
        return self.style(text, 36)

    # -- plain output --------------------------------------------------------------------
    def line(self, text: str = "", indent: int = 0) -> None:
        prefix = " " * indent
        for piece in text.splitlines() or [""]:
            print(prefix + piece, file=self.stream)
        self.stream.flush()

    def explain(self, text: str, indent: int = 2) -> None:
        """A paragraph of prose, wrapped for an 100-column terminal."""
        paragraph = " ".join(text.split())
        self.line(textwrap.fill(paragraph, width=100 - indent), indent)

    def heading(self, number: int, title: str, reference: str) -> None:
        self.line()
        self.line(self.bold(self.cyan(f"Step {number}. {title}")) + "  " + self.dim(f"[{reference}]"))
        self.line(self.dim("─" * 78))

    def ok(self, text: str, indent: int = 2) -> None:
        self.line(f"{self.green('✔')} {text}", indent)

    def fail(self, text: str, fix: str | None = None, indent: int = 2) -> None:
        self.line(f"{self.red('✖')} {text}", indent)
        if fix:
            self.line(f"{self.bold('fix:')} {fix}", indent + 2)

    def warn(self, text: str, fix: str | None = None, indent: int = 2) -> None:
        self.line(f"{self.yellow('!')} {text}", indent)
        if fix:
            self.line(f"{self.bold('fix:')} {fix}", indent + 2)

    def data(self, value: Any, indent: int = 6, max_lines: int | None = MAX_BODY_LINES) -> None:
        """Pretty JSON, cut after ``max_lines`` lines (``None``: never, for a document a lesson reads)."""
        text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
        lines = text.splitlines()
        if max_lines is not None and len(lines) > max_lines:
            lines = [*lines[:max_lines], f"… ({len(lines) - max_lines} more lines)"]
        self.line("\n".join(lines), indent)

    # -- HTTP exchanges ------------------------------------------------------------------
    def request(self, request: httpx.Request, headers: Iterable[str] = ()) -> None:
        """``→ POST http://…`` with the named request headers and the (redacted) body."""
        self.line(f"{self.bold('→')} {self.bold(request.method)} {redact_url(str(request.url))}", 2)
        for name in headers:
            if name in request.headers:
                self.line(self.dim(f"{name}: {redact_header(name, request.headers[name])}"), 6)
        if request.content:
            _, value = body_summary(request.headers.get("content-type", ""), request.content)
            self.data(value)

    def response(
        self,
        response: httpx.Response,
        headers: Iterable[str] = INTERESTING_HEADERS,
        max_lines: int | None = MAX_BODY_LINES,
    ) -> None:
        """``← 401 Unauthorized`` with the interesting headers and the (redacted) body."""
        status = f"{response.status_code} {response.reason_phrase}"
        colour = (
            self.green
            if response.status_code < 300
            else self.yellow
            if response.status_code < 400
            else self.red
        )
        self.line(f"{self.bold('←')} {colour(self.bold(status))}", 2)
        for name in headers:
            for value in response.headers.get_list(name):
                shown = redact_url(value) if name == "location" else redact_header(name, value)
                self.line(self.dim(f"{name}: {shown}"), 6)
        if response.content:
            _, value = body_summary(response.headers.get("content-type", ""), response.content)
            self.data(value, max_lines=max_lines)

    def exchange(
        self,
        response: httpx.Response,
        request_headers: Iterable[str] = (),
        response_headers: Iterable[str] = INTERESTING_HEADERS,
        max_lines: int | None = MAX_BODY_LINES,
    ) -> None:
        self.request(response.request, request_headers)
        self.response(response, response_headers, max_lines)


# -- banners ---------------------------------------------------------------------------------
def one_url_banner(
    out: Console,
    *,
    listen: str,
    public_url: str,
    mcp_url: str,
    callbacks: Iterable[str],
    trace_url: str | None = None,
) -> None:
    """What ``mcp-oauth-demo one-url`` prints before serving: the URL to paste, the callbacks allowed."""
    from shared.settings import is_loopback_host

    out.line(out.bold(f"mcp-oauth-demo, one URL: authorization server + MCP server on {listen}"))
    out.line(f"  public URL (PUBLIC_URL)  {public_url}")
    out.line(f"  issuer (RFC 8414)        {public_url}/.well-known/oauth-authorization-server")
    out.line(f"  resource (RFC 9728)      {public_url}/.well-known/oauth-protected-resource/mcp")
    out.line(f"  MCP server URL           {out.bold(out.cyan(mcp_url))}")
    out.line("  redirect URIs the AS accepts (OAUTH_ALLOWED_REDIRECT_URIS; loopback ones always):")
    for uri in callbacks:
        out.line(f"    {uri}")
    if is_loopback_host(urlsplit(public_url).hostname):
        out.line(
            f"  Local only. For ChatGPT or Claude: run `ngrok http {urlsplit(listen).port}`, then restart "
            "with PUBLIC_URL=<its https URL>."
        )
    else:
        out.line(
            f"  In ChatGPT or Claude, create a connector with {mcp_url} and OAuth; "
            "sign in as alex / password."
        )
    out.line(f"  Check the setup: PUBLIC_URL={public_url} .venv/bin/mcp-oauth-demo doctor")
    if trace_url:
        out.line(f"  What each client did (keep this URL to yourself): {trace_url}")
