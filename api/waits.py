"""`?minPosition=` waits that hold no thread.

A wait is a coroutine on the event loop: it sleeps until something may have moved the
read model (an event committed here or, through LISTEN/NOTIFY, anywhere; a read model
committing in this process) and then checks the position again, with a short backoff for
a runner in another process that commits a moment after the event's notification. Each
check is a brief call in a worker thread; between checks, no thread is held.

Each caller (the token's user) may hold `per_caller` waits at once; one more is refused
with 429, so a single client cannot pile up waits.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from anyio import to_thread

from projections.platform.wakeup import WakeHub

FIRST_RECHECK_SECONDS = 0.005
MAX_RECHECK_SECONDS = 0.1


class TooManyWaitsError(Exception):
    pass


class PositionWaits:
    def __init__(self, hubs: list[WakeHub], per_caller: int) -> None:
        self.per_caller = per_caller
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._lock = threading.Lock()
        self._by_caller: Counter[str] = Counter()
        for hub in hubs:
            hub.add_callback(self._wake)

    def _wake(self, *_: object) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    @contextmanager
    def _slot(self, caller: str) -> Iterator[None]:
        with self._lock:
            if self._by_caller[caller] >= self.per_caller:
                raise TooManyWaitsError(caller)
            self._by_caller[caller] += 1
        try:
            yield
        finally:
            with self._lock:
                self._by_caller[caller] -= 1
                if self._by_caller[caller] <= 0:
                    del self._by_caller[caller]

    async def wait(
        self, caller: str, position: Callable[[], int], target: int, timeout: float
    ) -> bool:
        """True once `position()` reaches `target`; False after `timeout` seconds."""
        if await to_thread.run_sync(position) >= target:
            return True
        deadline = time.monotonic() + timeout
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._slot(caller):
            with self._lock:
                self._waiters.add(entry)
            try:
                recheck = FIRST_RECHECK_SECONDS
                while (remaining := deadline - time.monotonic()) > 0:
                    woken = await _wait(event, min(recheck, remaining))
                    event.clear()
                    if await to_thread.run_sync(position) >= target:
                        return True
                    # Woken by an event that this read model has not applied yet: look
                    # again soon; idle, back off.
                    recheck = (
                        FIRST_RECHECK_SECONDS if woken else min(recheck * 2, MAX_RECHECK_SECONDS)
                    )
                return False
            finally:
                with self._lock:
                    self._waiters.discard(entry)


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), seconds)
        return True
    except TimeoutError:
        return False
