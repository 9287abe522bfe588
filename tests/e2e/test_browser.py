"""A person's sign-in in a real browser, and the widget preview as a person sees it.

Headless Debian Chromium, driven by Playwright, against both servers running as real processes:

* ``test_sign_in_with_a_real_browser`` proves that a client registered by DCR with a loopback
  redirect URI (RFC 8252 §7.3) gets an authorization code through the real login and consent
  pages — the consent page names the client and its redirect host, the browser lands on the
  client's listener with ``code``, the exact ``state`` and ``iss`` (RFC 9207) — and that the code
  and PKCE verifier buy an access token for the MCP resource.
* ``test_widget_preview_renders`` proves that ``GET /widget`` renders in a browser: its title,
  the anonymous status and the public teaser (fetched by the page itself from ``/mcp``) are
  visible, and the page logs no console errors.
* ``test_widget_preview_signs_itself_in`` proves that the preview's "Sign in" button makes the
  page its own public client: the AS's login and consent pages, back to ``/widget`` without the
  code in the address bar, and the signed-in user's notes.

Screenshots of the login page, the consent page and the widget go to ``test-artifacts/``.
The browser is the system's ``/usr/bin/chromium``; no browser is ever downloaded.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mcp_oauth_demo.launcher import Pair
from tests.e2e.node_tools import NodeTools
from tests.e2e.oauth_flow import (
    DEMO_PASSWORD,
    DEMO_USER,
    authorization_request,
    code_from_redirect,
    exchange_code,
    loopback_redirect_uri,
    register_client,
    verified_claims,
)
from tests.e2e.upstream_provider import pair_behind_provider

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (Debian package 'chromium')"),
]

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


@contextmanager
def callback_listener(redirect_uri: str) -> Iterator[list[str]]:
    """A client's loopback redirect listener (RFC 8252 §7.3); yields the request paths it received."""
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            received.append(self.path)
            body = b"<!doctype html><title>Signed in</title><p>Signed in. You can close this window.</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    parts = urlsplit(redirect_uri)
    server = ThreadingHTTPServer((parts.hostname or "127.0.0.1", parts.port or 80), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright_api.Browser]:
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class BrowserPage:
    """A fresh browser context's page, with every console error and uncaught exception it logged."""

    page: playwright_api.Page
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def tab(browser: playwright_api.Browser) -> Iterator[BrowserPage]:
    context = browser.new_context(viewport={"width": 900, "height": 820})
    page = context.new_page()
    page.set_default_timeout(15_000)
    opened = BrowserPage(page)

    def on_console(message: playwright_api.ConsoleMessage) -> None:
        # Chromium asks every origin for /favicon.ico; neither server has one, and that 404 is no page error.
        source = urlsplit(message.location.get("url", "")).path
        if message.type == "error" and source != "/favicon.ico":
            opened.errors.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: opened.errors.append(f"uncaught: {error}"))
    try:
        yield opened
    finally:
        context.close()


def test_sign_in_with_a_real_browser(shared_pair: Pair, tab: BrowserPage, artifacts_dir: Path) -> None:
    page = tab.page
    redirect_uri = loopback_redirect_uri()
    redirect_host = urlsplit(redirect_uri).netloc
    client_name = "Browser E2E Client"
    client_id = register_client(shared_pair, client_name=client_name, redirect_uri=redirect_uri)
    request = authorization_request(shared_pair, client_id=client_id, redirect_uri=redirect_uri)

    with callback_listener(redirect_uri) as received:
        page.goto(request.url)
        password = page.locator("input[type=password]")
        expect(password).to_be_visible()
        expect(page.locator("body")).to_contain_text(client_name)
        page.screenshot(path=artifacts_dir / "browser-login.png", full_page=True)
        page.get_by_label(re.compile("user", re.I)).fill(DEMO_USER)
        password.fill(DEMO_PASSWORD)
        page.get_by_role("button", name=re.compile("sign in|log in", re.I)).click()

        allow = page.get_by_role("button", name=re.compile("^(allow|approve)$", re.I))
        expect(allow).to_be_visible()
        body = page.locator("body")
        expect(body).to_contain_text(client_name)
        expect(body).to_contain_text(redirect_host)
        page.screenshot(path=artifacts_dir / "browser-consent.png", full_page=True)
        allow.click()

        page.wait_for_url(redirect_uri + "?*")
        expect(page.locator("body")).to_contain_text("Signed in")

    code = code_from_redirect(request, page.url, shared_pair.issuer)
    # The browser really went to the client's listener, exactly once, with that response.
    landed = urlsplit(page.url)
    assert [path for path in received if path.startswith(landed.path)] == [f"{landed.path}?{landed.query}"]
    assert tab.errors == []

    tokens = exchange_code(shared_pair, request, code)
    claims = verified_claims(shared_pair, tokens["access_token"])  # signature, iss, aud = the MCP resource
    assert claims["client_id"] == client_id
    assert set(claims["scope"].split()) == {"profile:read", "notes:read"}


def test_widget_preview_renders(shared_pair: Pair, tab: BrowserPage, artifacts_dir: Path) -> None:
    page = tab.page
    response = page.goto(shared_pair.rs_base_url + "/widget")
    assert response is not None and response.status == 200

    heading = page.get_by_role("heading", level=1)
    expect(heading).to_be_visible()
    assert heading.inner_text().strip() == page.title().strip() != ""
    # The page calls notes_teaser on /mcp itself; anonymously it shows the public teaser.
    expect(page.get_by_text("Not signed in", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Teaser")).to_be_visible()
    teaser = page.locator("#notes")
    expect(teaser).not_to_contain_text("Loading")
    expect(teaser).not_to_contain_text("Could not load")
    assert teaser.inner_text().strip()
    page.screenshot(path=artifacts_dir / "browser-widget.png", full_page=True)
    assert tab.errors == []


def test_widget_preview_signs_itself_in(shared_pair: Pair, tab: BrowserPage, artifacts_dir: Path) -> None:
    """In a plain browser, "Sign in" makes the page its own public client (DCR, PKCE, loopback redirect)."""
    page = tab.page
    widget_url = shared_pair.rs_base_url + "/widget"
    page.goto(widget_url)
    expect(page.get_by_text("Not signed in", exact=True)).to_be_visible()
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()

    # The AS's own login and consent pages, as for any client.
    password = page.locator("input[type=password]")
    expect(password).to_be_visible()
    assert page.url.startswith(shared_pair.issuer + "/")
    page.get_by_label(re.compile("user", re.I)).fill(DEMO_USER)
    password.fill(DEMO_PASSWORD)
    page.get_by_role("button", name=re.compile("sign in|log in", re.I)).click()
    allow = page.get_by_role("button", name=re.compile("^(allow|approve)$", re.I))
    expect(allow).to_be_visible()
    expect(page.locator("body")).to_contain_text("Auth Demo widget (browser preview)")
    allow.click()

    # Back on the widget: the code is exchanged, the address bar no longer shows it, the notes load.
    page.wait_for_url(widget_url)
    expect(page.get_by_text("Signed in", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"^Your notes \(\d+\)$"))).to_be_visible()
    expect(page.locator("#identity")).to_contain_text("notes:read")
    expect(page.locator("#host-notice")).to_contain_text("signed in by this page itself")
    assert "code=" not in page.url
    assert page.evaluate("sessionStorage.length") == 0, "the PKCE verifier is gone once used"
    page.screenshot(path=artifacts_dir / "browser-widget-signed-in.png", full_page=True)
    assert tab.errors == []

    page.reload()  # the token lived only in the page
    expect(page.get_by_text("Not signed in", exact=True)).to_be_visible()


def test_widget_preview_ignores_an_answer_it_did_not_ask_for(shared_pair: Pair, tab: BrowserPage) -> None:
    """A forged ``/widget?code=…&state=…`` (login CSRF, RFC 6749 §10.12) is refused, not exchanged."""
    page = tab.page
    page.goto(shared_pair.rs_base_url + "/widget?code=stolen&state=forged&iss=" + shared_pair.issuer)
    expect(page.locator("#hint")).to_contain_text("not for a request this page made")
    expect(page.get_by_text("Not signed in", exact=True)).to_be_visible()
    assert "code=" not in page.url
    assert tab.errors == []


def test_sign_in_through_an_upstream_provider_in_a_real_browser(
    node_tools: NodeTools, tmp_path: Path, tab: BrowserPage, artifacts_dir: Path
) -> None:
    """IDENTITY=oidc in Chromium: our consent page first, then node-oidc-provider's login, then the client."""
    page = tab.page
    # The provider's development pages link a web font; nothing leaves this machine.
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/]).*"), lambda route: route.abort())
    with pair_behind_provider(node_tools, tmp_path) as pair:
        redirect_uri = loopback_redirect_uri()
        client_id = register_client(pair, client_name="Upstream Browser Client", redirect_uri=redirect_uri)
        request = authorization_request(pair, client_id=client_id, redirect_uri=redirect_uri)
        with callback_listener(redirect_uri):
            page.goto(request.url)
            allow = page.get_by_role("button", name=re.compile("^allow$", re.I))
            expect(allow).to_be_visible()
            expect(page.locator("body")).to_contain_text(pair.env["UPSTREAM_ISSUER"].removeprefix("http://"))
            expect(page.locator("input[type=password]")).to_have_count(0)  # no password of ours
            page.screenshot(path=artifacts_dir / "browser-upstream-consent.png", full_page=True)
            allow.click()

            page.locator("input[name=login]").fill("casey")
            page.locator("input[name=password]").fill("anything")
            page.screenshot(path=artifacts_dir / "browser-upstream-login.png", full_page=True)
            page.locator("button[type=submit]").first.click()
            page.locator("button[type=submit]").first.click()  # the provider's own consent

            page.wait_for_url(redirect_uri + "?*")
        code = code_from_redirect(request, page.url, pair.issuer)
        claims = verified_claims(pair, exchange_code(pair, request, code)["access_token"])
    assert claims["email"] == "casey@idp.example" and claims["sub"].startswith("oidc_")
    assert [error for error in tab.errors if "(http://127.0.0.1" in error] == []
