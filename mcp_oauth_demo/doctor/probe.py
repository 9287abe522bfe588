"""What the doctor looks at: the configuration, and the running servers seen from outside.

The configuration is read as the servers read it (:mod:`shared.settings`); when it is
invalid, the doctor still reads it without the checks (:class:`shared.settings.SettingsFields`)
so that the rest of the setup can be examined. A :class:`Probe` fetches each URL once and
remembers when it asked and when the answer came (the clock check needs both).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import ValidationError

from mcp_oauth_demo import oauth_client as oc
from mcp_oauth_demo.doctor.problems import BROWSER_ORIGIN
from shared.settings import ConfigError, SettingsFields, load_settings


# -- what the doctor knows ------------------------------------------------------------------
def unchecked_settings(**values: Any) -> SettingsFields:
    """The settings as the servers would derive them, without their checks (for a broken setup).

    Only the derivations are repeated: ``PUBLIC_URL`` stands for both base URLs, and
    ``MCP_RESOURCE`` defaults to ``RS_BASE_URL/mcp`` (see :class:`shared.settings.Settings`).
    """
    settings = SettingsFields(**values)
    if settings.public_url:
        settings.rs_base_url = settings.auth_issuer = settings.public_url
    settings.mcp_resource = settings.mcp_resource or f"{settings.rs_base_url.rstrip('/')}/mcp"
    return settings


def read_settings() -> tuple[SettingsFields | None, str | None]:
    """(settings, the configuration error if any) — settings even when they are invalid."""
    try:
        return load_settings(), None
    except ConfigError as exc:
        try:
            return unchecked_settings(), str(exc)
        except ValidationError:
            return None, str(exc)


@dataclass
class Fetched:
    """One GET, remembered: the response or why there was none, and when it was sent and arrived."""

    url: str
    response: httpx.Response | None
    error: str | None
    sent_at: float
    received_at: float

    @property
    def document(self) -> dict[str, Any] | None:
        if self.response is None or self.response.status_code != 200:
            return None
        try:
            body = self.response.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def problem(self) -> str:
        """Why there is no document, for a message."""
        if self.error:
            return self.error
        assert self.response is not None
        kind = self.response.headers.get("content-type", "no content type")
        return f"HTTP {self.response.status_code} ({kind})"


@dataclass
class Probe:
    """The configuration plus what the running servers answer; fetches each URL once."""

    settings: SettingsFields
    http: httpx.Client
    config_error: str | None = None
    sign_in: bool = True
    _fetched: dict[str, Fetched] = field(default_factory=dict)
    challenge_response: httpx.Response | None = None

    def get(self, url: str) -> Fetched:
        if url not in self._fetched:
            sent_at = time.time()
            try:
                # The Origin makes the CORS check free: every discovery answer is a CORS answer too.
                response: httpx.Response | None = self.http.get(
                    url, headers={"Accept": "application/json", "Origin": BROWSER_ORIGIN}
                )
                error = None
            except httpx.TransportError as exc:
                response, error = None, f"{type(exc).__name__}: {exc or 'no answer'}"
            self._fetched[url] = Fetched(url, response, error, sent_at, time.time())
        return self._fetched[url]

    # The documents the checks look at.
    @property
    def mcp_url(self) -> str:
        return self.settings.rs_base_url.rstrip("/") + "/mcp"

    @property
    def prm(self) -> Fetched:
        return self.get(self.settings.rs_metadata_url)

    @property
    def as_metadata(self) -> Fetched:
        return self.get(oc.well_known_url(self.settings.auth_issuer, "oauth-authorization-server"))

    def unauthenticated_call(self) -> httpx.Response | None:
        if self.challenge_response is None:
            try:
                self.challenge_response = self.http.post(
                    self.mcp_url,
                    json=oc.rpc("tools/call", {"name": "notes_list", "arguments": {}}, 1),
                    headers={"Accept": oc.MCP_ACCEPT, "Origin": BROWSER_ORIGIN},
                )
            except httpx.TransportError:
                return None
        return self.challenge_response
