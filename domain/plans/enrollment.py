"""A patient's enrollment in one version of a plan: assigned by a specialist (possibly
waiting for approval) or self-assigned from the library; active, paused, completed or
expired.

The end date is a durable deadline of kind `enrollment_end`. Pausing clears it; resuming
sets it again, pushed back by the time spent paused (paused time does not count towards
the plan's weeks). Completing every session, or expiring, settles it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from eventsourcing.domain import event

from domain.plans.errors import EnrollmentStateError
from domain.privacy.personal import PersonalText
from domain.shared.aggregate import CareLoopAggregate
from domain.shared.deadlines import Deadline, SetsDeadline
from domain.shared.payloads import payload

ENROLLMENT_END = "enrollment_end"


class EnrollmentStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    EXPIRED = "expired"


@payload("plan_exercise_result")
@dataclass(frozen=True)
class ExerciseResult:
    exercise_id: str
    prescribed: Mapping[str, Any]
    actual: Mapping[str, Any]
    pain: int | None = None
    video_watch_percent: float | None = None
    pose_accuracy: float | None = None


@payload("plan_session_completion")
@dataclass(frozen=True)
class SessionCompletion:
    session_id: uuid.UUID
    workout_id: uuid.UUID
    completed_at: datetime
    exercises: tuple[ExerciseResult, ...]
    pain_before: int | None = None
    pain_after: int | None = None
    # Question (the plan's text) to the patient's answer: theirs, sealed with their key.
    questionnaire: Mapping[str, PersonalText] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "exercises", tuple(self.exercises))


class _EndsAt(SetsDeadline):
    deadline_kind = ENROLLMENT_END

    def next_deadline(self) -> Deadline | None:
        ends_at: datetime | None = self.ends_at  # type: ignore[attr-defined]
        if ends_at is None:
            return None
        return Deadline(ENROLLMENT_END, self.originator_id, ends_at)  # type: ignore[attr-defined]


class _Settles(SetsDeadline):
    deadline_kind = ENROLLMENT_END


class Enrollment(CareLoopAggregate):
    class Enrolled(CareLoopAggregate.Created, _EndsAt):
        """Webhook `treatment_plan.assigned` (and `.activated` when active at once)."""

        tenant_id: uuid.UUID
        patient_id: uuid.UUID
        plan_id: uuid.UUID
        version: int
        plan_type: str
        frequency_per_week: int
        duration_weeks: int
        session_ids: list[uuid.UUID]
        assigned_by: uuid.UUID
        self_assigned: bool
        status: str
        ends_at: datetime | None

    class Approved(CareLoopAggregate.Event, _EndsAt):
        """Webhook `treatment_plan.activated`."""

        approved_by: uuid.UUID
        ends_at: datetime

    class Paused(CareLoopAggregate.Event, _Settles):
        pass

    class Resumed(CareLoopAggregate.Event, _EndsAt):
        ends_at: datetime

    class SessionCompleted(CareLoopAggregate.Event):
        """Webhook `treatment_plan.session_completed`."""

        completion: SessionCompletion

    class Completed(CareLoopAggregate.Event, _Settles):
        """Every session done. Webhook `treatment_plan.completed`."""

    class Expired(CareLoopAggregate.Event, _Settles):
        """The end date passed first. Webhook `treatment_plan.expired`."""

    @event(Enrolled)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        patient_id: uuid.UUID,
        plan_id: uuid.UUID,
        version: int,
        plan_type: str,
        frequency_per_week: int,
        duration_weeks: int,
        session_ids: list[uuid.UUID],
        assigned_by: uuid.UUID,
        self_assigned: bool,
        status: str,
        ends_at: datetime | None,
        timestamp: datetime,
    ) -> None:
        self.tenant_id: uuid.UUID | None = tenant_id
        self.patient_id = patient_id
        self.plan_id = plan_id
        self.version = version
        self.plan_type = plan_type
        self.frequency_per_week = frequency_per_week
        self.duration_weeks = duration_weeks
        self.session_ids = list(session_ids)
        self.assigned_by = assigned_by
        self.self_assigned = self_assigned
        self.status = EnrollmentStatus(status)
        self.started_at: datetime | None = timestamp if ends_at is not None else None
        self.ends_at = ends_at
        self.paused_at: datetime | None = None
        self.completions: list[SessionCompletion] = []

    @classmethod
    def enroll(
        cls,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        patient_id: uuid.UUID,
        plan_id: uuid.UUID,
        version: int,
        plan_type: str,
        frequency_per_week: int,
        duration_weeks: int,
        session_ids: list[uuid.UUID],
        assigned_by: uuid.UUID,
        self_assigned: bool,
        requires_approval: bool,
        at: datetime,
    ) -> Enrollment:
        pending = requires_approval and not self_assigned
        return cls(
            id=id,
            tenant_id=tenant_id,
            patient_id=patient_id,
            plan_id=plan_id,
            version=version,
            plan_type=plan_type,
            frequency_per_week=frequency_per_week,
            duration_weeks=duration_weeks,
            session_ids=list(session_ids),
            assigned_by=assigned_by,
            self_assigned=self_assigned,
            status=(
                EnrollmentStatus.PENDING_APPROVAL if pending else EnrollmentStatus.ACTIVE
            ).value,
            ends_at=None if pending else at + timedelta(weeks=duration_weeks),
            timestamp=at,
        )

    # -- queries ------------------------------------------------------------------------

    @property
    def is_active(self) -> bool:
        return self.status is EnrollmentStatus.ACTIVE

    @property
    def target_sessions(self) -> int:
        """Sessions the plan asks for: its frequency over its weeks."""
        return self.frequency_per_week * self.duration_weeks

    @property
    def is_done(self) -> bool:
        """Every session done: the plan's number of sessions, each blueprint at least once."""
        done = {c.session_id for c in self.completions}
        return len(self.completions) >= self.target_sessions and done >= set(self.session_ids)

    def completed_workout(self, workout_id: uuid.UUID) -> bool:
        return any(c.workout_id == workout_id for c in self.completions)

    # -- commands -----------------------------------------------------------------------

    def approve(self, by: uuid.UUID, at: datetime) -> None:
        if self.status is not EnrollmentStatus.PENDING_APPROVAL:
            raise EnrollmentStateError(f"The enrollment is {self.status.value}, not pending.")
        self._approved(
            approved_by=by, ends_at=at + timedelta(weeks=self.duration_weeks), timestamp=at
        )

    @event(Approved)
    def _approved(self, approved_by: uuid.UUID, ends_at: datetime, timestamp: datetime) -> None:
        self.status = EnrollmentStatus.ACTIVE
        self.started_at = timestamp
        self.ends_at = ends_at

    def pause(self, at: datetime) -> None:
        if self.status is EnrollmentStatus.PAUSED:
            return
        if not self.is_active:
            raise EnrollmentStateError(
                f"The enrollment is {self.status.value}; only an active one pauses."
            )
        self._paused(timestamp=at)

    @event(Paused)
    def _paused(self, timestamp: datetime) -> None:
        self.status = EnrollmentStatus.PAUSED
        self.paused_at = timestamp

    def resume(self, at: datetime) -> None:
        if self.is_active:
            return
        if self.status is not EnrollmentStatus.PAUSED:
            raise EnrollmentStateError(f"The enrollment is {self.status.value}, not paused.")
        assert self.paused_at is not None and self.ends_at is not None
        self._resumed(ends_at=self.ends_at + (at - self.paused_at), timestamp=at)

    @event(Resumed)
    def _resumed(self, ends_at: datetime, timestamp: datetime) -> None:
        self.status = EnrollmentStatus.ACTIVE
        self.ends_at = ends_at
        self.paused_at = None

    def complete_session(self, completion: SessionCompletion) -> bool:
        """Records one performed session (once per workout); completes the enrollment when
        every session is done. False when the workout was counted already."""
        if self.completed_workout(completion.workout_id):
            return False
        if not self.is_active:
            raise EnrollmentStateError(f"The enrollment is {self.status.value}, not active.")
        if completion.session_id not in self.session_ids:
            raise EnrollmentStateError("That session is not in this enrollment's version.")
        self._session_completed(completion=completion, timestamp=completion.completed_at)
        if self.is_done:
            self._completed(timestamp=completion.completed_at)
        return True

    @event(SessionCompleted)
    def _session_completed(self, completion: SessionCompletion, timestamp: datetime) -> None:
        self.completions.append(completion)

    @event(Completed)
    def _completed(self, timestamp: datetime) -> None:
        self.status = EnrollmentStatus.COMPLETED

    def elapse(self, scheduled_for: datetime, at: datetime) -> None:
        """The end date this wake-up was scheduled for passed while active: expired. A
        stale wake-up (paused, resumed to a later date, completed) does nothing."""
        if self.is_active and self.ends_at == scheduled_for and at >= scheduled_for:
            self._expired(timestamp=at)

    @event(Expired)
    def _expired(self, timestamp: datetime) -> None:
        self.status = EnrollmentStatus.EXPIRED
