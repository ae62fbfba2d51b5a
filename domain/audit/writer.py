"""Group commit: many requests' entries go to the store in one transaction.

Requests hand their drafts to one writer thread and wait on a future. The thread takes
what is queued (after lingering at most `linger` seconds for more), appends it in one
transaction, and settles every future: with its chained entry, or with the error that
kept the batch from committing, and then nothing of the batch was stored. An entry thus
waits at most for the commit in progress, the linger and its own commit.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from domain.audit.entry import AuditEntry, Draft
from domain.audit.store import AuditStore

MAX_BATCH = 500


@dataclass
class _Item:
    draft: Draft | None  # None: a probe, proof the store takes writes
    future: Future[AuditEntry | None] = field(default_factory=Future)


@dataclass
class WriterStats:
    batches: int = 0
    entries: int = 0
    failures: int = 0


class GroupCommitWriter:
    def __init__(
        self,
        store: AuditStore,
        linger: float = 0.0,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.store = store
        self.linger = linger
        self.on_batch = on_batch  # (entries, seconds): for the metrics
        self.stats = WriterStats()
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, draft: Draft) -> Future[AuditEntry | None]:
        return self._put(_Item(draft))

    def probe(self) -> Future[AuditEntry | None]:
        """A future that settles once the store has shown it takes writes (an insert,
        rolled back), or with the error it refused with."""
        return self._put(_Item(None))

    def _put(self, item: _Item) -> Future[AuditEntry | None]:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="audit-writer", daemon=True
                    )
                    self._thread.start()
        self._queue.put(item)
        return item.future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = self._gather(batch)
            self._commit(batch)
            if stop:
                return

    def _gather(self, batch: list[_Item]) -> bool:
        """Add what is queued (lingering up to `linger` for more); True on a close."""
        deadline = time.monotonic() + self.linger
        while len(batch) < MAX_BATCH:
            try:
                remaining = deadline - time.monotonic()
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                return False
            if item is None:
                return True
            batch.append(item)
        return False

    def _commit(self, batch: list[_Item]) -> None:
        drafts = [item.draft for item in batch if item.draft is not None]
        probe = len(drafts) < len(batch)
        started = time.perf_counter()
        try:
            entries = self.store.append(drafts, probe=probe)
        except Exception as e:  # the database's refusal, whatever it is, fails the batch
            self.stats.failures += 1
            for item in batch:
                item.future.set_exception(e)
            return
        self.stats.batches += 1
        self.stats.entries += len(entries)
        if self.on_batch is not None:
            self.on_batch(len(entries), time.perf_counter() - started)
        stored = iter(entries)  # in the order of `drafts`
        for item in batch:
            item.future.set_result(None if item.draft is None else next(stored))

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None
