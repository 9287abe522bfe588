"""The recording middleware: an outermost ASGI layer that watches each exchange go by.

It never reads a body itself and never holds one back. It wraps ``receive`` and ``send`` and,
as the app reads the request and writes the answer, keeps a copy of the first
:data:`MAX_CAPTURED_BYTES` of the bodies that explain a step — the OAuth endpoints' forms and
JSON, the ``/mcp`` JSON-RPC POST and its JSON answer, the AS's HTML error pages. So the RS's
JSON-RPC method and tool name come from the very chunks the MCP layers read (no second read),
and a streamed answer (``text/event-stream``) passes untouched: its event is recorded when
the stream starts. Everything else about the exchange is parsed later, off the request path
(:mod:`shared.trace.extract`, on the recorder's thread).

The trace's own views (``/trace…``) and static files are not recorded; with ``TRACE=off`` the
middleware is a plain pass-through.
"""

from __future__ import annotations

import time
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.settings import Settings, get_settings

from .extract import Exchange
from .store import TraceRecorder, open_trace_store

MAX_CAPTURED_BYTES = 16_384  # OAuth forms and JSON-RPC requests are far smaller; bounds the queue's memory
AS_BODY_PATHS = frozenset(
    ("/oauth2/token", "/oauth2/register", "/oauth2/revoke", "/oauth2/introspect", "/oauth2/consent")
)
UNRECORDED_PREFIXES = ("/trace", "/oauth2/static/", "/favicon.ico")

_recorders: dict[tuple[str, str], TraceRecorder] = {}


def recorder_for(settings: Settings) -> TraceRecorder:
    """The process's recorder for this ``DATA_DIR`` (one-URL mode runs both servers on one)."""
    key = (settings.store, str(Path(settings.data_dir).resolve()))
    recorder = _recorders.get(key)
    if recorder is None:
        recorder = _recorders[key] = TraceRecorder(
            lambda: open_trace_store(settings), log_json=settings.log_format == "json"
        )
    return recorder


class TraceMiddleware:
    """Records every HTTP exchange of ``app`` as a trace event of ``server`` (``as`` or ``rs``)."""

    def __init__(
        self, app: ASGIApp, *, server: str, settings: Settings | None, recorder: TraceRecorder | None = None
    ) -> None:
        self.app = app
        self.server = server
        self._settings = settings  # None: the process's settings, read on the first request
        self.enabled: bool | None = None
        self.recorder = recorder

    def _configure(self) -> None:
        settings = self._settings or get_settings()
        self.enabled = settings.trace
        if self.enabled and self.recorder is None:
            self.recorder = recorder_for(settings)

    def _wants_request_body(self, method: str, path: str) -> bool:
        if method != "POST":
            return False
        return path in AS_BODY_PATHS if self.server == "as" else path.endswith("/mcp")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if self.enabled is None:
            self._configure()
        if scope["type"] != "http" or not self.enabled or path.startswith(UNRECORDED_PREFIXES):
            await self.app(scope, receive, send)
            return
        started = time.time()
        clock = time.perf_counter()
        request_chunks: list[bytes] | None = [] if self._wants_request_body(scope["method"], path) else None
        response_chunks: list[bytes] | None = None
        status = 0
        response_headers: list[tuple[bytes, bytes]] = []
        recorded = False

        async def observed_receive() -> Message:
            message = await receive()
            if request_chunks is not None and message["type"] == "http.request":
                if sum(map(len, request_chunks)) < MAX_CAPTURED_BYTES:
                    request_chunks.append(message.get("body", b""))
            return message

        def record() -> None:
            nonlocal recorded
            recorded = True
            client = scope.get("client")
            assert self.recorder is not None
            self.recorder.record(
                Exchange(
                    server=self.server,
                    time=started,
                    duration=time.perf_counter() - clock,
                    method=scope["method"],
                    path=path,
                    query=scope.get("query_string", b""),
                    headers=list(scope.get("headers", ())),
                    peer=client[0] if client else None,
                    status=status,
                    response_headers=response_headers,
                    request_body=b"".join(request_chunks)[:MAX_CAPTURED_BYTES] if request_chunks else None,
                    response_body=b"".join(response_chunks)[:MAX_CAPTURED_BYTES] if response_chunks else None,
                )
            )

        async def observed_send(message: Message) -> None:
            nonlocal status, response_headers, response_chunks
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = list(message.get("headers", ()))
                content_type = next(
                    (value for name, value in response_headers if name.lower() == b"content-type"), b""
                )
                if b"event-stream" in content_type:
                    record()  # a stream may stay open for hours: its event is its start
                elif b"json" in content_type or (b"html" in content_type and status >= 400):
                    response_chunks = []
            elif message["type"] == "http.response.body" and response_chunks is not None:
                if sum(map(len, response_chunks)) < MAX_CAPTURED_BYTES:
                    response_chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, observed_receive, observed_send)
        except BaseException:
            if not recorded:
                status = status or 500
                record()
            raise
        if not recorded:
            record()
