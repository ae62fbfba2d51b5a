"""The injected clock and id source: the only ways domain code learns time or new ids."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to: for tests and deterministic replays."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now = self._now + timedelta(seconds=seconds)
            return self._now

    def set(self, at: datetime) -> None:
        with self._lock:
            self._now = at


class IdSource(Protocol):
    def new_id(self) -> uuid.UUID: ...


class RandomIds:
    """Random version-4 UUIDs."""

    def new_id(self) -> uuid.UUID:
        return uuid.uuid4()


class SequentialIds:
    """Predictable ids for tests: 00000000-0000-4000-8000-000000000001, ..."""

    def __init__(self, start: int = 1) -> None:
        self._next = start
        self._lock = threading.Lock()

    def new_id(self) -> uuid.UUID:
        with self._lock:
            n = self._next
            self._next += 1
        return uuid.UUID(f"00000000-0000-4000-8000-{n:012x}")
