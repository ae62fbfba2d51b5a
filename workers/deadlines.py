"""Fires what is due: one mechanism for every durable deadline.

The scheduler (elected: one process at a time) reads the due rows of the deadlines read
model (an index range, never a scan), hands them out in chunks as wake-up messages, and
sleeps until the next due time or until the log moves. A message lost anywhere (Redis
flushed, a worker killed) only means the deadline is still due when the scheduler looks
again after `resend_after` seconds: it is sent again. Firing is a command that names the
due time it was scheduled for, so a duplicate, stale or early wake-up does nothing.

What firing a kind does is a `DeadlineHandler` registered in bootstrap: `Elapse` for
aggregates that fire through their own `elapse` command, the outbox's for deliveries.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from domain.shared.clock import Clock
from domain.shared.commands import CommandBus
from domain.shared.context import SYSTEM_ACTOR, CommandContext
from domain.shared.deadlines import Deadline
from domain.shared.unit_of_work import UnitOfWork
from projections.deadlines.view import DeadlineView

log = logging.getLogger(__name__)

CHUNK_SIZE = 50
MAX_SLEEP_SECONDS = 1.0
CATCH_UP_POLL_SECONDS = 0.02
# Between two looks at what is due, however often the log wakes the scheduler.
MIN_TICK_SECONDS = 0.02


class DeadlineHandler(Protocol):
    # Where its wake-ups queue, and how many deadlines one wake-up carries: a kind whose
    # firing is one small write goes in chunks; one that waits on the far side (a
    # delivery) goes one by one, so a slow send holds up nothing else.
    queue: str
    chunk_size: int

    def fire(self, deadlines: Sequence[Deadline]) -> int:
        """Fire due deadlines of one kind; returns how many did anything."""
        ...


def deadline_context(deadline: Deadline) -> CommandContext:
    return CommandContext(
        actor=SYSTEM_ACTOR,
        correlation_id=deadline.payload.get("correlationId") or f"deadline:{deadline.key}",
        causation_id=f"deadline:{deadline.key}@{deadline.due_at.isoformat()}",
    )


class Elapse:
    """Fires deadlines of aggregates that record their own elapsing (`Elapsing`): one
    unit of work for a chunk, one by one when the chunk collides with other writers."""

    queue = "deadlines"
    chunk_size = CHUNK_SIZE

    def __init__(self, aggregate: type[Any], commands: CommandBus) -> None:
        self.aggregate = aggregate
        self.commands = commands

    def fire(self, deadlines: Sequence[Deadline]) -> int:
        if not deadlines:
            return 0
        try:
            return self._fire(deadlines)
        except Exception:
            if len(deadlines) == 1:
                raise
            return sum(self._fire([d]) for d in deadlines)

    def _fire(self, deadlines: Sequence[Deadline]) -> int:
        def elapse(uow: UnitOfWork) -> int:
            fired = 0
            uow.preload(d.id for d in deadlines)
            for deadline in deadlines:
                aggregate = uow.find(self.aggregate, deadline.id)
                if aggregate is None:
                    continue
                uow.add(aggregate)
                before = len(aggregate.pending_events)
                aggregate.elapse(deadline.due_at, uow.now)
                fired += len(aggregate.pending_events) > before
                uow.stamp(deadline_context(deadline))
            return fired

        outcome = self.commands.run(deadline_context(deadlines[0]), elapse)
        return outcome.result or 0


class Scheduler:
    """Finds due deadlines and dispatches them; remembers what it sent so that it sends
    again only what stayed due for `resend_after` seconds."""

    def __init__(
        self,
        view: DeadlineView,
        clock: Clock,
        dispatch: Callable[[str, Sequence[Deadline]], None],
        resend_after: float,
        behind: Callable[[], bool] = lambda: False,
        chunk_size: Callable[[str], int] = lambda kind: CHUNK_SIZE,
        backlog: Callable[[str], int] = lambda kind: 0,
    ) -> None:
        self.chunk_size = chunk_size
        self.backlog = backlog
        self.view = view
        self.behind = behind
        self.clock = clock
        self.dispatch = dispatch
        self.resend_after = timedelta(seconds=resend_after)
        self._sent: dict[tuple[str, datetime], datetime] = {}

    def tick(self) -> float:
        """Dispatch what is due; returns how long to sleep before looking again."""
        now = self.clock.now()
        due = self.view.due(now)
        fresh: dict[str, list[Deadline]] = {}
        waiting: dict[str, int] = {}
        for deadline in due:
            sent = self._sent.get((deadline.key, deadline.due_at))
            if sent is not None and now - sent < self.resend_after:
                continue
            if sent is not None:
                # Sent before and still due. Resend only if no wake-up of its kind is
                # waiting in the queue: while there are, it is late, not lost, and a
                # resend would only add to the queue it waits in.
                if deadline.kind not in waiting:
                    waiting[deadline.kind] = self.backlog(deadline.kind)
                if waiting[deadline.kind] > 0:
                    continue
            fresh.setdefault(deadline.kind, []).append(deadline)
            self._sent[(deadline.key, deadline.due_at)] = now
        for kind, deadlines in fresh.items():
            size = self.chunk_size(kind)
            for start in range(0, len(deadlines), size):
                self.dispatch(kind, deadlines[start : start + size])
        self._forget(now)
        if self.behind():  # the read model has not seen the latest events: look again soon
            return CATCH_UP_POLL_SECONDS
        next_due = self.view.next_due()
        if next_due is None:
            return MAX_SLEEP_SECONDS
        if next_due <= now:  # due, and sent: look again when a resend could be due
            return min(MAX_SLEEP_SECONDS, self.resend_after.total_seconds())
        return min(MAX_SLEEP_SECONDS, (next_due - now).total_seconds())

    def _forget(self, now: datetime) -> None:
        horizon = now - self.resend_after * 10
        for key in [k for k, at in self._sent.items() if at < horizon]:
            del self._sent[key]

    def run(self, stop: threading.Event, wake: threading.Event, elect: Callable[[], Any]) -> None:
        """Schedule while elected, until `stop`; the deadlines read model moving (a wake
        of the hub) makes it look again at once."""
        while not stop.is_set():
            try:
                with elect() as elected:
                    while elected and not stop.is_set():
                        wake.clear()
                        pause = self.tick()
                        stop.wait(MIN_TICK_SECONDS)  # a busy log wakes us constantly
                        wake.wait(max(0.0, pause - MIN_TICK_SECONDS))
            except Exception:
                log.exception("deadline scheduler failed; trying again")
            if not stop.is_set():
                stop.wait(MAX_SLEEP_SECONDS)


def fire(handlers: Mapping[str, DeadlineHandler], kind: str, deadlines: Sequence[Deadline]) -> int:
    handler = handlers.get(kind)
    if handler is None:
        log.error("no handler for deadlines of kind %r", kind)
        return 0
    return handler.fire(deadlines)
