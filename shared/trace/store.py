"""Where trace events live: ``DATA_DIR/trace.sqlite3``, shared by both servers, bounded.

Both processes append to one SQLite file (WAL: the AS's ``/trace`` reads while the RS writes),
so the AS can show a connection's whole story although half of it happened at the RS. The table
keeps the newest ``TRACE_MAX_EVENTS`` events and none older than ``TRACE_MAX_AGE_SEC``; the
bound is applied after every batch, by whichever process wrote it.

A request never waits for SQLite. :class:`TraceRecorder` takes the raw exchange onto an
in-memory queue (a ``deque`` append) and a daemon thread, every :data:`FLUSH_INTERVAL_SEC`,
turns the queued exchanges into events (:func:`shared.trace.extract.to_event`), writes them in
one transaction and, with ``LOG_FORMAT=json``, prints each as one JSON line on stderr. The
queue is bounded too: under a flood the oldest unwritten exchanges are dropped, not the server.

With ``STORE=memory`` the events stay in the process's memory (each server then sees only its own).
"""

from __future__ import annotations

import atexit
import sqlite3
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from pydantic_core import from_json, to_json

from shared.settings import Settings
from shared.sqlite import open_database, open_memory_database

from .events import Event
from .extract import Exchange, to_event

TRACE_FILE = "trace.sqlite3"
FLUSH_INTERVAL_SEC = 0.5
MAX_QUEUED = 2_000  # × two captured bodies of at most 16 KiB: a flood costs tens of MB, not more
IDLE_EXIT_FLUSHES = 10  # the writer thread ends after 5 s without events and restarts on the next
SCHEMA = """
CREATE TABLE IF NOT EXISTS trace_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    server TEXT NOT NULL,
    client_id TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS trace_events_time ON trace_events (time);
"""


class TraceStore:
    """The bounded event table; every method is safe to call from any thread.

    On disk the connection is opened on first use and closed by :meth:`release` — by the writer
    when it goes idle, by a view after reading — so no process keeps descriptors open for a trace
    it is not writing (which matters to a test suite that builds hundreds of apps). In memory
    there is one connection for the store's life.
    """

    def __init__(
        self,
        conn: sqlite3.Connection | None = None,
        *,
        path: Path | None = None,
        max_events: int,
        max_age_sec: float,
    ) -> None:
        assert (conn is None) != (path is None), "a connection (memory) or a path (disk)"
        self._shared = conn
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self.max_events = max_events
        self.max_age_sec = max_age_sec

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._shared is not None:
                yield self._shared
                return
            if self._conn is None:
                assert self._path is not None
                self._conn = open_database(self._path, SCHEMA)
            yield self._conn

    def release(self) -> None:
        """Close the file until the next operation opens it again (a no-op in memory)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def add(self, events: list[Event]) -> None:
        """Append ``events`` in one transaction, then apply the bounds (the ``id`` is given on reading)."""
        if not events:
            return
        rows = [(event["time"], event["server"], event.get("client_id"), to_json(event)) for event in events]
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT INTO trace_events (time, server, client_id, data) VALUES (?, ?, ?, ?)", rows
                )
                conn.execute("DELETE FROM trace_events WHERE time < ?", (time.time() - self.max_age_sec,))
                conn.execute(
                    "DELETE FROM trace_events WHERE id <= (SELECT MAX(id) FROM trace_events) - ?",
                    (self.max_events,),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def events(self, since: float | None = None, limit: int = 5000) -> list[Event]:
        """Events newer than ``since`` (Unix seconds), oldest first, at most the newest ``limit``."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT id, data FROM (SELECT id, time, data FROM trace_events WHERE time > ? "
                "ORDER BY time DESC, id DESC LIMIT ?) ORDER BY time, id",
                (since if since is not None else -1.0, limit),
            ).fetchall()
        events = []
        for row in rows:
            event = from_json(row["data"])
            event["id"] = row["id"]
            events.append(event)
        return events

    def count(self) -> int:
        with self._connection() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM trace_events").fetchone()[0])

    def clear(self) -> None:
        with self._connection() as conn:
            conn.execute("DELETE FROM trace_events")

    def close(self) -> None:
        self.release()
        with self._lock:
            if self._shared is not None:
                self._shared.close()


def open_trace_store(settings: Settings) -> TraceStore:
    """The trace table for ``settings``: the shared file in ``DATA_DIR``, or memory with ``STORE=memory``."""
    bounds = {"max_events": settings.trace_max_events, "max_age_sec": settings.trace_max_age_sec}
    if settings.store == "memory":
        return TraceStore(open_memory_database(SCHEMA), **bounds)
    path = Path(settings.data_dir) / TRACE_FILE
    open_database(
        path, SCHEMA
    ).close()  # created now, with its owner-only mode, so a bad DATA_DIR shows early
    return TraceStore(path=path, **bounds)


class TraceRecorder:
    """Takes exchanges off the request path and writes them as events in the background."""

    def __init__(
        self,
        open_store: Callable[[], TraceStore],
        *,
        log_json: bool = False,
        log_stream: TextIO | None = None,
        interval_sec: float = FLUSH_INTERVAL_SEC,
    ) -> None:
        self._open_store = open_store
        self._store: TraceStore | None = None
        self._queue: deque[Exchange] = deque(maxlen=MAX_QUEUED)
        self._flush_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._atexit = False
        self._start_lock = threading.Lock()
        self.log_json = log_json
        self.log_stream = log_stream
        self.interval_sec = interval_sec

    @property
    def store(self) -> TraceStore:
        """The store, opened on first use (so building an app touches no disk)."""
        if self._store is None:
            with self._start_lock:
                if self._store is None:
                    self._store = self._open_store()
        return self._store

    def record(self, exchange: Exchange) -> None:
        """Queue ``exchange``; the only work a request does for the trace besides copying bytes."""
        with self._start_lock:  # uncontended almost always; pairs with the writer's exit below
            self._queue.append(exchange)
            if self._thread is None:
                if not self._atexit:
                    atexit.register(self.flush)
                    self._atexit = True
                self._thread = threading.Thread(target=self._run, name="trace-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        idle = 0
        while True:
            time.sleep(self.interval_sec)
            try:
                written = self.flush()
            except Exception as exc:  # a trace problem must never take a server down
                print(f"trace: could not write events: {exc}", file=sys.stderr, flush=True)
                written = []
            idle = 0 if written else idle + 1
            if idle >= IDLE_EXIT_FLUSHES:
                # A quiet server (or one of many apps a test suite builds) keeps no thread polling.
                with self._start_lock:
                    if not self._queue:
                        if self._store is not None:
                            self._store.release()
                        self._thread = None
                        return

    def flush(self) -> list[Event]:
        """Write every queued exchange now; returns the events written (views call this before reading)."""
        with self._flush_lock:
            events: list[Event] = []
            while self._queue:
                exchange = self._queue.popleft()
                try:
                    events.append(to_event(exchange))
                except Exception as exc:  # one odd request must not lose the others
                    print(f"trace: skipped an exchange ({type(exc).__name__})", file=sys.stderr, flush=True)
            if not events:
                return events
            self.store.add(events)
            if self.log_json:
                stream = self.log_stream or sys.stderr
                for event in events:
                    stream.write(to_json({"trace": event}).decode() + "\n")
                stream.flush()
            return events
