"""Bench 1b — what one request costs the RS in CPU, measured inside the process (no network).

Bench 1 measures over real sockets, which is what a client sees, but on a shared or throttled
machine its req/s move with every stall of the host. This bench takes the host out: it builds
the shipped app (:func:`bench.rs_app.build`, the RS plus the ceiling route), runs its lifespan,
and calls it as an ASGI application in a loop — the same middleware, token verifier, MCP SDK
and SQLite store, minus uvicorn's socket work. The number is **CPU µs per request**
(``time.process_time``), so a moment the machine spends elsewhere barely moves it.

For a CPU-bound server, throughput is the inverse of CPU per request, so
``anonymous µs ÷ authed µs`` is the throughput ratio the auth-cost target asks about, with the
network and the host's noise taken out. Endpoints are measured in interleaved batches and each
row is the median of its batches:

* ``ceiling``: the bare Starlette JSON route;
* ``auth_show (anon)``: ``tools/call auth_show`` without a token;
* ``notes_list (authed)``: ``tools/call notes_list`` with a valid ES256 token, as every call
  after a client's first one is served (the token is in the verified-token cache);
* ``notes_list (authed, first sight)``: the same with the verified-token cache turned off, so
  every call checks the signature — what each call cost before the cache, and what a
  client's first call with a new token still costs;
* ``notes_list (authed, no notes)``: a user without notes, so the tool returns an empty list:
  the authed path with almost no tool work, which isolates what auth itself costs (the other
  ``notes_list`` rows carry three notes each, read, validated and serialised).

The AS is a stub (``httpx.MockTransport``) that serves the metadata and the JWK Set once.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message

from bench.common import (
    MCP_HEADERS,
    Verdict,
    arguments,
    print_machine,
    print_table,
    print_verdicts,
    stub_as,
    stub_settings,
    stub_token,
    temp_data_dir,
)
from bench.rs_app import build
from resource_server.verified_tokens import VerifiedTokenCache
from shared.jwks import generate_signing_key
from shared.settings import Settings

AUTH_COST_TARGET = 0.95
SEEDED_NOTES = 3


class AsgiCaller:
    """Calls an ASGI app the way uvicorn does, one complete HTTP request at a time."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.host = f"{settings.rs_host}:{settings.rs_port}".encode()

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", self.host)]
            + [(name.lower().encode(), value.encode()) for name, value in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 3000),
        }
        delivered = False
        disconnected = asyncio.Event()
        status = 0
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnected.wait()  # a client that stays connected until the answer is complete
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        disconnected.set()
        return status, b"".join(chunks)

    async def lifespan(self) -> Callable[[], Awaitable[None]]:
        """Run the app's startup; returns the coroutine function that runs its shutdown."""
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        outbox: asyncio.Queue[Message] = asyncio.Queue()
        task = asyncio.create_task(
            self.app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put)  # type: ignore[arg-type]
        )
        await inbox.put({"type": "lifespan.startup"})
        started = await outbox.get()
        if started["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the app did not start: {started}")

        async def shutdown() -> None:
            await inbox.put({"type": "lifespan.shutdown"})
            await outbox.get()
            await task

        return shutdown


def _tool_call(name: str, token: str | None, arguments: dict[str, Any] | None = None) -> tuple[dict, bytes]:
    headers = dict(MCP_HEADERS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments or {}},
    }
    return headers, json.dumps(body).encode()


async def measure(data_dir: Path, batch: int, batches: int) -> dict[str, list[float]]:
    settings = stub_settings(data_dir, store="sqlite")
    key = generate_signing_key("ES256")
    token, newcomer = stub_token(key, settings, "alex"), stub_token(key, settings, "newcomer")
    app = build(settings, http_client=stub_as(key))
    caller = AsgiCaller(app, settings)
    shutdown = await caller.lifespan()
    verifier = app.state.verifier
    try:
        for i in range(SEEDED_NOTES):
            status, answer = await caller.request(
                "POST", "/mcp", *_tool_call("notes_add", token, {"text": f"benchmark note {i}"})
            )
            assert status == 200 and b'"isError":false' in answer, answer[:300]

        anon_headers, anon_body = _tool_call("auth_show", None)
        authed_headers, authed_body = _tool_call("notes_list", token)
        empty_headers, empty_body = _tool_call("notes_list", newcomer)
        remembering = verifier.cache
        forgetting = VerifiedTokenCache(max_entries=0)

        async def ceiling() -> tuple[int, bytes]:
            return await caller.request("GET", "/bench/ceiling", {"Accept": "application/json"})

        async def anon() -> tuple[int, bytes]:
            return await caller.request("POST", "/mcp", anon_headers, anon_body)

        async def authed() -> tuple[int, bytes]:
            verifier.cache = remembering
            return await caller.request("POST", "/mcp", authed_headers, authed_body)

        async def first_sight() -> tuple[int, bytes]:
            verifier.cache = forgetting
            return await caller.request("POST", "/mcp", authed_headers, authed_body)

        async def no_notes() -> tuple[int, bytes]:
            verifier.cache = remembering
            return await caller.request("POST", "/mcp", empty_headers, empty_body)

        endpoints: dict[str, Callable[[], Awaitable[tuple[int, bytes]]]] = {
            "ceiling": ceiling,
            "auth_show (anon)": anon,
            "notes_list (authed)": authed,
            "notes_list (authed, first sight)": first_sight,
            "notes_list (authed, no notes)": no_notes,
        }
        for name, call in endpoints.items():  # warm-up, and proof that each one answers correctly
            for _ in range(max(3, batch // 10)):
                status, answer = await call()
                assert status == 200 and b'"isError":true' not in answer, (name, answer[:300])
        samples: dict[str, list[float]] = {name: [] for name in endpoints}
        names = list(endpoints)
        for round_ in range(batches):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                started = time.process_time()
                for _ in range(batch):
                    await endpoints[name]()
                samples[name].append((time.process_time() - started) / batch * 1e6)
        verifier.cache = remembering
    finally:
        await shutdown()
    return samples


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(__doc__, argv)
    # Small batches, many of them: on a host that stalls, a stall spoils a batch, and the median
    # of many ~20 ms batches is the cost when the machine runs normally.
    batch, batches = (10, 3) if args.quick else (25, 60)
    print_machine()
    with temp_data_dir() as data_dir:
        samples = asyncio.run(measure(data_dir, batch, batches))
    median = {name: statistics.median(values) for name, values in samples.items()}
    ceiling = median["ceiling"]
    anon = median["auth_show (anon)"]
    print_table(
        f"bench 1b — RS CPU per request, in process (median of {batches} interleaved batches × {batch})",
        ["endpoint", "CPU µs/req", "batches' range µs", "× ceiling", "CPU-bound req/s"],
        [
            [
                name,
                f"{us:,.0f}",
                f"{min(samples[name]):,.0f}–{max(samples[name]):,.0f}",
                f"{us / ceiling:.1f}",
                f"{1e6 / us:,.0f}",
            ]
            for name, us in median.items()
        ],
    )
    cached_ratio = anon / median["notes_list (authed)"]
    first_ratio = anon / median["notes_list (authed, first sight)"]
    auth_alone = anon / median["notes_list (authed, no notes)"]
    print(
        f"authed/anon throughput of a CPU-bound RS: {cached_ratio:.2f} with the verified-token cache, "
        f"{first_ratio:.2f} when every call checks the signature, {auth_alone:.2f} for a user with no notes "
        "(auth alone, almost no tool work)"
    )
    print_verdicts(
        [
            Verdict(
                "auth cost by CPU: notes_list (authed) vs auth_show (anon)",
                f"{cached_ratio:.2f}",
                f"≥ {AUTH_COST_TARGET}",
                cached_ratio >= AUTH_COST_TARGET,
            )
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
