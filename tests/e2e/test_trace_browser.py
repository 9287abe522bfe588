"""``/trace`` in a real browser (``/usr/bin/chromium``): it opens from the banner's URL and updates live.

The key comes from the AS's startup banner, as a person would copy it; the page then shows a
flow that runs while it is open, without a reload, and a step expands to its details.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from mcp_oauth_demo import oauth_client
from mcp_oauth_demo.launcher import Pair
from tests.e2e.oauth_flow import token_via_flow
from tests.e2e.test_browser import CHROMIUM, BrowserPage, browser, playwright_api, tab  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (Debian package 'chromium')"),
]
expect = playwright_api.expect
CLIENT_NAME = "browser trace client"
FORGETFUL = "forgetful browser-trace client"


def banner_trace_url(pair: Pair) -> str:
    match = re.search(r"trace\s+(http://\S+/trace\?key=\S+)", pair.auth.log)
    assert match, f"the AS banner names no trace URL:\n{pair.auth.log[:2000]}"
    return match.group(1)


def run_a_flow(pair: Pair) -> None:
    time.sleep(1.5)  # the page is open and polling before the first request
    token = token_via_flow(pair, client_name=CLIENT_NAME)
    with httpx.Client(timeout=10) as http:
        call = oauth_client.rpc("tools/call", {"name": "notes_list", "arguments": {}}, id=1)
        oauth_client.mcp_post(http, pair.mcp_url, call, access_token=token)
    # A second client signs in, then calls without its token: the page must name that.
    token_via_flow(pair, client_name=FORGETFUL)
    with httpx.Client(timeout=10) as http:  # from where its sign-in came, with the same User-Agent
        oauth_client.mcp_post(http, pair.mcp_url, call)


def test_the_trace_page_updates_live_while_a_flow_runs(
    shared_pair: Pair,
    tab: BrowserPage,  # noqa: F811 (the fixture imported above)
    artifacts_dir: Path,
) -> None:
    url = banner_trace_url(shared_pair)
    page = tab.page
    response = page.goto(url)
    assert response is not None and response.status == 200
    expect(page.locator("#status")).to_contain_text("live")
    assert "key=" not in page.url, "the key leaves the address bar"
    flow = threading.Thread(target=run_a_flow, args=(shared_pair,))
    flow.start()
    connection = page.locator("section.connection", has_text=CLIENT_NAME)
    expect(connection).to_be_visible(timeout=30_000)
    expect(connection.locator("details.step.to-rs", has_text="tools/call notes_list")).to_be_visible(
        timeout=15_000
    )
    flow.join(timeout=30)
    forgetful = page.locator("section.connection", has_text=FORGETFUL)
    expect(forgetful.locator(".diagnosis")).to_contain_text("without a token after sign-in", timeout=15_000)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=artifacts_dir / "trace-live-top.png")  # what docs/trace.png shows
    token_step = connection.locator("details.step", has_text="Code exchanged for tokens")
    token_step.locator("summary").click()
    expect(token_step.locator(".details")).to_contain_text("RFC 6749 §4.1.3")
    page.screenshot(path=artifacts_dir / "trace-live.png", full_page=True)
    assert not tab.errors, tab.errors


def test_without_the_key_the_page_is_401(shared_pair: Pair, tab: BrowserPage) -> None:  # noqa: F811
    response = tab.page.goto(shared_pair.issuer + "/trace")
    assert response is not None and response.status == 401
