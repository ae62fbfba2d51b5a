"""The projection runner: reads the log in batches and applies each event exactly once.

A batch is: read up to `batch_size` notifications of the projection's topics after its
tracked position (and at most up to the head seen at the start), fold them into rows, then
write the rows and the new position in one transaction. The library's stock
ProjectionRunner commits once per event; batching is what makes catch-up fast.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Notification

from domain.shared.eventlog import EventLog
from projections.platform.projection import Batch, Projection
from projections.platform.store import Changes, FoldStore, ReadStore, TrackingConflictError
from projections.platform.tail import LogTail

log = logging.getLogger(__name__)

CATCH_UP_BATCH_SIZE = 2000
# Following the log, a runner that the newest events do not concern moves its tracking row
# lazily (decision 0037): once nothing new has come for this long, or once it is this many
# positions behind what it knows.
QUIET_FLUSH_SECONDS = 0.05
QUIET_FLUSH_SPAN = 1000


@dataclass(frozen=True)
class Status:
    name: str
    position: int
    head_position: int

    @property
    def lag(self) -> int:
        return max(0, self.head_position - self.position)


class ProjectionRunner:
    def __init__(
        self,
        projection: Projection,
        event_log: EventLog,
        store: FoldStore,
        batch_size: int = 500,
    ) -> None:
        self.projection = projection
        self.log = event_log
        self.store = store
        self.batch_size = batch_size
        self.topics = projection.topics()
        self._topic_set = frozenset(self.topics) or None  # None: every topic
        # Following the log: the process's shared head and newest events (tail.py).
        self.tail: LogTail | None = None
        # Told after each catch-up that moved the position (e.g. `?minPosition=` waits).
        self.on_commit: Callable[[], None] | None = None
        # Catching up from far behind reads bigger pages: fewer round trips and commits
        # (measured 21.8k -> 24.3k events/s over 100k events, docs/performance.md).
        self.catch_up_batch_size = max(batch_size, CATCH_UP_BATCH_SIZE)
        # Long-lived threads for catch_up: one commits batch N while the main thread
        # decodes and folds batch N+1, and one reads page N+2 meanwhile (database I/O,
        # which releases the GIL: the database works on the other core).
        self._committer = ThreadPoolExecutor(1, thread_name_prefix=f"commit-{projection.name}")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix=f"read-{projection.name}")
        # (stored, known): the tracking row says `stored`, and no event of ours lies in
        # (stored, known]: the read model is current up to `known`, not yet written down.
        self._quiet: tuple[int, int] | None = None
        self.quiet_flush_seconds = QUIET_FLUSH_SECONDS
        self.quiet_flush_span = QUIET_FLUSH_SPAN
        store.create(projection.name, projection.tables, projection.sorted_by)

    @property
    def name(self) -> str:
        return self.projection.name

    def follow(self, tail: LogTail) -> None:
        """Follow the log through the process's shared tail (tail.py)."""
        tail.follow(self._topic_set)
        self.tail = tail

    def status(self) -> Status:
        return Status(self.name, self.current(), self.log.head())

    def current(self) -> int:
        """The position the read model is current up to, as far as this runner knows: its
        tracking row's, or further where the events since concern none of its topics."""
        stored = self.store.position(self.name)
        quiet = self._quiet
        return quiet[1] if quiet is not None and quiet[0] == stored else stored

    def _read(self, start: int, head: int, size: int) -> tuple[int, Sequence[Notification]]:
        """The next page of our notifications after `start`, and where it ends."""
        notifications = self.log.read(start, size, stop=head, topics=self.topics)
        # A short page means nothing of ours lies between its end and the head.
        end = notifications[-1].id if len(notifications) == size else head
        return end, notifications

    def _decode(self, notifications: Sequence[Notification]) -> list[tuple[int, Any]]:
        decode = self.log.decode
        return [(n.id, decode(n)) for n in notifications]

    def _page(
        self, start: int, head: int, size: int | None = None
    ) -> tuple[int, list[tuple[int, Any]]]:
        """The next page of our events after `start`, decoded, and where it ends."""
        end, notifications = self._read(start, head, size or self.batch_size)
        return end, self._decode(notifications)

    def _fold(self, events: list[tuple[int, Any]]) -> Batch:
        batch = Batch(self.store)
        self.projection.prepare(batch, [e for _, e in events])
        for position, event in events:
            self.projection.apply(batch, event, position)
        return batch

    def run_batch(self, head: int | None = None) -> int:
        """Apply one batch; returns how many positions the tracking row moved."""
        start = self.store.position(self.name)
        head = self.log.head() if head is None else head
        if start >= head:
            return 0
        end, events = self._page(start, head)
        self.store.commit(self.name, start, end, self._fold(events).changes)
        return end - start

    def catch_up(
        self,
        stop: threading.Event | None = None,
        progress: Callable[[int, int], None] | None = None,
        lazy: bool = False,
    ) -> int:
        """Run batches until the head seen at the start is reached (or `stop` is set);
        `progress(position, head)` is told after each page. Returns how many positions the
        tracking row moved.

        `lazy` (following the log through the tail): when the new events concern none of
        this read model's topics, nothing is written; the runner remembers how far it is
        current (`current`) and writes it down later (`flush`).

        Three stages overlap: a reader thread reads page N+2 from the database while this
        thread decodes and folds page N+1 and a committer thread commits batch N. Folding
        waits for the previous commit, so every fold sees committed rows, exactly as one
        batch at a time would."""
        head = self.tail.head() if self.tail is not None else self.log.head()
        if lazy and self._quiet_through(head):
            return 0
        position = start = self.store.position(self.name)
        if self.tail is not None and position < head:
            events = self.tail.events(position, head, self._topic_set)
            if events is not None:  # within the tail: one batch from the shared events
                if lazy and not events and head - position <= self.quiet_flush_span:
                    self._quiet = (position, head)
                    return 0
                self._quiet = None
                self.store.commit(self.name, position, head, self._fold(events).changes)
                if progress is not None:
                    progress(head, head)
                return head - position
        self._quiet = None
        size = self.catch_up_batch_size
        pending: Future[None] | None = None
        page: Future[tuple[int, Sequence[Notification]]] | None = None
        try:
            if position < head:
                page = self._reader.submit(self._read, position, head, size)
            while page is not None and not (stop is not None and stop.is_set()):
                end, notifications = page.result()
                # Read the page after this one while this one is decoded and folded.
                page = self._reader.submit(self._read, end, head, size) if end < head else None
                events = self._decode(notifications)
                if pending is not None:
                    pending.result()
                    pending = None
                changes = self._fold(events).changes
                if end >= head:  # the last page: nothing left to overlap with
                    self.store.commit(self.name, position, end, changes)
                else:
                    pending = self._committer.submit(
                        self.store.commit, self.name, position, end, changes
                    )
                if progress is not None:
                    progress(position, head)
                position = end
        finally:
            if page is not None:
                with contextlib.suppress(Exception):  # a page read ahead, not wanted now
                    page.result()
            if pending is not None:
                pending.result()
        if progress is not None:
            progress(position, head)
        return position - start

    def _quiet_through(self, head: int) -> bool:
        """Whether the runner already knows it is current up to `head`, or the tail shows
        that the events since concern none of its topics (then it knows it now)."""
        quiet = self._quiet
        if quiet is None or self.tail is None:
            return False
        stored, known = quiet
        if head <= known:
            return True
        if head - stored > self.quiet_flush_span:
            return False  # far enough: the next batch writes it down
        events = self.tail.events(known, head, self._topic_set)
        if events is None or events:
            return False
        self._quiet = (stored, head)
        return True

    def flush(self) -> int:
        """Write down how far the read model is current (`catch_up(lazy=True)`); returns
        how many positions the tracking row moved."""
        quiet, self._quiet = self._quiet, None
        if quiet is None:
            return 0
        stored, known = quiet
        self.store.commit(self.name, stored, known, Changes())
        return known - stored

    def fold_range(self, start: int, stop: int) -> tuple[int, Changes]:
        """Fold every event of ours in (start, stop] into one batch, uncommitted: the
        rows to write and the position they bring the read model to."""
        changes = Changes()
        position = start
        batch: Batch | None = None
        while position < stop:
            end, events = self._page(position, stop, self.catch_up_batch_size)
            if batch is None:
                batch = Batch(self.store)
            self.projection.prepare(batch, [e for _, e in events])
            for at, event in events:
                self.projection.apply(batch, event, at)
            position = end
        if batch is not None:
            changes = batch.changes
        return max(position, start), changes

    def close(self) -> None:
        self._committer.shutdown(wait=True)
        self._reader.shutdown(wait=True)

    def run_forever(
        self, wake: threading.Event, stop: threading.Event, poll_seconds: float = 1.0
    ) -> None:
        """Follow the log until `stop` is set. Gives way to a runner elsewhere that holds
        this projection's election, and survives any error by retrying after a pause."""
        while not stop.is_set():
            try:
                with self.store.elect(self.name) as elected:
                    if not elected:
                        stop.wait(poll_seconds)
                        continue
                    self._follow(wake, stop, poll_seconds)
            except Exception:
                log.exception("%s: election failed; retrying", self.name)
                stop.wait(poll_seconds)

    def _follow(self, wake: threading.Event, stop: threading.Event, poll_seconds: float) -> None:
        self._quiet = None
        while not stop.is_set():
            wake.clear()
            try:
                moved = self.catch_up(lazy=True)
                # Nothing new for a moment: write down how far the read model is current.
                if moved == 0 and self._quiet is not None:
                    if wake.wait(self.quiet_flush_seconds):
                        continue
                    moved = self.flush()
            except TrackingConflictError:
                log.warning("%s: another runner advanced first", self.name)
                self._quiet = None
                moved = 0
            except Exception:
                log.exception("%s: batch failed; retrying", self.name)
                self._quiet = None
                stop.wait(poll_seconds)
                continue
            if moved == 0:
                wake.wait(poll_seconds)
            elif self.on_commit is not None:
                self.on_commit()


def wait_for_position(store: ReadStore, name: str, min_position: int, timeout: float) -> bool:
    """Block until projection `name` has processed `min_position`, at most `timeout` s."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        if store.position(name) >= min_position:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.05)
