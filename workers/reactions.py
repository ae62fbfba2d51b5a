"""Follows the log and runs every registered process manager, exactly once per event.

One follower per process manager, elected (one process at a time runs it). It reads
the events its manager reacts to after its tracked position, decides (a pure function),
and runs the commands of a run of events in one unit of work that also records the
manager's new position: the commands and the position commit together or not at all, so
a crash at any instant neither loses a reaction nor repeats one. Nothing here knows any
context: a process manager is registered in bootstrap, and that is all.

A manager that `needs` read models waits until they have reached the triggering event
before running its commands; if they have not within `NEED_WAIT_SECONDS`, it does not
decide at all, and tries again later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Tracking

from domain.shared.commands import CommandBus
from domain.shared.context import SYSTEM_ACTOR, CommandContext
from domain.shared.errors import DomainError
from domain.shared.eventlog import EventLog, TrackingConflictError, metadata_of
from domain.shared.reactions import Reaction
from domain.shared.unit_of_work import UnitOfWork
from projections.platform.tail import LogTail

log = logging.getLogger(__name__)

PAGE_SIZE = 500
# Events whose commands run in one unit of work (one commit), when they can.
CHUNK_SIZE = 50
NEED_WAIT_SECONDS = 5.0
# How often progress over events that asked for nothing is recorded (for lag figures).
IDLE_TRACKING_SECONDS = 1.0


@dataclass(frozen=True)
class Triggered:
    position: int
    event: Any
    commands: Sequence[Any]


class ReactionFollower:
    def __init__(
        self,
        reaction: Reaction,
        event_log: EventLog,
        commands: CommandBus,
        reached: Callable[[str, int], bool],
        wake: threading.Event | None = None,
        tail: LogTail | None = None,
    ) -> None:
        self.reaction = reaction
        self.log = event_log
        self.commands = commands
        self.reached = reached
        self.wake = wake or threading.Event()
        self.topics = reaction.manager.topics()
        self._topic_set = frozenset(self.topics) or None
        # The process's shared head and newest events (projections/platform/tail.py): the
        # followers woken by one commit read the head and the new events once, together.
        self.tail = tail
        if tail is not None:
            tail.follow(self._topic_set)
        self._tracked_at = 0.0
        self._passed = 0  # passed in this process, perhaps not recorded yet

    @property
    def name(self) -> str:
        return self.reaction.name

    def position(self) -> int:
        """How far this follower has reacted: its recorded position, or further, when
        it has since passed events that asked for nothing (recorded now and then)."""
        return max(self.log.tracked(self.name), self._passed)

    # -- one pass -----------------------------------------------------------------------

    def run_once(self) -> int:
        """React to everything up to the head seen now; returns how far the position
        moved (0 when nothing was new, or when a need was not met yet)."""
        start = position = self.position()
        head = self.tail.head() if self.tail is not None else self.log.head()
        while position < head:
            end, events = self._page(position, head)
            triggered = []
            for at, event in events:
                commands = self.reaction.manager.decide(event)
                if commands:
                    triggered.append(Triggered(at, event, commands))
            for chunk in _chunks(triggered, CHUNK_SIZE):
                if not self._needs_reached(chunk[-1].position):
                    return position - start
                self._run(chunk)
                position = chunk[-1].position
                self._passed = position
            if end > position and self._time_to_track():
                # The rest asked for nothing: record the progress now and then (re-deciding
                # those events after a restart decides nothing again), not on every wake.
                self.log.track(Tracking(self.name, end))
            position = end
            self._passed = position
        return position - start

    def _page(self, after: int, head: int) -> tuple[int, list[tuple[int, Any]]]:
        """The next events of our topics after `after`, decoded, and where they end: from
        the shared tail when it holds them, else a page read for ourselves."""
        if self.tail is not None:
            events = self.tail.events(after, head, self._topic_set)
            if events is not None:
                return head, events
        page = self.log.read(after, PAGE_SIZE, stop=head, topics=self.topics)
        end = page[-1].id if len(page) == PAGE_SIZE else head
        return end, [(n.id, self.log.decode(n)) for n in page]

    def record_progress(self) -> None:
        """Record the position passed but not yet recorded (events that asked for
        nothing), so that lag figures read zero once the log is quiet."""
        try:
            if self._passed > self.log.tracked(self.name):
                self.log.track(Tracking(self.name, self._passed))
        except TrackingConflictError:
            self._passed = 0

    def _time_to_track(self) -> bool:
        now = time.monotonic()
        if now - self._tracked_at < IDLE_TRACKING_SECONDS:
            return False
        self._tracked_at = now
        return True

    def _needs_reached(self, position: int) -> bool:
        deadline = time.monotonic() + NEED_WAIT_SECONDS
        for need in self.reaction.manager.needs:
            while not self.reached(need, position):
                if time.monotonic() >= deadline:
                    log.warning("%s: %s has not reached %d yet", self.name, need, position)
                    return False
                time.sleep(0.005)
        return True

    def _run(self, chunk: Sequence[Triggered]) -> None:
        """The commands of a run of events, in one unit of work with the last event's
        position; a command that a rule refuses makes each event run on its own, so one
        refused reaction cannot hold back the others."""
        try:
            self._commit(chunk)
        except DomainError:
            if len(chunk) == 1:
                log.exception("%s: the reaction to %d was refused", self.name, chunk[0].position)
                self.log.track(Tracking(self.name, chunk[0].position))
                return
            for one in chunk:
                self._run([one])

    def _commit(self, chunk: Sequence[Triggered]) -> None:
        def handle(uow: UnitOfWork) -> None:
            if self.reaction.prefetch is not None:
                self.reaction.prefetch(uow, [c for t in chunk for c in t.commands])
            for triggered in chunk:
                for command in triggered.commands:
                    self.reaction.handle(uow, command)
                # What this event's commands wrote names this event as its cause.
                uow.stamp(caused_by(triggered))

        tracking = Tracking(self.name, chunk[-1].position)
        self.commands.run(caused_by(chunk[0]), handle, tracking=tracking)

    # -- following ------------------------------------------------------------------------

    def follow(self, stop: threading.Event, poll_seconds: float = 1.0) -> None:
        while not stop.is_set():
            self.wake.clear()
            try:
                moved = self.run_once()
            except TrackingConflictError:
                self._passed = 0  # another follower got there first: read its position
                moved = 0
            except Exception:
                log.exception("%s: reaction failed; retrying", self.name)
                stop.wait(poll_seconds)
                continue
            if moved == 0 and not self.wake.wait(poll_seconds):
                self.record_progress()  # quiet: say how far we are


def caused_by(triggered: Triggered) -> CommandContext:
    """A reaction continues the correlation of the event it reacts to and names that
    event as its cause."""
    meta = metadata_of(triggered.event)
    return CommandContext(
        actor=SYSTEM_ACTOR,
        correlation_id=meta.get("correlationId") or f"event:{triggered.position}",
        causation_id=f"event:{triggered.position}",
    )


def _chunks(items: Sequence[Triggered], size: int) -> list[Sequence[Triggered]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
