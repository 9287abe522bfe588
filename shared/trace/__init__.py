"""The trace: what every client really did, recorded by both servers, shown by the AS.

* :mod:`shared.trace.events` — the event's fields, the flow steps and their RFC sections, fingerprints;
* :mod:`shared.trace.extract` — a captured exchange becomes an event (an allow-list: no secret);
* :mod:`shared.trace.store` — the bounded SQLite table in ``DATA_DIR`` and the background writer;
* :mod:`shared.trace.middleware` — the ASGI layer that captures exchanges without slowing them;
* :mod:`shared.trace.connections` and :mod:`shared.trace.diagnoses` — pure functions that group
  events into connections and name what went wrong;
* :mod:`shared.trace.views` — ``GET /trace`` and its JSON on the AS, behind ``TRACE_KEY``.
"""
