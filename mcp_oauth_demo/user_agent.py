"""Play the user at the authorization endpoint, without a browser (RFC 6749 §4.1.1–§4.1.2).

In the authorization code flow the *user* — not the client — talks to the authorization
server: the client sends the browser to the authorization URL, the person signs in and
approves, and the AS redirects the browser back to the client's ``redirect_uri`` with
``code``, ``state`` and ``iss`` (RFC 9207). This module is that person and that browser,
for the walkthrough, the end-to-end tests, the benchmarks and the security tests:

* follow the AS's redirects from the authorization URL to its login page,
* read the HTML form generically (action, method, hidden inputs such as the CSRF token),
* fill in the demo credentials and submit, then press the *approve* button on the consent page,
* stop at the redirect to the client and return it **without following it** — the client's
  redirect URI may not even be listening (RFC 8252 §7.3 loopback redirects usually are not).

The browsing logic is a generator that yields the next request and receives the response
(the "sans-I/O" style httpx uses for auth flows), so one implementation drives both a
synchronous ``httpx.Client`` (:func:`sign_in`) and an ``httpx.AsyncClient``
(:func:`sign_in_async`). Use a client with a cookie jar — httpx clients have one — since the
AS keeps the login session and the CSRF token in cookies.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx

from mcp_oauth_demo.constants import DEMO_PASSWORD, DEMO_USERNAME

# More hops than any sane login needs; a loop between pages ends here instead of forever.
MAX_HOPS = 12

_APPROVE_RE = re.compile(r"\b(approve|allow|authori[sz]e|accept|consent|grant|continue|yes)\b", re.I)
_DENY_RE = re.compile(r"\b(deny|decline|reject|cancel|no)\b", re.I)
# Controls whose value a browser never submits on its own.
_NOT_SUBMITTED = frozenset({"submit", "button", "image", "reset", "file"})


class UserAgentError(RuntimeError):
    """The AS showed something a user could not get past (an error page, a refused login, …)."""


# -- reading HTML forms -------------------------------------------------------------------
@dataclass
class Control:
    """An ``<input>`` or ``<button>`` of a form."""

    tag: str
    type: str
    name: str
    value: str
    checked: bool = False
    label: str = ""  # a button's text

    @property
    def is_submit(self) -> bool:
        return self.type in ("submit", "image")

    @property
    def words(self) -> str:
        """What a person reads on a button (its text, or value), plus its name."""
        return f"{self.label} {self.value} {self.name}"


@dataclass
class Form:
    action: str
    method: str
    controls: list[Control] = field(default_factory=list)

    @property
    def has_password(self) -> bool:
        return any(control.type == "password" for control in self.controls)

    @property
    def submit_buttons(self) -> list[Control]:
        return [control for control in self.controls if control.is_submit]

    def fields(self, button: Control | None = None) -> dict[str, str]:
        """What a browser sends: named controls (checked ones only for boxes), plus the pressed button."""
        data: dict[str, str] = {}
        for control in self.controls:
            if not control.name or control.type in _NOT_SUBMITTED:
                continue
            if control.type in ("checkbox", "radio") and not control.checked:
                continue
            data[control.name] = control.value
        if button is not None and button.name:
            data[button.name] = button.value
        return data


@dataclass
class Page:
    """An HTML page as a user sees it: its title, its visible text and its forms."""

    url: str
    title: str
    text: str
    forms: list[Form]

    def describe(self, limit: int = 600) -> str:
        text = self.text if len(self.text) <= limit else self.text[:limit] + "…"
        return f"“{self.title}” at {self.url}: {text}" if self.title else f"{self.url}: {text}"


class _PageParser(HTMLParser):
    def __init__(self, url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.url = url
        self.forms: list[Form] = []
        self.title = ""
        self._text: list[str] = []
        self._form: Form | None = None
        self._button: Control | None = None
        self._skip = 0  # inside <script>/<style>
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "form":
            self._form = Form(
                # An empty action submits to the page itself (HTML §4.10.21.3).
                action=urljoin(self.url, attributes.get("action") or self.url),
                method=(attributes.get("method") or "get").upper(),
            )
            self.forms.append(self._form)
        elif tag in ("input", "button") and self._form is not None:
            control = Control(
                tag=tag,
                type=(attributes.get("type") or ("submit" if tag == "button" else "text")).lower(),
                name=attributes.get("name", ""),
                value=attributes.get("value", ""),
                checked="checked" in attributes,
            )
            self._form.controls.append(control)
            if tag == "button":
                self._button = control

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif tag == "form":
            self._form = None
        elif tag == "button":
            self._button = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._in_title:
            self.title += data
            return
        if self._button is not None:
            self._button.label += data
        self._text.append(data)

    def page(self) -> Page:
        for form in self.forms:
            for control in form.controls:
                control.label = " ".join(control.label.split())
        text = " ".join(" ".join(self._text).split())
        return Page(url=self.url, title=" ".join(self.title.split()), text=text, forms=self.forms)


def parse_page(html: str, url: str) -> Page:
    parser = _PageParser(url)
    parser.feed(html)
    parser.close()
    return parser.page()


# -- the result ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AuthorizationResponse:
    """The AS's redirect to the client (RFC 6749 §4.1.2 / §4.1.2.1), not followed."""

    redirect_url: str
    params: dict[str, str]

    @property
    def code(self) -> str | None:
        return self.params.get("code")

    @property
    def state(self) -> str | None:
        return self.params.get("state")

    @property
    def iss(self) -> str | None:
        return self.params.get("iss")

    @property
    def error(self) -> str | None:
        return self.params.get("error")

    def require_code(self) -> str:
        """The code, or a :class:`UserAgentError` carrying the AS's ``error`` and description."""
        if self.code:
            return self.code
        description = self.params.get("error_description", "")
        raise UserAgentError(f"the AS redirected with error={self.error!r} {description}".strip())


# -- browsing -----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Hop:
    method: str
    url: str
    data: dict[str, str] | None = None


def _without_query(url: str) -> str:
    return urlsplit(url)._replace(query="", fragment="").geturl()


def _is_redirect(response: httpx.Response) -> bool:
    return response.status_code in (301, 302, 303, 307, 308) and "location" in response.headers


def _submission(form: Form, button: Control | None) -> _Hop:
    data = form.fields(button)
    if form.method == "GET":
        query = httpx.QueryParams(data)
        return _Hop("GET", _without_query(form.action) + "?" + str(query))
    return _Hop("POST", form.action, data)


def _login(page: Page, form: Form, username: str, password: str) -> _Hop:
    filled = False
    for control in form.controls:
        if control.type == "password":
            control.value = password
        elif control.name.lower() in ("username", "user", "login", "email") or (
            not filled and control.type in ("text", "email") and control.name
        ):
            control.value = username
            filled = True
    if not filled:
        raise UserAgentError(f"the login form has no username field: {page.describe()}")
    buttons = form.submit_buttons
    return _submission(form, buttons[0] if buttons else None)


def _consent(page: Page, approve: bool) -> _Hop:
    """Press the approve (or deny) button, wherever the page put it."""
    for form in page.forms:
        for button in form.submit_buttons:
            words = button.words
            wanted = (
                _APPROVE_RE.search(words) and not _DENY_RE.search(words)
                if approve
                else _DENY_RE.search(words)
            )
            if wanted:
                return _submission(form, button)
    choice = "approve" if approve else "deny"
    raise UserAgentError(f"found no {choice} button on the page: {page.describe()}")


def browse(
    authorization_url: str,
    *,
    username: str = DEMO_USERNAME,
    password: str = DEMO_PASSWORD,
    approve: bool = True,
) -> Generator[_Hop, httpx.Response, AuthorizationResponse]:
    """The user's side of the flow: yields requests, receives responses, returns the redirect."""
    redirect_uri = dict(parse_qsl(urlsplit(authorization_url).query)).get("redirect_uri")
    if not redirect_uri:
        raise UserAgentError(f"the authorization URL has no redirect_uri: {authorization_url}")
    redirect_base = _without_query(redirect_uri)
    hop = _Hop("GET", authorization_url)
    logins = 0
    for _ in range(MAX_HOPS):
        response = yield hop
        here = str(response.url)
        if _is_redirect(response):
            location = urljoin(here, response.headers["location"])
            if _without_query(location) == redirect_base:
                return AuthorizationResponse(location, dict(parse_qsl(urlsplit(location).query)))
            hop = _Hop("GET", location)
            continue
        page = parse_page(response.text, here) if "html" in response.headers.get("content-type", "") else None
        if response.status_code != 200 or page is None:
            shown = page.describe() if page else response.text[:600]
            raise UserAgentError(f"the AS answered {response.status_code} at {here}: {shown}")
        login_form = next((form for form in page.forms if form.has_password), None)
        if login_form is not None:
            logins += 1
            if logins > 1:
                # The AS showed the login form again: it refused the credentials.
                raise UserAgentError(f"the AS did not accept the login for {username!r}: {page.describe()}")
            hop = _login(page, login_form, username, password)
        elif page.forms:
            hop = _consent(page, approve)
        else:
            raise UserAgentError(f"expected a login or consent form, got {page.describe()}")
    raise UserAgentError(f"no redirect to {redirect_base} after {MAX_HOPS} pages; last was {hop.url}")


Trace = Callable[[httpx.Response], None]


def sign_in(
    client: httpx.Client,
    authorization_url: str,
    *,
    username: str = DEMO_USERNAME,
    password: str = DEMO_PASSWORD,
    approve: bool = True,
    trace: Trace | None = None,
) -> AuthorizationResponse:
    """Sign in and consent with ``client``; ``trace`` sees every response (the walkthrough prints them)."""
    flow = browse(authorization_url, username=username, password=password, approve=approve)
    hop = next(flow)
    while True:
        response = client.request(hop.method, hop.url, data=hop.data, follow_redirects=False)
        if trace is not None:
            trace(response)
        try:
            hop = flow.send(response)
        except StopIteration as done:
            return done.value


async def sign_in_async(
    client: httpx.AsyncClient,
    authorization_url: str,
    *,
    username: str = DEMO_USERNAME,
    password: str = DEMO_PASSWORD,
    approve: bool = True,
    trace: Callable[[httpx.Response], Awaitable[None] | None] | None = None,
) -> AuthorizationResponse:
    """:func:`sign_in` for an ``httpx.AsyncClient``."""
    flow = browse(authorization_url, username=username, password=password, approve=approve)
    hop = next(flow)
    while True:
        response = await client.request(hop.method, hop.url, data=hop.data, follow_redirects=False)
        if trace is not None:
            outcome = trace(response)
            if outcome is not None:
                await outcome
        try:
            hop = flow.send(response)
        except StopIteration as done:
            return done.value
