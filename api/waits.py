"""`?minPosition=` waits that hold no thread.

A wait is a coroutine on the event loop: it sleeps until something may have moved the
read model (an event committed here or, through LISTEN/NOTIFY, anywhere; a read model
committing in this process) and then checks the position again, with a few quick looks
after each wake for a runner in another process that commits a moment after the event's
notification, and one look a second when nothing wakes it. A check is a brief call in a
worker thread, shared by every waiter on that read model; between checks, no thread is
held.

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
MAX_RECHECK_SECONDS = 0.08
IDLE_RECHECK_SECONDS = 1.0  # the safety net when nothing wakes a wait
FRESH_SECONDS = 0.002  # a position read serves every waiter for this long


class TooManyWaitsError(Exception):
    pass


class PositionWaits:
    def __init__(self, hubs: list[WakeHub], per_caller: int) -> None:
        self.per_caller = per_caller
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._lock = threading.Lock()
        self._by_caller: Counter[str] = Counter()
        self._positions: dict[str, tuple[int, float]] = {}
        self._reads: dict[str, asyncio.Lock] = {}
        for hub in hubs:
            hub.add_callback(self._wake)

    @property
    def open(self) -> int:
        """Waits holding a slot now (for metrics and tests)."""
        with self._lock:
            return sum(self._by_caller.values())

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

    async def _position(self, name: str, read: Callable[[], int]) -> int:
        """A read model's position, read at most once per FRESH_SECONDS however many
        waiters ask: one query serves them all."""
        lock = self._reads.setdefault(name, asyncio.Lock())
        async with lock:
            value, at = self._positions.get(name, (-1, 0.0))
            if time.monotonic() - at > FRESH_SECONDS:
                value = await to_thread.run_sync(read)
                self._positions[name] = (value, time.monotonic())
            return value

    async def wait(
        self, caller: str, name: str, read: Callable[[], int], target: int, timeout: float
    ) -> bool:
        """True once read model `name` (its position read by `read`) reaches `target`;
        False after `timeout` seconds."""
        if await self._position(name, read) >= target:
            return True
        deadline = time.monotonic() + timeout
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._slot(caller):
            with self._lock:
                self._waiters.add(entry)
            try:
                recheck: float | None = None
                while (remaining := deadline - time.monotonic()) > 0:
                    woken = await _wait(event, min(remaining, recheck or IDLE_RECHECK_SECONDS))
                    event.clear()
                    if await self._position(name, read) >= target:
                        return True
                    # A wake means an event was committed; a runner elsewhere applies it a
                    # moment later: follow a wake with a few quick looks, then rest.
                    if woken:
                        recheck = FIRST_RECHECK_SECONDS
                    elif recheck is not None:
                        recheck = recheck * 2 if recheck < MAX_RECHECK_SECONDS else None
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
