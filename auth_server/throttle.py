"""Login throttling: a bound on password guessing.

After :attr:`LoginThrottle.max_failures` failed sign-ins within
:attr:`LoginThrottle.window_sec`, for one username *or* from one client IP, further
attempts are answered with HTTP 429 and ``Retry-After`` until the oldest failure leaves the
window — even with the right password, or the guessing would simply go on. Counting per
username stops a botnet spreading over many IPs; counting per IP stops one host trying many
usernames. The price of the first is that someone can lock ``alex`` out for five minutes;
for a demo that is the right trade. Behind a proxy every client has the proxy's IP; the
per-username limit still holds. State is in process memory.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable


class LoginThrottle:
    max_failures = 5
    window_sec = 300
    max_keys = 50_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window_sec:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures

    def retry_after(self, keys: Iterable[str]) -> int:
        """Seconds until another attempt is allowed for all ``keys``; 0 if allowed now."""
        now = self._clock()
        wait = 0.0
        for key in keys:
            failures = self._recent(key, now)
            if len(failures) >= self.max_failures:
                wait = max(wait, failures[-self.max_failures] + self.window_sec - now)
        return int(wait) + 1 if wait > 0 else 0

    def record_failure(self, keys: Iterable[str]) -> None:
        now = self._clock()
        if len(self._failures) > self.max_keys:  # forget the stalest keys rather than grow without bound
            for key in list(self._failures)[: self.max_keys // 10]:
                del self._failures[key]
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def reset(self, key: str) -> None:
        self._failures.pop(key, None)
