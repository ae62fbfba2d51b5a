"""The coalescing window of one therapist's notes on one workout: a durable timer.

The deadline is state here, in the event store, and a durable deadline of kind
`feedback_window` (domain/shared/deadlines.py): the deadlines worker fires it when due,
and firing names the deadline it was scheduled for, so a stale wake-up (the window was
extended since) does nothing. A window that elapsed is closed by the note-card process
manager, which posts the card; a window can only close once per opening.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from eventsourcing.domain import event

from domain.shared.aggregate import CareLoopAggregate
from domain.shared.deadlines import Deadline, SetsDeadline

FEEDBACK_WINDOW = "feedback_window"

_NAMESPACE = uuid.UUID("c4b1e7d2-9a58-4f63-8e21-7d0f5a3b6c19")


def window_id(workout_id: uuid.UUID, doctor_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{workout_id}:{doctor_id}")


class _Timer(SetsDeadline):
    deadline_kind = FEEDBACK_WINDOW

    def next_deadline(self) -> Deadline | None:
        due: datetime = self.deadline  # type: ignore[attr-defined]
        return Deadline(FEEDBACK_WINDOW, self.originator_id, due)  # type: ignore[attr-defined]


class FeedbackWindow(CareLoopAggregate):
    class Opened(CareLoopAggregate.Created, _Timer):
        tenant_id: uuid.UUID
        workout_id: uuid.UUID
        doctor_id: uuid.UUID
        patient_id: uuid.UUID
        deadline: datetime

    class Extended(CareLoopAggregate.Event, _Timer):
        deadline: datetime

    class Reopened(CareLoopAggregate.Event, _Timer):
        deadline: datetime

    class Elapsed(CareLoopAggregate.Event, SetsDeadline):
        """The window's deadline passed; its card is now the note-card policy's to post."""

        deadline_kind = FEEDBACK_WINDOW
        deadline: datetime

    class Closed(CareLoopAggregate.Event, SetsDeadline):
        deadline_kind = FEEDBACK_WINDOW
        deadline: datetime
        outcome: str

    @event(Opened)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        workout_id: uuid.UUID,
        doctor_id: uuid.UUID,
        patient_id: uuid.UUID,
        deadline: datetime,
        timestamp: datetime,
    ) -> None:
        self.tenant_id: uuid.UUID | None = tenant_id
        self.workout_id = workout_id
        self.doctor_id = doctor_id
        self.patient_id = patient_id
        self.deadline = deadline
        self.is_open = True
        self.elapsed = False
        self.closings = 0

    @classmethod
    def open(
        cls,
        tenant_id: uuid.UUID,
        workout_id: uuid.UUID,
        doctor_id: uuid.UUID,
        patient_id: uuid.UUID,
        at: datetime,
        seconds: float,
    ) -> FeedbackWindow:
        return cls(
            id=window_id(workout_id, doctor_id),
            tenant_id=tenant_id,
            workout_id=workout_id,
            doctor_id=doctor_id,
            patient_id=patient_id,
            deadline=at + timedelta(seconds=seconds),
            timestamp=at,
        )

    def touch(self, at: datetime, seconds: float) -> None:
        """A note was saved, edited or deleted: the window now ends `seconds` after it."""
        deadline = at + timedelta(seconds=seconds)
        if self.is_open:
            self._extended(deadline=deadline, timestamp=at)
        else:
            self._reopened(deadline=deadline, timestamp=at)

    @event(Extended)
    def _extended(self, deadline: datetime, timestamp: datetime) -> None:
        self.deadline = deadline
        self.elapsed = False

    @event(Reopened)
    def _reopened(self, deadline: datetime, timestamp: datetime) -> None:
        self.deadline = deadline
        self.is_open = True
        self.elapsed = False

    def is_due(self, scheduled_for: datetime, now: datetime) -> bool:
        """Open, not elapsed, still ending at the deadline this wake-up was scheduled for,
        and past it."""
        return (
            self.is_open
            and not self.elapsed
            and self.deadline == scheduled_for
            and now >= self.deadline
        )

    def elapse(self, scheduled_for: datetime, at: datetime) -> None:
        """The deadline scheduled for `scheduled_for` has passed: the window stops taking
        its card's notes as they come, and its card is due. Does nothing to a stale,
        early or duplicate wake-up."""
        if self.is_due(scheduled_for, at):
            self._elapsed(deadline=self.deadline, timestamp=at)

    @event(Elapsed)
    def _elapsed(self, deadline: datetime, timestamp: datetime) -> None:
        self.elapsed = True

    def is_elapsed_at(self, deadline: datetime) -> bool:
        """Elapsed at `deadline` and not touched since: its card may be posted now."""
        return self.is_open and self.elapsed and self.deadline == deadline

    def close(self, outcome: str, at: datetime) -> None:
        if not self.is_open:
            return
        self._closed(deadline=self.deadline, outcome=outcome, timestamp=at)

    @event(Closed)
    def _closed(self, deadline: datetime, outcome: str, timestamp: datetime) -> None:
        self.is_open = False
        self.elapsed = False
        self.closings += 1
