"""The trace on the AS: ``GET /trace`` (live page) and its JSON, behind ``TRACE_KEY``.

* ``GET /trace`` — the page: one sequence diagram per connection (client ⇄ AS ⇄ RS), each step
  expandable with its details and RFC section, the diagnoses at the end; it polls the JSON below.
* ``GET /trace/events`` — every stored event, oldest first; ``?since=<Unix seconds>`` for polling.
* ``GET /trace/connections`` — the same events grouped into connections, with their diagnoses.

The trace says who connected from where, so every route but the page's script needs the key —
``?key=<TRACE_KEY>`` or ``Authorization: Bearer <TRACE_KEY>`` — from loopback and tunnel alike
(a tunnel's requests arrive from 127.0.0.1, so an address check would protect nothing). Without
it: 401 with a ``Bearer`` challenge. The page moves the key from its URL into session storage
and sends it as a header, and is served with ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

import hmac
import time
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from shared.settings import Settings, get_settings

from .connections import connections
from .diagnoses import diagnose
from .events import STEPS
from .middleware import recorder_for

STATIC = Path(__file__).parent / "static"
MAX_EVENTS_SERVED = 5000
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

TRACE_PATH = "/trace"  # the page; its JSON and assets live below it


class TraceViews:
    """The routes, for the settings the AS runs with (resolved on first request when not given)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    def _authorized(self, request: Request) -> bool:
        sent = request.query_params.get("key", "")
        authorization = request.headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            sent = authorization[7:].strip()
        return bool(sent) and hmac.compare_digest(sent.encode(), self.settings.trace_key.encode())

    def _refusal(self, request: Request) -> Response | None:
        if not self.settings.trace:
            return JSONResponse(
                {
                    "error": "not_found",
                    "error_description": "tracing is off (TRACE=off); unset TRACE to record",
                },
                status_code=404,
            )
        if self._authorized(request):
            return None
        description = (
            "the trace needs its key: open the URL the authorization server printed at start "
            "(.../trace?key=...), or send Authorization: Bearer <TRACE_KEY>"
        )
        return JSONResponse(
            {"error": "invalid_token", "error_description": description},
            status_code=401,
            headers={
                "WWW-Authenticate": 'Bearer realm="trace", error="invalid_token", '
                f'error_description="{description}"'
            },
        )

    def _events(self, request: Request) -> list[dict]:
        recorder = recorder_for(self.settings)
        recorder.flush()  # this process's own queue first, so the page is never behind itself
        try:
            since = float(request.query_params["since"]) if "since" in request.query_params else None
        except ValueError:
            since = None
        try:
            return recorder.store.events(since=since, limit=MAX_EVENTS_SERVED)
        finally:
            recorder.store.release()  # the writer reopens it; an idle AS holds no descriptor

    async def page(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        return FileResponse(STATIC / "trace.html", headers=PAGE_HEADERS, media_type="text/html")

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ("trace.js", "trace.css"):
            return JSONResponse({"error": "not_found"}, status_code=404)
        return FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

    async def events(self, request: Request) -> Response:
        if (since := request.query_params.get("since")) is not None:
            try:
                float(since)
            except ValueError:
                return JSONResponse(
                    {
                        "error": "invalid_request",
                        "error_description": f"since={since!r} is not a time; "
                        "send Unix seconds, e.g. since=1764750000.5",
                    },
                    status_code=400,
                )
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        return JSONResponse(await run_in_threadpool(self._events, request))

    async def connections(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        events = await run_in_threadpool(self._events, request)  # SQLite and parsing stay off the loop
        return JSONResponse(connections_payload(events, time.time()))

    def routes(self) -> list[Route]:
        return [
            Route(TRACE_PATH, self.page, methods=["GET"]),
            Route(f"{TRACE_PATH}/events", self.events, methods=["GET"]),
            Route(f"{TRACE_PATH}/connections", self.connections, methods=["GET"]),
            Route(f"{TRACE_PATH}/static/{{name}}", self.asset, methods=["GET"]),
        ]


def connections_payload(events: list[dict], now: float) -> dict:
    """What the page draws: connections newest first, each with its events, labels and diagnoses."""
    result = []
    for connection in connections(events):
        for event in connection.events:
            step = STEPS.get(event["step"], STEPS["other"])
            event["label"], event["rfc"] = step.label, step.rfc
        result.append(
            {
                "client": connection.client,
                "client_name": connection.client_name,
                "started": connection.started,
                "ended": connection.ended,
                "events": connection.events,
                "diagnoses": [diagnosis.as_dict() for diagnosis in diagnose(connection.events, now)],
            }
        )
    result.reverse()
    return {"now": now, "connections": result}


def trace_routes(settings: Settings | None = None) -> list[Route]:
    """The AS's trace routes; ``settings`` defaults to the process's (read on first request)."""
    return TraceViews(settings).routes()
