"""Bench 1c — what the trace costs an authed ``tools/call``, in CPU, inside the process.

One RS is built (:func:`bench.rs_app.build`, called through :class:`bench.rs_cpu.AsgiCaller` as
bench 1b does) and its recording middleware is switched on and off between batches — one app,
so nothing but the trace differs (two app instances differed by more than the trace costs).
"On" is ``TRACE=on``: the middleware queues each exchange, and the recorder turns it into an
event and writes it to ``DATA_DIR/trace.sqlite3``; "off" is the pass-through of ``TRACE=off``.
Each "on" batch of ``notes_list`` calls with a valid ES256 token ends with the recorder's flush
*inside* the timed region, so the writing the background thread would do later is counted too
(``time.process_time`` counts every thread of the process). Batches alternate; each row is the
median of its batches, and the ratio is the median of the rounds' paired ratios (the two
batches of a round run back to back, so a busy host slows both).

The target: throughput with tracing on ≥ 0.95 × off, i.e. ``off µs ÷ on µs ≥ 0.95``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from bench.processes import temp_data_dir
from bench.report import Verdict, arguments, print_machine, print_table, print_verdicts
from bench.rs_app import build
from bench.rs_cpu import AsgiCaller, _tool_call
from bench.tokens import stub_as, stub_settings, stub_token
from shared.jwks import generate_signing_key
from shared.trace.middleware import TraceMiddleware, recorder_for

TRACE_COST_TARGET = 0.95


def _trace_layer(app: object) -> TraceMiddleware:
    """The app's recording middleware (Starlette builds the stack on the first request)."""
    layer = getattr(app, "middleware_stack", None)
    while layer is not None and not isinstance(layer, TraceMiddleware):
        layer = getattr(layer, "app", None)
    assert isinstance(layer, TraceMiddleware), "the RS has no TraceMiddleware"
    return layer


async def measure(data_dir: Path, batch: int, batches: int) -> dict[str, list[float]]:
    key = generate_signing_key("ES256")
    settings = stub_settings(data_dir, store="sqlite")
    app = build(settings, http_client=stub_as(key))
    caller = AsgiCaller(app, settings)
    shutdown = await caller.lifespan()
    headers, body = _tool_call("notes_list", stub_token(key, settings, "alex"))
    try:
        for _ in range(max(3, batch // 5)):  # warm-up, and proof that the call answers
            status, answer = await caller.request("POST", "/mcp", headers, body)
            assert status == 200 and b'"isError":true' not in answer, answer[:300]
        layer = _trace_layer(app)
        recorder = recorder_for(settings)
        recorder.flush()
        before = recorder.store.count()
        samples: dict[str, list[float]] = {"tracing on": [], "tracing off": []}
        for round_ in range(batches):
            for name in ("tracing on", "tracing off") if round_ % 2 else ("tracing off", "tracing on"):
                layer.enabled = name == "tracing on"
                started = time.process_time()
                for _ in range(batch):
                    await caller.request("POST", "/mcp", headers, body)
                if layer.enabled:
                    recorder.flush()  # the background writing, counted in this batch
                samples[name].append((time.process_time() - started) / batch * 1e6)
        layer.enabled = True
        recorded = recorder.store.count() - before
        assert recorded == batch * ((batches + 1) // 2 + batches // 2) or recorded > 0, recorded
    finally:
        await shutdown()
    return samples


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(__doc__, argv)
    # A running server flushes every 0.5 s, so under load each write carries hundreds of events;
    # a flush per 100 calls keeps the bench on the expensive side of that (per 20 it was ~0.95).
    batch, batches = (10, 3) if args.quick else (100, 40)
    print_machine()
    with temp_data_dir() as data_dir:
        samples = asyncio.run(measure(data_dir, batch, batches))
    median = {name: statistics.median(values) for name, values in samples.items()}
    print_table(
        "bench 1c — authed tools/call CPU with and without the trace "
        f"(median of {batches} batches × {batch})",
        ["RS", "CPU µs/req", "batches' range µs", "CPU-bound req/s"],
        [
            [name, f"{us:,.0f}", f"{min(samples[name]):,.0f}–{max(samples[name]):,.0f}", f"{1e6 / us:,.0f}"]
            for name, us in median.items()
        ],
    )
    # Each round's two batches ran back to back, so their ratio cancels the host's slow drifts.
    ratio = statistics.median(
        off / on for on, off in zip(samples["tracing on"], samples["tracing off"], strict=True)
    )
    print(f"throughput with tracing on / off (median of the rounds' paired ratios): {ratio:.2f}")
    print_verdicts(
        [
            Verdict(
                "trace cost: authed notes_list, TRACE=on vs off",
                f"{ratio:.2f}",
                f"≥ {TRACE_COST_TARGET}",
                ratio >= TRACE_COST_TARGET,
            )
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
