"""Enrollments: given / when / then, without a database. An enrollment pins one version
of a plan; it is active at once or waits for approval (self-assigned ones never wait);
pausing clears the end deadline and resuming pushes the end by the time spent paused;
each workout completes a session once; every session done completes it; the end date
passing while active expires it, and a stale, early or repeated wake-up does nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.plans.enrollment import (
    ENROLLMENT_END,
    Enrollment,
    EnrollmentStatus,
    ExerciseResult,
    SessionCompletion,
)
from domain.plans.errors import EnrollmentStateError
from domain.privacy.personal import PersonalText
from domain.shared.deadlines import Deadline, SetsDeadline
from tests.support.given import Step, given, names, new_events

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEKS = 2
ENDS = T0 + timedelta(weeks=WEEKS)
ENROLLMENT = uuid.UUID("00000000-0000-4000-a000-0000000ab001")
TENANT = uuid.UUID("00000000-0000-4000-a000-00000000c001")
DOCTOR = uuid.UUID("00000000-0000-4000-a000-00000000d001")
OTHER_DOCTOR = uuid.UUID("00000000-0000-4000-a000-00000000d002")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
PLAN = uuid.UUID("00000000-0000-4000-a000-0000000aa001")
S1 = uuid.UUID("00000000-0000-4000-a000-0000000b5001")
S2 = uuid.UUID("00000000-0000-4000-a000-0000000b5002")
ELSEWHERE = uuid.UUID("00000000-0000-4000-a000-0000000b5999")


def workout(n: int) -> uuid.UUID:
    return uuid.UUID(int=0x0F0000 + n)


def an_enrollment(
    requires_approval: bool = False,
    self_assigned: bool = False,
    frequency: int = 2,
    weeks: int = WEEKS,
    sessions: tuple[uuid.UUID, ...] = (S1, S2),
    at: datetime = T0,
) -> Enrollment:
    return Enrollment.enroll(
        ENROLLMENT,
        TENANT,
        PATIENT,
        PLAN,
        3,
        "telerehab",
        frequency,
        weeks,
        list(sessions),
        PATIENT if self_assigned else DOCTOR,
        self_assigned,
        requires_approval,
        at,
    )


def completion(
    n: int, session: uuid.UUID = S1, at: datetime = T0 + DAY, pain_after: int | None = 3
) -> SessionCompletion:
    return SessionCompletion(
        session_id=session,
        workout_id=workout(n),
        completed_at=at,
        exercises=(
            ExerciseResult(
                "squat",
                prescribed={"sets": 3, "reps": 10},
                actual={"sets": 3, "reps": 8},
                pain=4,
                video_watch_percent=92.5,
                pose_accuracy=0.81,
            ),
        ),
        pain_before=5,
        pain_after=pain_after,
        questionnaire={"difficulty": PersonalText(PATIENT, "hard")},
    )


def completed(n: int, session: uuid.UUID = S1, at: datetime = T0 + DAY) -> Step:
    return lambda e: e.complete_session(completion(n, session, at))


def approved(at: datetime = T0 + HOUR) -> Step:
    return lambda e: e.approve(OTHER_DOCTOR, at)


def paused(at: datetime) -> Step:
    return lambda e: e.pause(at)


def resumed(at: datetime) -> Step:
    return lambda e: e.resume(at)


def wakeup(scheduled_for: datetime, at: datetime | None = None) -> Step:
    return lambda e: e.elapse(scheduled_for, scheduled_for if at is None else at)


def deadline_left_by(event: object) -> Deadline | None:
    assert isinstance(event, SetsDeadline)
    assert event.deadline_kind == ENROLLMENT_END
    return event.next_deadline()


def end_deadline(at: datetime) -> Deadline:
    return Deadline(ENROLLMENT_END, ENROLLMENT, at)


# -- enrolling ----------------------------------------------------------------------------


def test_an_assignment_without_approval_is_active_at_once_and_sets_the_end_deadline() -> None:
    enrollment = an_enrollment()
    events = new_events(enrollment)
    assert names(events) == ["Enrollment.Enrolled"]
    assert (events[0].status, events[0].ends_at, events[0].version) == ("active", ENDS, 3)
    assert events[0].session_ids == [S1, S2]
    assert deadline_left_by(events[0]) == end_deadline(ENDS)


def test_an_active_enrollment_started_when_it_was_assigned() -> None:
    enrollment = given(an_enrollment())
    assert enrollment.status is EnrollmentStatus.ACTIVE
    assert (enrollment.started_at, enrollment.ends_at) == (T0, ENDS)
    assert enrollment.target_sessions == 2 * WEEKS


def test_an_assignment_requiring_approval_waits_with_no_end_deadline() -> None:
    enrollment = an_enrollment(requires_approval=True)
    events = new_events(enrollment)
    assert (events[0].status, events[0].ends_at) == ("pending_approval", None)
    assert deadline_left_by(events[0]) is None
    assert enrollment.started_at is None


def test_a_self_assigned_enrollment_never_waits_for_approval() -> None:
    enrollment = given(an_enrollment(requires_approval=True, self_assigned=True))
    assert enrollment.status is EnrollmentStatus.ACTIVE
    assert (enrollment.self_assigned, enrollment.assigned_by) == (True, PATIENT)
    assert enrollment.ends_at == ENDS


# -- approving ----------------------------------------------------------------------------


def test_approving_a_pending_enrollment_activates_it_and_counts_the_weeks_from_then() -> None:
    enrollment = given(an_enrollment(requires_approval=True))
    enrollment.approve(OTHER_DOCTOR, T0 + DAY)
    events = new_events(enrollment)
    assert names(events) == ["Enrollment.Approved"]
    assert events[0].approved_by == OTHER_DOCTOR
    assert deadline_left_by(events[0]) == end_deadline(T0 + DAY + timedelta(weeks=WEEKS))
    assert enrollment.status is EnrollmentStatus.ACTIVE
    assert enrollment.started_at == T0 + DAY


@pytest.mark.parametrize(
    "steps",
    [
        (),
        (approved(),),
    ],
    ids=["active at once", "approved already"],
)
def test_approving_an_enrollment_that_is_not_pending_is_a_conflict(steps: tuple[Step]) -> None:
    requires_approval = bool(steps)
    enrollment = given(an_enrollment(requires_approval=requires_approval), *steps)
    with pytest.raises(EnrollmentStateError):
        enrollment.approve(OTHER_DOCTOR, T0 + DAY)
    assert new_events(enrollment) == []


# -- pausing and resuming -----------------------------------------------------------------


def test_pausing_clears_the_end_deadline() -> None:
    enrollment = given(an_enrollment())
    enrollment.pause(T0 + DAY)
    events = new_events(enrollment)
    assert names(events) == ["Enrollment.Paused"]
    assert deadline_left_by(events[0]) is None
    assert (enrollment.status, enrollment.paused_at) == (EnrollmentStatus.PAUSED, T0 + DAY)


def test_pausing_a_paused_enrollment_records_nothing() -> None:
    enrollment = given(an_enrollment(), paused(T0 + DAY))
    enrollment.pause(T0 + 2 * DAY)
    assert new_events(enrollment) == []
    assert enrollment.paused_at == T0 + DAY


def test_resuming_pushes_the_end_date_by_exactly_the_time_spent_paused() -> None:
    enrollment = given(an_enrollment(), paused(T0 + DAY))
    enrollment.resume(T0 + 4 * DAY + 3 * HOUR)
    events = new_events(enrollment)
    assert names(events) == ["Enrollment.Resumed"]
    pushed = ENDS + 3 * DAY + 3 * HOUR
    assert events[0].ends_at == pushed == enrollment.ends_at
    assert deadline_left_by(events[0]) == end_deadline(pushed)
    assert (enrollment.status, enrollment.paused_at) == (EnrollmentStatus.ACTIVE, None)


def test_two_pauses_push_the_end_date_by_their_sum() -> None:
    enrollment = given(
        an_enrollment(),
        paused(T0 + DAY),
        resumed(T0 + 2 * DAY),
        paused(T0 + 5 * DAY),
        resumed(T0 + 8 * DAY),
    )
    assert enrollment.ends_at == ENDS + 4 * DAY


def test_resuming_an_active_enrollment_records_nothing() -> None:
    enrollment = given(an_enrollment())
    enrollment.resume(T0 + DAY)
    assert new_events(enrollment) == []
    assert enrollment.ends_at == ENDS


@pytest.mark.parametrize(
    ("requires_approval", "steps"),
    [
        (True, ()),
        (False, (completed(1, S1), completed(2, S2), completed(3), completed(4))),
        (False, (wakeup(ENDS),)),
    ],
    ids=["pending", "completed", "expired"],
)
@pytest.mark.parametrize("command", ["pause", "resume"])
def test_only_an_active_enrollment_pauses_and_only_a_paused_one_resumes(
    requires_approval: bool, steps: tuple[Step, ...], command: str
) -> None:
    enrollment = given(an_enrollment(requires_approval=requires_approval), *steps)
    with pytest.raises(EnrollmentStateError):
        getattr(enrollment, command)(ENDS + DAY)
    assert new_events(enrollment) == []


# -- completing sessions ------------------------------------------------------------------


def test_a_performed_session_is_recorded_with_what_was_measured() -> None:
    enrollment = given(an_enrollment())
    assert enrollment.complete_session(completion(1)) is True
    events = new_events(enrollment)
    assert names(events) == ["Enrollment.SessionCompleted"]
    recorded = events[0].completion
    assert recorded == completion(1)
    assert (recorded.pain_before, recorded.pain_after) == (5, 3)
    result = recorded.exercises[0]
    assert (result.prescribed, result.actual) == ({"sets": 3, "reps": 10}, {"sets": 3, "reps": 8})
    assert (result.video_watch_percent, result.pose_accuracy) == (92.5, 0.81)
    assert events[0].timestamp == T0 + DAY


def test_the_same_workout_completes_a_session_only_once() -> None:
    enrollment = given(an_enrollment(), completed(1))
    assert enrollment.complete_session(completion(1, S2, T0 + 2 * DAY)) is False
    assert new_events(enrollment) == []
    assert len(enrollment.completions) == 1


def test_a_session_not_in_the_pinned_version_is_not_counted() -> None:
    enrollment = given(an_enrollment())
    with pytest.raises(EnrollmentStateError):
        enrollment.complete_session(completion(1, ELSEWHERE))
    assert new_events(enrollment) == []


@pytest.mark.parametrize(
    ("requires_approval", "steps"),
    [(True, ()), (False, (paused(T0 + HOUR),)), (False, (wakeup(ENDS),))],
    ids=["pending", "paused", "expired"],
)
def test_a_session_is_only_completed_while_the_enrollment_is_active(
    requires_approval: bool, steps: tuple[Step, ...]
) -> None:
    enrollment = given(an_enrollment(requires_approval=requires_approval), *steps)
    with pytest.raises(EnrollmentStateError):
        enrollment.complete_session(completion(1))
    assert new_events(enrollment) == []


def test_the_last_session_needed_completes_the_enrollment_and_clears_the_deadline() -> None:
    enrollment = given(an_enrollment(), completed(1, S1), completed(2, S2), completed(3, S1))
    assert enrollment.complete_session(completion(4, S2, T0 + 5 * DAY)) is True
    events = new_events(enrollment)
    assert names(events) == ["Enrollment.SessionCompleted", "Enrollment.Completed"]
    assert events[1].timestamp == T0 + 5 * DAY
    assert deadline_left_by(events[1]) is None
    assert enrollment.status is EnrollmentStatus.COMPLETED


def test_frequency_times_weeks_sessions_do_not_complete_it_while_a_blueprint_was_never_done() -> (
    None
):
    enrollment = given(an_enrollment(), completed(1), completed(2), completed(3))
    enrollment.complete_session(completion(4, S1))
    assert names(new_events(enrollment)) == ["Enrollment.SessionCompleted"]
    assert enrollment.is_active
    enrollment.complete_session(completion(5, S2))
    assert names(new_events(enrollment)) == [
        "Enrollment.SessionCompleted",
        "Enrollment.Completed",
    ]


def test_every_blueprint_done_once_does_not_complete_it_before_frequency_times_weeks() -> None:
    enrollment = given(an_enrollment(), completed(1, S1))
    enrollment.complete_session(completion(2, S2))
    assert names(new_events(enrollment)) == ["Enrollment.SessionCompleted"]
    assert enrollment.is_active and not enrollment.is_done


def test_a_completed_enrollment_counts_no_further_session() -> None:
    enrollment = given(
        an_enrollment(frequency=1, weeks=1, sessions=(S1,)),
        completed(1),
    )
    assert enrollment.status is EnrollmentStatus.COMPLETED
    with pytest.raises(EnrollmentStateError):
        enrollment.complete_session(completion(2))
    assert enrollment.complete_session(completion(1)) is False
    assert new_events(enrollment) == []


# -- expiring: the end deadline's wake-up -------------------------------------------------


def test_the_end_date_passing_while_active_expires_the_enrollment() -> None:
    enrollment = given(an_enrollment(), completed(1))
    enrollment.elapse(ENDS, ENDS + HOUR)
    events = new_events(enrollment)
    assert names(events) == ["Enrollment.Expired"]
    assert events[0].timestamp == ENDS + HOUR
    assert deadline_left_by(events[0]) is None
    assert enrollment.status is EnrollmentStatus.EXPIRED


def test_an_early_wake_up_does_nothing() -> None:
    enrollment = given(an_enrollment())
    enrollment.elapse(ENDS, ENDS - timedelta(seconds=1))
    assert new_events(enrollment) == []
    assert enrollment.is_active


def test_a_second_wake_up_for_the_same_end_does_nothing() -> None:
    enrollment = given(an_enrollment(), wakeup(ENDS))
    enrollment.elapse(ENDS, ENDS + DAY)
    assert new_events(enrollment) == []


def test_a_wake_up_while_paused_does_nothing() -> None:
    enrollment = given(an_enrollment(), paused(ENDS - DAY))
    enrollment.elapse(ENDS, ENDS + DAY)
    assert new_events(enrollment) == []
    assert enrollment.status is EnrollmentStatus.PAUSED


def test_a_wake_up_for_the_end_date_before_a_pause_does_nothing_after_resuming() -> None:
    enrollment = given(an_enrollment(), paused(ENDS - 2 * DAY), resumed(ENDS - DAY))
    enrollment.elapse(ENDS, ENDS + HOUR)
    assert new_events(enrollment) == []
    enrollment.elapse(ENDS + DAY, ENDS + DAY)
    assert names(new_events(enrollment)) == ["Enrollment.Expired"]


def test_a_wake_up_after_completion_does_nothing() -> None:
    enrollment = given(
        an_enrollment(frequency=1, weeks=1, sessions=(S1,)),
        completed(1),
    )
    enrollment.elapse(T0 + timedelta(weeks=1), T0 + timedelta(weeks=1))
    assert new_events(enrollment) == []
    assert enrollment.status is EnrollmentStatus.COMPLETED


def test_a_pending_enrollment_does_not_expire() -> None:
    enrollment = given(an_enrollment(requires_approval=True))
    enrollment.elapse(ENDS, ENDS + DAY)
    assert new_events(enrollment) == []
    assert enrollment.status is EnrollmentStatus.PENDING_APPROVAL
