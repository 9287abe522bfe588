"""The HTML pages a user sees: login, consent and errors.

Every page is served with headers that keep it from being framed (clickjacking a consent
button is the classic attack: ``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'``),
loads nothing but its own stylesheet, and is never cached.

CSP ``form-action`` is deliberately absent: browsers apply it to the redirect that follows
the consent form, which goes to the client's redirect URI on another origin.

An error shown here — rather than redirected to the client — is one where the redirect URI
cannot be trusted (RFC 6749 §4.1.2.1): the page tells the user, and the developer reading
it, what is wrong and how to fix it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from auth_server import paths

PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
TEMPLATES = Path(__file__).parent / "templates"


class PageError(Exception):
    """An error for the browser, rendered as an HTML page with ``status_code``."""

    def __init__(
        self, title: str, message: str, *, status_code: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{title}: {message}")
        self.title = title
        self.message = message
        self.status_code = status_code
        self.headers = headers or {}


class Pages:
    @classmethod
    @functools.cache
    def shared(cls) -> Pages:
        """One instance per process: templates are compiled once, on first render."""
        return cls()

    def __init__(self) -> None:
        self._env = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True)
        )

    def render(
        self, template: str, *, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any
    ) -> HTMLResponse:
        html = self._env.get_template(template).render(paths=paths.PAGES, **context)
        return HTMLResponse(html, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})})

    def error(self, error: PageError) -> HTMLResponse:
        return self.render(
            "error.html",
            status_code=error.status_code,
            headers=error.headers,
            title=error.title,
            message=error.message,
        )
