"""Login throttling: a bound on password guessing.

After :attr:`LoginThrottle.max_failures` failed sign-ins within
:attr:`LoginThrottle.window_sec`, for one username *or* from one client IP, further
attempts are answered with HTTP 429 and ``Retry-After`` until the oldest failure leaves the
window — even with the right password, or the guessing would simply go on. Counting per
username stops a botnet spreading over many IPs; counting per IP stops one host trying many
usernames. The price of the first is that someone can lock ``alex`` out for five minutes;
for a demo that is the right trade. Behind a proxy every client has the proxy's IP; the
per-username limit still holds.

The failures are rows in the store (``Store.add_login_failures``), not process memory:
with several workers a guesser would otherwise get five tries per worker. Times are
wall-clock seconds, the clock all workers share. Every new failure also deletes the
failures older than the window, whatever their key, so the table holds at most the last
five minutes of failures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from auth_server.store import Store


class LoginThrottle:
    max_failures = 5
    window_sec = 300

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    async def retry_after(self, keys: Sequence[str]) -> int:
        """Seconds until another attempt is allowed for all ``keys``; 0 if allowed now."""
        now = self._clock()
        wait = 0.0
        for failures in (await self._store.login_failures(keys, now - self.window_sec)).values():
            if len(failures) >= self.max_failures:
                wait = max(wait, failures[-self.max_failures] + self.window_sec - now)
        return int(wait) + 1 if wait > 0 else 0

    async def record_failure(self, keys: Sequence[str]) -> None:
        now = self._clock()
        await self._store.add_login_failures(keys, now, forget_before=now - self.window_sec)

    async def reset(self, key: str) -> None:
        await self._store.clear_login_failures(key)
