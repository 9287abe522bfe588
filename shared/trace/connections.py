"""From a flat list of events to connections: whose is each event, and which belong together.

Only some exchanges name their client: the authorization request and token request carry
``client_id``, a registration answers with one, an access token names it in its claims.
The rest are linked to those:

1. by fingerprint — the login and consent pages share the pending request's fingerprint with
   the authorization request, the consent's redirect carries the code the token request
   redeems, the RS sees the bearer the token response issued;
2. by address and User-Agent — a client's first steps (the MCP call that gets the 401, the PRM
   and AS metadata fetches) come from where its later, identified steps come from; the nearest
   identified event in time with the same ``remote`` and ``user_agent`` wins.

What remains is grouped by address. A connection is one client's events with no
pause longer than :data:`CONNECTION_GAP_SEC`. Everything here is a pure function of the events.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from .events import Event

CONNECTION_GAP_SEC = 30 * 60


@dataclass
class Connection:
    """One client's run of events, oldest first."""

    client: str  # its client_id, or "unidentified client from <address>" when it never named one
    client_name: str | None
    events: list[Event] = field(default_factory=list)

    @property
    def started(self) -> float:
        return self.events[0]["time"]

    @property
    def ended(self) -> float:
        return self.events[-1]["time"]


def _link_owners(events: list[Event]) -> dict[str, str]:
    owners: dict[str, str] = {}
    for event in events:
        client_id = event.get("client_id")
        if not client_id:
            continue
        # The RS's bearer and the AS's issued access token are one secret under two names, so
        # fingerprints are matched by value, whatever link kind carried them.
        for value in (event.get("links") or {}).values():
            owners.setdefault(value, client_id)
    return owners


def attribute(events: list[Event]) -> dict[int, str]:
    """``client`` of each event (by position): its own client_id, a linked one, or its address."""
    clients: dict[int, str] = {
        index: event["client_id"] for index, event in enumerate(events) if event.get("client_id")
    }
    for _ in range(3):  # request -> consent -> code -> token -> bearer: a few hops at most
        owners = _link_owners(
            [{**event, "client_id": clients.get(index)} for index, event in enumerate(events)]
        )
        for index, event in enumerate(events):
            if index in clients:
                continue
            for value in (event.get("links") or {}).values():
                if value in owners:
                    clients[index] = owners[value]
                    break
    by_origin: dict[tuple[str | None, str | None], list[tuple[float, str]]] = {}
    for index, event in enumerate(events):
        if index in clients:
            by_origin.setdefault((event.get("remote"), event.get("user_agent")), []).append(
                (event["time"], clients[index])
            )
    for points in by_origin.values():
        points.sort()
    for index, event in enumerate(events):
        if index in clients:
            continue
        origin = (event.get("remote"), event.get("user_agent"))
        points = by_origin.get(origin)
        if points:
            times = [point[0] for point in points]
            at = bisect_left(times, event["time"])
            nearby = [points[i] for i in (at - 1, at) if 0 <= i < len(points)]
            nearest = min(nearby, key=lambda point: abs(point[0] - event["time"]))
            if abs(nearest[0] - event["time"]) <= CONNECTION_GAP_SEC:
                clients[index] = nearest[1]
                continue
        # Unidentified: grouped by address alone, since a client's own requests do not always share
        # one User-Agent (the mcp SDK's OAuth requests carry none, its MCP requests do).
        clients[index] = f"unidentified client from {event.get('remote') or '?'}"
    return clients


def connections(events: list[Event]) -> list[Connection]:
    """``events`` grouped into connections, ordered by when each started."""
    ordered = sorted(events, key=lambda event: (event["time"], event.get("id") or 0))
    clients = attribute(ordered)
    names: dict[str, str] = {}
    for index, event in enumerate(ordered):
        if event.get("client_name"):
            names.setdefault(clients[index], event["client_name"])
    open_by_client: dict[str, Connection] = {}
    result: list[Connection] = []
    for index, event in enumerate(ordered):
        client = clients[index]
        current = open_by_client.get(client)
        if current is None or event["time"] - current.ended > CONNECTION_GAP_SEC:
            current = open_by_client[client] = Connection(client, names.get(client))
            result.append(current)
        current.events.append({**event, "client": client})
    return result
