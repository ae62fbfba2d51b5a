"""The newest stretch of the log, read and decoded once per process for every runner that
follows it (decision 0036).

A process runs a dozen projection runners. Following the log, each used to answer every
wake-up with its own round trips: the head, then its page of the new events, decoded
again for itself. The tail reads the head once per wake-up (`head`), and the new events
once, of the topics some runner folds, decoded once (`events`); each runner takes the
ones of its topics.
Catching up from far behind does not go through the tail: it reads its own big pages.

The window holds the events of positions (start, end] of the topics its runners fold
(`follow`), contiguous: a read extends it from `end` to a head, so any range inside it is
known whole for those topics, including where a runner's topics have no event.

Events are shared between runners, so folds must not change them (the library's events
are frozen dataclasses).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from domain.shared.eventlog import EventLog

# Positions kept behind the newest: a runner lagging further reads for itself.
KEEP = 4000
# A head read is reused by the runners woken by the same poke, and by none once this old
# (a runner woken by its once-a-second poll, not by a poke, reads the head afresh).
HEAD_REUSE_SECONDS = 0.25


class LogTail:
    def __init__(self, log: EventLog, keep: int = KEEP) -> None:
        self.log = log
        self.keep = keep
        self._lock = threading.Lock()
        self._pokes = 0
        self._head: tuple[int, int, float] | None = None  # (pokes when read, head, when)
        self._start = 0  # the window holds the events of (start, end]
        self._end = 0
        self._events: list[tuple[int, str, Any]] = []  # (position, topic, event)
        self.reads = 0  # database reads of events, for tests and figures
        self.head_reads = 0
        self.decoded = 0
        # The topics some follower folds (None: every topic): the window holds only
        # these, so events no runner folds (outbox attempts, idempotency records...)
        # are neither read nor decoded.
        self._topics: set[str] | None = set()

    def follow(self, topics: frozenset[str] | None) -> None:
        """A runner of these topics (None: of every topic) takes its events from here.
        New topics empty the window: it was read without them."""
        with self._lock:
            if self._topics is None or (topics is not None and topics <= self._topics):
                return
            self._topics = None if topics is None else self._topics | topics
            self._events, self._start, self._end = [], 0, 0

    def poke(self, *_: Any) -> None:
        """An event was committed: the next `head` reads the database."""
        with self._lock:
            self._pokes += 1

    def head(self) -> int:
        """The head of the log, read once for every runner the same poke woke."""
        with self._lock:
            pokes = self._pokes
            cached = self._head
            if (
                cached is not None
                and cached[0] == pokes
                and time.monotonic() - cached[2] < HEAD_REUSE_SECONDS
            ):
                return cached[1]
            head = self.log.head()
            self.head_reads += 1
            self._head = (pokes, head, time.monotonic())
            return head

    def events(
        self, after: int, head: int, topics: frozenset[str] | None
    ) -> list[tuple[int, Any]] | None:
        """The events of `topics` (None: of every topic) at positions (after, head], oldest
        first; None when that range starts before the window (the runner reads its own
        pages)."""
        if head - after > self.keep:
            return None
        with self._lock:
            if self._topics is not None and (topics is None or not topics <= self._topics):
                return None  # a runner that did not `follow`: not what the window holds
            if not self._events and self._end == 0:
                self._start = self._end = after
            if after < self._start:
                return None
            if head > self._end:
                self._extend(head)
            return [
                (position, event)
                for position, topic, event in self._events
                if after < position <= head and (topics is None or topic in topics)
            ]

    def _extend(self, head: int) -> None:
        """Read and decode (end, head] once; drop what fell behind `keep`."""
        fresh: list[tuple[int, str, Any]] = []
        end = self._end
        topics = () if self._topics is None else sorted(self._topics)
        while end < head:
            page = self.log.read(end, self.keep, stop=head, topics=topics)
            self.reads += 1
            if not page:
                break
            fresh.extend((n.id, n.topic, self.log.decode(n)) for n in page)
            self.decoded += len(page)
            end = page[-1].id
            if len(page) < self.keep:
                break
        self._events.extend(fresh)
        self._end = head
        floor = head - self.keep
        if self._start < floor:
            self._events = [e for e in self._events if e[0] > floor]
            self._start = floor
