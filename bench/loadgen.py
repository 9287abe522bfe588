"""A small HTTP/1.1 load generator: asyncio, keep-alive connections, bounded in time and requests.

Run as its own process (``python -m bench.loadgen``) so it never shares a CPU core's time
slice with the server under test more than the OS decides. It reads one JSON job from stdin,
opens ``concurrency`` keep-alive connections to a 127.0.0.1 port, sends each connection's
``setup`` requests once (e.g. MCP ``initialize``), warms up for ``warmup_sec``, prints
``{"event": "warm"}`` so the parent can snapshot counters, then measures for ``duration_sec``
(or until ``max_requests`` were answered) and prints one JSON line with the results.

Why not httpx: at a few thousand requests per second httpx's per-request Python overhead
would compete with the server for the machine's two cores. This client writes pre-built
request bytes and parses only the status line and the body length — about 20 µs of CPU per
request — so the generator is not the bottleneck (the ``gen CPU`` column of
:mod:`bench.rs_throughput` shows how busy it was).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

LOOPBACK = "127.0.0.1"
SETUP_TIMEOUT_SEC = 60.0


@dataclass
class Job:
    port: int
    # One request template per connection slot (connection i uses requests[i % len(requests)]).
    requests: list[dict[str, Any]]
    concurrency: int = 1
    duration_sec: float = 5.0
    warmup_sec: float = 1.0
    max_requests: int = 0  # 0: bounded by duration only
    setup: list[list[dict[str, Any]]] = field(default_factory=list)  # per slot, sent once, unmeasured
    expect_status: int = 200


def build_request(
    port: int, method: str, path: str, headers: dict[str, str], body: str | bytes = b""
) -> bytes:
    """Raw HTTP/1.1 request bytes with Host, Content-Length and keep-alive."""
    payload = body.encode() if isinstance(body, str) else body
    lines = [f"{method} {path} HTTP/1.1", f"Host: {LOOPBACK}:{port}", "Connection: keep-alive"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if payload or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status code and body of one response (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = -1
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if length >= 0:
        return status, await reader.readexactly(length)
    if not chunked:
        return status, b""
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailer fields
            return status, bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


class _State:
    def __init__(self, job: Job) -> None:
        self.job = job
        self.measuring = False
        self.stop = False
        self.latencies: list[float] = []
        self.errors = 0
        self.error_sample = ""

    def record(self, seconds: float, status: int, body: bytes) -> None:
        if not self.measuring:
            return
        self.latencies.append(seconds)
        if status != self.job.expect_status:
            self.errors += 1
            self.error_sample = self.error_sample or f"HTTP {status}: {body[:200]!r}"
        if self.job.max_requests and len(self.latencies) >= self.job.max_requests:
            self.stop = True


def _raw(job: Job, spec: dict[str, Any]) -> bytes:
    return build_request(
        job.port, spec.get("method", "POST"), spec["path"], spec.get("headers", {}), spec.get("body", "")
    )


async def _client(slot: int, state: _State, set_up: asyncio.Queue[int], ready: asyncio.Event) -> None:
    job = state.job
    reader, writer = await asyncio.open_connection(LOOPBACK, job.port)
    try:
        for spec in job.setup[slot % len(job.setup)] if job.setup else []:
            writer.write(_raw(job, spec))
            status, body = await read_response(reader)
            if status >= 300:
                raise RuntimeError(f"setup request {spec['path']} got HTTP {status}: {body[:200]!r}")
        set_up.put_nowait(slot)
        await ready.wait()
        request = _raw(job, job.requests[slot % len(job.requests)])
        clock = time.perf_counter
        while not state.stop:
            started = clock()
            writer.write(request)
            status, body = await read_response(reader)
            state.record(clock() - started, status, body)
    finally:
        writer.close()


async def run(job: Job) -> dict[str, Any]:
    state = _State(job)
    ready = asyncio.Event()
    set_up: asyncio.Queue[int] = asyncio.Queue()
    clients = [asyncio.create_task(_client(slot, state, set_up, ready)) for slot in range(job.concurrency)]
    try:
        # Every connection finishes its setup (e.g. initialize) before warm-up starts.
        for _ in clients:
            getter = asyncio.ensure_future(set_up.get())
            await _sleep_unless_done([*clients, getter], SETUP_TIMEOUT_SEC, until=getter)
        ready.set()
        await _sleep_unless_done(clients, job.warmup_sec)
        print(json.dumps({"event": "warm"}), flush=True)
        state.measuring = True
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        deadline = started + job.duration_sec
        while not state.stop and time.perf_counter() < deadline:
            await _sleep_unless_done(clients, 0.02)
        state.stop = True
        elapsed = time.perf_counter() - started
        usage_after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        state.stop = True
        for task in clients:
            task.cancel()
        results = await asyncio.gather(*clients, return_exceptions=True)
    failures = [r for r in results if isinstance(r, Exception) and not isinstance(r, asyncio.CancelledError)]
    if failures:
        raise failures[0]
    cpu = (usage_after.ru_utime + usage_after.ru_stime) - (usage_before.ru_utime + usage_before.ru_stime)
    return {
        "event": "done",
        "count": len(state.latencies),
        "errors": state.errors,
        "error_sample": state.error_sample,
        "elapsed": elapsed,
        "cpu_sec": cpu,
        "latencies": state.latencies,
    }


async def _sleep_unless_done(
    tasks: list[asyncio.Future[Any]], seconds: float, *, until: asyncio.Future[Any] | None = None
) -> None:
    """Wait ``seconds`` (or until ``until`` is done); re-raise the first failure of a task."""
    done, _ = await asyncio.wait(
        tasks, timeout=seconds, return_when=asyncio.FIRST_COMPLETED if until else asyncio.FIRST_EXCEPTION
    )
    for task in done:
        if task is not until and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    if until is not None and not until.done():
        until.cancel()
        raise TimeoutError(f"a connection did not finish its setup within {seconds:g} s")


def main() -> None:
    job = Job(**json.loads(sys.stdin.read()))
    try:
        import uvloop  # installed with uvicorn[standard]; the plain loop works too, a little slower

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(run(job))
    # Hundreds of thousands of latencies make a line long enough to arrive split across pipe
    # reads; they travel in a file and only its path goes on the line.
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="loadgen-", delete=False) as file:
        json.dump(result.pop("latencies"), file)
    result["latencies_path"] = file.name
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
