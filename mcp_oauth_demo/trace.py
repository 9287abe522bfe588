"""``mcp-oauth-demo trace``: print what clients did, from the trace both servers record.

Reads ``DATA_DIR/trace.sqlite3`` (the same events ``GET /trace`` shows, so it needs no key:
whoever can read ``DATA_DIR`` can read the trace). Each exchange is one line — time, server,
client, request, status, error — grouped by client connection, and each connection ends with
its diagnoses: the named cause and the fix.

``--follow`` keeps printing new exchanges as they happen (Ctrl-C stops); ``--since SECONDS``
shows only the last SECONDS. Tracing is off when the servers run with ``TRACE=off``.
"""

from __future__ import annotations

import argparse
import re
import time
from datetime import UTC, datetime
from typing import TextIO

from mcp_oauth_demo.console import Console
from shared.settings import ConfigError, load_settings
from shared.trace.connections import connections
from shared.trace.diagnoses import diagnose
from shared.trace.events import Event, describe
from shared.trace.store import TraceStore, open_trace_store

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
FOLLOW_INTERVAL_SEC = 0.5
# Events of the two servers reach the file up to one flush apart; a look back catches late ones.
FOLLOW_LOOKBACK_SEC = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new exchanges")
    parser.add_argument("--since", type=float, default=None, metavar="SECONDS", help="only the last SECONDS")


def _clock(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M:%S.%f")[:-3]


def printable(text: str) -> str:
    """``text`` without control characters: a User-Agent must not drive the terminal (ANSI escapes)."""
    return _CONTROL.sub("?", text)


def line(event: Event) -> str:
    client = event.get("client") or event.get("client_id") or "?"
    return printable(f"{_clock(event['time'])}  {describe(event)}  ({event['step']}; {client})")


def print_connections(events: list[Event], console: Console, now: float) -> None:
    for connection in connections(events):
        name = f"{connection.client_name} — " if connection.client_name else ""
        console.line(console.bold(printable(f"{name}{connection.client}")))
        for event in connection.events:
            text = line(event)
            console.line("  " + (console.red(text) if event["status"] >= 400 or event.get("error") else text))
        found = diagnose(connection.events, now)
        if not found:
            console.ok("no problem found")
        for diagnosis in found:
            console.fail(
                printable(f"{diagnosis.title}: {diagnosis.detail}"), f"{diagnosis.fix} ({diagnosis.rfc})"
            )
        console.line()


def follow(store: TraceStore, stream: TextIO, since: float | None) -> None:
    seen: set[int] = set()
    cursor = since
    while True:
        for event in store.events(since=cursor):
            if event["id"] not in seen:
                seen.add(event["id"])
                print(line(event), file=stream, flush=True)
        newest = max((event["time"] for event in store.events(since=cursor, limit=1)), default=None)
        if newest is not None:
            cursor = newest - FOLLOW_LOOKBACK_SEC
        time.sleep(FOLLOW_INTERVAL_SEC)


def run(args: argparse.Namespace, stream: TextIO | None = None) -> int:
    console = Console(stream)
    try:
        settings = load_settings()
    except ConfigError as exc:
        console.fail(f"configuration error: {exc}")
        return 2
    if settings.store == "memory":
        console.fail(
            "STORE=memory keeps the trace in each server's memory; open GET /trace on the AS instead"
        )
        return 2
    store = open_trace_store(settings)
    since = time.time() - args.since if args.since is not None else None
    try:
        if args.follow:
            follow(store, console.stream, since)
        else:
            events = store.events(since=since)
            if not events:
                console.line(f"no exchanges recorded in {settings.data_dir} yet (is TRACE=off?)")
            print_connections(events, console, time.time())
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    return 0
