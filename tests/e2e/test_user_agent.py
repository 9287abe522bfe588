"""The user agent that plays the demo user (RFC 6749 §4.1.1–§4.1.2) against the live AS.

Approving yields ``code``, ``state`` and ``iss``; denying yields ``error=access_denied``; a page
the user cannot get past (an error page, a refused login) raises with what the AS said.
"""

from __future__ import annotations

import httpx
import pytest

from mcp_oauth_demo import oauth_client as oc
from mcp_oauth_demo.launcher import Pair, free_port
from mcp_oauth_demo.user_agent import UserAgentError, parse_page, sign_in, sign_in_async
from shared.pkce import make_pair

pytestmark = pytest.mark.e2e


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def authorization_url(pair: Pair, http: httpx.Client, *, client_id: str | None = None) -> str:
    metadata = http.get(pair.issuer + "/.well-known/oauth-authorization-server").json()
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    if client_id is None:
        registered = oc.register_client(
            http, metadata["registration_endpoint"], redirect_uri, name="user agent test"
        )
        client_id = registered.json()["client_id"]
    return oc.authorization_url(
        metadata["authorization_endpoint"],
        client_id=client_id,
        redirect_uri=redirect_uri,
        code_challenge=make_pair()[1],
        state="state-123",
        resource=pair.mcp_url,
    )


def test_approve_returns_the_redirect_without_following_it(shared_pair: Pair) -> None:
    with httpx.Client(timeout=10) as http:
        url = authorization_url(shared_pair, http)
        seen: list[httpx.Response] = []
        answer = sign_in(http, url, trace=seen.append)
    assert answer.code and answer.require_code() == answer.code
    assert answer.state == "state-123"
    assert answer.iss == shared_pair.issuer
    assert answer.redirect_url.startswith("http://127.0.0.1:")
    # authorize → login page → login → consent page → consent → redirect (never fetched)
    assert [r.request.method for r in seen] == ["GET", "GET", "POST", "GET", "POST"]
    assert all(str(r.request.url).startswith(shared_pair.issuer) for r in seen)


@pytest.mark.anyio
async def test_async_and_deny(shared_pair: Pair) -> None:
    with httpx.Client(timeout=10) as http:
        url = authorization_url(shared_pair, http)
    async with httpx.AsyncClient(timeout=10) as browser:
        answer = await sign_in_async(browser, url, approve=False)
    assert answer.error == "access_denied"
    assert answer.iss == shared_pair.issuer, "error redirects carry iss too (RFC 9207 §2)"
    with pytest.raises(UserAgentError, match="access_denied"):
        answer.require_code()


def test_wrong_password_is_reported(shared_pair: Pair) -> None:
    with httpx.Client(timeout=10) as http:
        url = authorization_url(shared_pair, http)
        with pytest.raises(UserAgentError, match="did not accept the login for 'alex'"):
            sign_in(http, url, password="not the password")


def test_error_page_text_is_shown(shared_pair: Pair) -> None:
    with httpx.Client(timeout=10) as http:
        url = authorization_url(shared_pair, http, client_id="no-such-client")
        with pytest.raises(UserAgentError) as raised:
            sign_in(http, url)
    # An unknown client's redirect URI cannot be trusted, so the AS shows an error page (RFC 6749
    # §4.1.2.1) and the user agent reports its text.
    message = str(raised.value)
    assert "the AS answered 400" in message
    assert "no-such-client" in message


def test_parse_page_reads_forms_generically() -> None:
    page = parse_page(
        """<title>Consent</title><form method=post action="/c"><input type=hidden name=csrf value=t>
        <input type=checkbox name=remember><button name=action value=deny>Deny</button>
        <button name=action value=approve>Allow</button></form><script>var x = 1;</script>""",
        "http://as.example/oauth2/consent?x=1",
    )
    (form,) = page.forms
    assert form.action == "http://as.example/c" and form.method == "POST"
    assert [button.label for button in form.submit_buttons] == ["Deny", "Allow"]
    assert form.fields(form.submit_buttons[1]) == {"csrf": "t", "action": "approve"}
    assert page.title == "Consent" and "var x" not in page.text
