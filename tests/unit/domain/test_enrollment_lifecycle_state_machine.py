"""The enrollment lifecycle as a hypothesis state machine, with a fake clock.

The machine drives one `Enrollment` (pure: no store) beside a model of what it should do.
Rules: enroll (with or without approval, self-assigned or not), approve, pause, resume,
complete a session (a random session of the version or one from elsewhere, a random
workout, possibly one counted already), advance the clock, deliver the end deadline's
wake-up (for the current end date, a stale one, an early one, or now; possibly twice),
and reload the aggregate from its events.

Invariants:
- the status moves only along the lifecycle (pending -> active <-> paused; active ->
  completed or expired), and completed and expired are final;
- no workout is counted twice;
- the end date is the activation time plus the plan's weeks plus exactly the time spent
  paused;
- expiry never fires while paused, while pending, or before the end date;
- the deadline the last deadline-setting event leaves is the end date while active, and
  none otherwise (pending, paused, completed, expired);
- the events replay to the same state.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.plans.enrollment import (
    ENROLLMENT_END,
    Enrollment,
    EnrollmentStatus,
    SessionCompletion,
)
from domain.plans.errors import EnrollmentStateError
from domain.shared.clock import FakeClock
from domain.shared.deadlines import Deadline, SetsDeadline
from tests.support.given import replay

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ENROLLMENT = uuid.UUID("00000000-0000-4000-a000-0000000ab001")
TENANT = uuid.UUID("00000000-0000-4000-a000-00000000c001")
DOCTOR = uuid.UUID("00000000-0000-4000-a000-00000000d001")
OTHER_DOCTOR = uuid.UUID("00000000-0000-4000-a000-00000000d002")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
PLAN = uuid.UUID("00000000-0000-4000-a000-0000000aa001")
SESSIONS = [uuid.UUID(int=0xB5000 + i) for i in range(3)]
ELSEWHERE = uuid.UUID(int=0xB5999)
WORKOUTS = [uuid.UUID(int=0xF0000 + i) for i in range(10)]

PENDING = EnrollmentStatus.PENDING_APPROVAL
ACTIVE = EnrollmentStatus.ACTIVE
PAUSED = EnrollmentStatus.PAUSED
COMPLETED = EnrollmentStatus.COMPLETED
EXPIRED = EnrollmentStatus.EXPIRED
LIFECYCLE = {(PENDING, ACTIVE), (ACTIVE, PAUSED), (PAUSED, ACTIVE)} | {
    (ACTIVE, final) for final in (COMPLETED, EXPIRED)
}

STEPS = st.sampled_from(
    [
        timedelta(minutes=1),
        timedelta(hours=5),
        timedelta(days=1),
        timedelta(days=3),
        timedelta(weeks=1),
        timedelta(weeks=2),
    ]
)


class EnrollmentLifecycle(RuleBasedStateMachine):
    # -- the model ----------------------------------------------------------------------

    @initialize(
        requires_approval=st.booleans(),
        self_assigned=st.booleans(),
        frequency=st.integers(1, 3),
        weeks=st.integers(1, 2),
        sessions=st.integers(1, 3),
    )
    def enroll(
        self,
        requires_approval: bool,
        self_assigned: bool,
        frequency: int,
        weeks: int,
        sessions: int,
    ) -> None:
        self.clock = FakeClock(T0)
        self.weeks = timedelta(weeks=weeks)
        self.target = frequency * weeks
        self.session_ids = SESSIONS[:sessions]
        self.enrollment = Enrollment.enroll(
            ENROLLMENT,
            TENANT,
            PATIENT,
            PLAN,
            1,
            "telerehab",
            frequency,
            weeks,
            list(self.session_ids),
            PATIENT if self_assigned else DOCTOR,
            self_assigned,
            requires_approval,
            self.clock.now(),
        )
        self.history: list[Any] = []
        # What the enrollment should be.
        pending = requires_approval and not self_assigned
        self.status = PENDING if pending else ACTIVE
        self.activated_at: datetime | None = None if pending else T0
        self.paused_at: datetime | None = None
        self.paused_total = timedelta()
        self.counted: dict[uuid.UUID, uuid.UUID] = {}  # workout -> session
        self.ends_seen: list[datetime] = []  # every end date it ever had, for stale wake-ups
        self.take(["Enrollment.Enrolled"], previous=None)

    @property
    def now(self) -> datetime:
        return self.clock.now()

    @property
    def ends_at(self) -> datetime | None:
        if self.activated_at is None:
            return None
        return self.activated_at + self.weeks + self.paused_total

    def take(self, expected: list[str], previous: EnrollmentStatus | None) -> list[Any]:
        """The events the last command recorded, checked against what the model expects
        and against the lifecycle, then kept as the history."""
        events = list(self.enrollment.collect_events())
        assert [type(e).__qualname__ for e in events] == expected
        if previous is not None and previous != self.status:
            assert (previous, self.status) in LIFECYCLE, (previous, self.status)
        assert self.enrollment.status is self.status
        self.history.extend(events)
        if self.ends_at is not None and self.ends_at not in self.ends_seen:
            self.ends_seen.append(self.ends_at)
        return events

    def refused(self, command: Callable[[], object]) -> None:
        with pytest.raises(EnrollmentStateError):
            command()
        self.take([], previous=self.status)

    # -- rules --------------------------------------------------------------------------

    @rule()
    def approve(self) -> None:
        if self.status is not PENDING:
            self.refused(lambda: self.enrollment.approve(OTHER_DOCTOR, self.now))
            return
        previous = self.status
        self.enrollment.approve(OTHER_DOCTOR, self.now)
        self.status, self.activated_at = ACTIVE, self.now
        self.take(["Enrollment.Approved"], previous)

    @rule()
    def pause(self) -> None:
        if self.status is PAUSED:
            self.enrollment.pause(self.now)
            self.take([], previous=PAUSED)
        elif self.status is not ACTIVE:
            self.refused(lambda: self.enrollment.pause(self.now))
        else:
            self.enrollment.pause(self.now)
            self.status, self.paused_at = PAUSED, self.now
            self.take(["Enrollment.Paused"], previous=ACTIVE)

    @rule()
    def resume(self) -> None:
        if self.status is ACTIVE:
            self.enrollment.resume(self.now)
            self.take([], previous=ACTIVE)
        elif self.status is not PAUSED:
            self.refused(lambda: self.enrollment.resume(self.now))
        else:
            assert self.paused_at is not None
            self.enrollment.resume(self.now)
            self.paused_total += self.now - self.paused_at
            self.status, self.paused_at = ACTIVE, None
            self.take(["Enrollment.Resumed"], previous=PAUSED)

    @rule(session=st.integers(0, len(SESSIONS)), workout=st.sampled_from(WORKOUTS))
    def complete_a_session(self, session: int, workout: uuid.UUID) -> None:
        session_id = self.session_ids[session] if session < len(self.session_ids) else ELSEWHERE
        completion = SessionCompletion(session_id, workout, self.now, ())
        if workout in self.counted:
            assert self.enrollment.complete_session(completion) is False
            self.take([], previous=self.status)
        elif self.status is not ACTIVE or session_id == ELSEWHERE:
            self.refused(lambda: self.enrollment.complete_session(completion))
        else:
            assert self.enrollment.complete_session(completion) is True
            self.counted[workout] = session_id
            expected = ["Enrollment.SessionCompleted"]
            if len(self.counted) >= self.target and set(self.counted.values()) >= set(
                self.session_ids
            ):
                self.status = COMPLETED
                expected.append("Enrollment.Completed")
            self.take(expected, previous=ACTIVE)

    @rule(step=STEPS)
    def advance_the_clock(self, step: timedelta) -> None:
        self.clock.advance(step.total_seconds())

    @rule(late=st.sampled_from([timedelta(), timedelta(seconds=1), timedelta(days=1)]))
    def advance_the_clock_to_the_end_date(self, late: timedelta) -> None:
        """Time passes up to the end date (paused or not), or a little beyond."""
        if self.ends_at is not None and self.ends_at + late > self.now:
            self.clock.set(self.ends_at + late)

    @rule(which=st.sampled_from(["current", "stale", "early", "now"]), twice=st.booleans())
    def deliver_the_end_wake_up(self, which: str, twice: bool) -> None:
        """The deadlines worker wakes the enrollment for the end date it was scheduled
        for: the current one, an end date it had before a pause, one a minute early, or
        just now; late whenever the clock has moved past it; possibly delivered twice."""
        end = self.ends_at
        if which == "current" and end is not None:
            scheduled_for = end
        elif which == "stale" and any(e != end for e in self.ends_seen):
            scheduled_for = next(e for e in self.ends_seen if e != end)
        elif which == "early" and end is not None:
            scheduled_for = end - timedelta(minutes=1)
        else:
            scheduled_for = self.now
        for _ in range(2 if twice else 1):
            previous = self.status
            self.enrollment.elapse(scheduled_for, self.now)
            fires = previous is ACTIVE and scheduled_for == end and self.now >= scheduled_for
            if fires:
                self.status = EXPIRED
            events = self.take(["Enrollment.Expired"] if fires else [], previous)
            for expired in events:
                assert previous is ACTIVE and self.paused_at is None
                assert end is not None and expired.timestamp >= end

    @rule()
    def reload_from_the_events(self) -> None:
        """As the next command would find it: folded from the log."""
        self.enrollment = replay(self.history)

    def teardown(self) -> None:
        if hasattr(self, "status"):
            event(f"ended {self.status.value}")
            event(f"paused {'some time' if self.paused_total else 'never'}")

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def the_end_date_moves_by_exactly_the_time_spent_paused(self) -> None:
        assert self.enrollment.ends_at == self.ends_at
        assert self.enrollment.started_at == self.activated_at
        assert self.enrollment.paused_at == self.paused_at

    @invariant()
    def no_workout_is_counted_twice(self) -> None:
        workouts = [c.workout_id for c in self.enrollment.completions]
        assert len(workouts) == len(set(workouts))
        assert set(workouts) == set(self.counted)

    @invariant()
    def the_deadline_left_is_the_end_date_while_active_and_none_otherwise(self) -> None:
        setting = [e for e in self.history if isinstance(e, SetsDeadline)]
        assert all(e.deadline_kind == ENROLLMENT_END for e in setting)
        left = setting[-1].next_deadline()
        if self.status is ACTIVE:
            assert self.ends_at is not None
            assert left == Deadline(ENROLLMENT_END, ENROLLMENT, self.ends_at)
        else:
            assert left is None

    @invariant()
    def completed_and_expired_are_final(self) -> None:
        finals = [
            i
            for i, e in enumerate(self.history)
            if isinstance(e, Enrollment.Completed | Enrollment.Expired)
        ]
        assert len(finals) <= 1
        if finals:
            assert finals[0] == len(self.history) - 1
            assert self.status in (COMPLETED, EXPIRED)

    @invariant()
    def the_events_replay_to_the_same_state(self) -> None:
        rebuilt = replay(self.history)
        assert (rebuilt.status, rebuilt.ends_at, rebuilt.paused_at, rebuilt.started_at) == (
            self.enrollment.status,
            self.enrollment.ends_at,
            self.enrollment.paused_at,
            self.enrollment.started_at,
        )
        assert rebuilt.completions == self.enrollment.completions


EnrollmentLifecycle.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None
)
test_the_enrollment_lifecycle = EnrollmentLifecycle.TestCase
