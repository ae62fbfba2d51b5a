"""The coalescing window of one therapist's notes on one workout: a durable timer.

The deadline is state here, in the event store; a delayed message only wakes a worker at
the deadline, and a sweep catches any wake-up that was lost. Firing names the deadline it
was scheduled for, so a stale wake-up (the window was extended since) does nothing, and a
window can only close once per opening.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from eventsourcing.domain import event

from domain.shared.aggregate import CareLoopAggregate

_NAMESPACE = uuid.UUID("c4b1e7d2-9a58-4f63-8e21-7d0f5a3b6c19")


def window_id(workout_id: uuid.UUID, doctor_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{workout_id}:{doctor_id}")


class FeedbackWindow(CareLoopAggregate):
    class Opened(CareLoopAggregate.Created):
        tenant_id: uuid.UUID
        workout_id: uuid.UUID
        doctor_id: uuid.UUID
        patient_id: uuid.UUID
        deadline: datetime

    class Extended(CareLoopAggregate.Event):
        deadline: datetime

    class Reopened(CareLoopAggregate.Event):
        deadline: datetime

    class Closed(CareLoopAggregate.Event):
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

    @event(Reopened)
    def _reopened(self, deadline: datetime, timestamp: datetime) -> None:
        self.deadline = deadline
        self.is_open = True

    def is_due(self, scheduled_for: datetime, now: datetime) -> bool:
        """Open, still ending at the deadline this wake-up was scheduled for, and past it."""
        return self.is_open and self.deadline == scheduled_for and now >= self.deadline

    def close(self, outcome: str, at: datetime) -> None:
        if not self.is_open:
            return
        self._closed(deadline=self.deadline, outcome=outcome, timestamp=at)

    @event(Closed)
    def _closed(self, deadline: datetime, outcome: str, timestamp: datetime) -> None:
        self.is_open = False
        self.closings += 1
