"""Treatment plans' process managers: given events / when decided / then commands, without
a store. Session completion turns every finalized workout into a command that checks it;
automations turn the spec's six triggers into webhook firings, each naming the event it
came from, so deciding again (a replay, a retry) decides the same firing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.plans.content import ExerciseParams, PlanContent, PlanExercise, PlanSession, Scope
from domain.plans.enrollment import Enrollment, SessionCompletion
from domain.plans.plan import TreatmentPlan
from domain.plans.policies import (
    AUTOMATIONS,
    SESSION_COMPLETION,
    WEBHOOKS,
    CompleteSession,
    FireTrigger,
    decide_automations,
)
from domain.shared.reactions import ProcessManager
from domain.workouts.workout import Workout

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(days=1)
ENDS = T0 + timedelta(weeks=1)
TENANT = uuid.UUID("00000000-0000-4000-a000-00000000c001")
DOCTOR = uuid.UUID("00000000-0000-4000-a000-00000000d001")
OTHER_DOCTOR = uuid.UUID("00000000-0000-4000-a000-00000000d002")
PLATFORM_ADMIN = uuid.UUID("00000000-0000-4000-a000-00000000d0ff")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
PLAN = uuid.UUID("00000000-0000-4000-a000-0000000aa001")
ENROLLMENT = uuid.UUID("00000000-0000-4000-a000-0000000ab001")
WORKOUT = uuid.UUID("00000000-0000-4000-a000-00000000f001")
SQUAT = uuid.UUID("00000000-0000-4000-a000-0000000ee001")
S1 = uuid.UUID("00000000-0000-4000-a000-0000000b5001")

CONTENT = PlanContent(
    title="Lower Back Relief 4 Weeks",
    plan_type="telerehab",
    frequency_per_week=1,
    duration_weeks=1,
    visibility="library",
    requires_approval=False,
    sessions=(PlanSession(S1, "Back", (PlanExercise(SQUAT, ExerciseParams("reps", 3, 30, 10)),)),),
)


def events_of(*steps: Any) -> list[Any]:
    """The events an aggregate recorded through `steps` (the first makes it)."""
    aggregate = steps[0]()
    for step in steps[1:]:
        step(aggregate)
    return list(aggregate.collect_events())


def decisions(manager: ProcessManager, history: list[Any]) -> list[Any]:
    """What the process manager decides over a history: the platform hands it only the
    events it reacts to, one at a time."""
    return [
        command
        for event in history
        if isinstance(event, manager.reacts_to)
        for command in manager.decide(event)
    ]


def a_plan(scope: Scope = Scope.ORG) -> TreatmentPlan:
    tenant = None if scope is Scope.GLOBAL else TENANT
    author = PLATFORM_ADMIN if scope is Scope.GLOBAL else DOCTOR
    return TreatmentPlan.design(PLAN, tenant, scope, None, author, CONTENT, T0)


def an_enrollment(requires_approval: bool = False) -> Enrollment:
    return Enrollment.enroll(
        ENROLLMENT,
        TENANT,
        PATIENT,
        PLAN,
        1,
        "telerehab",
        1,
        1,
        [S1],
        DOCTOR,
        False,
        requires_approval,
        T0,
    )


def completed(e: Enrollment) -> None:
    e.complete_session(SessionCompletion(S1, WORKOUT, T2, ()))


def fired(trigger: str, event_version: int, at: datetime, **data: Any) -> FireTrigger:
    """A firing for the enrollment's event at `event_version`, its source."""
    return FireTrigger(trigger, ENROLLMENT, f"{ENROLLMENT}:{event_version}", at, data)


FACTS = {
    "enrollmentId": str(ENROLLMENT),
    "planId": str(PLAN),
    "version": 1,
    "patientId": str(PATIENT),
    "selfAssigned": False,
}


# -- session completion -------------------------------------------------------------------


def test_a_finalized_workout_is_checked_for_a_plan_session() -> None:
    history = events_of(
        lambda: Workout.start(
            WORKOUT,
            TENANT,
            PATIENT,
            [{"exerciseId": "squat", "name": "Squat", "prescribed": {}}],
            T0,
            enrollment_id=ENROLLMENT,
            session_id=S1,
        ),
        lambda w: w.finalize(T1),
        lambda w: w.finalize(T2),
    )
    assert decisions(SESSION_COMPLETION, history) == [CompleteSession(WORKOUT)]


def test_session_completion_reacts_to_nothing_but_a_finalized_workout() -> None:
    assert SESSION_COMPLETION.reacts_to == (Workout.Finalized,)


# -- automations --------------------------------------------------------------------------


def test_an_org_plans_draft_fires_created() -> None:
    history = events_of(a_plan)
    assert decisions(AUTOMATIONS, history) == [
        FireTrigger(
            "treatment_plan.created",
            PLAN,
            f"{PLAN}:1",
            T0,
            {"planId": str(PLAN), "scope": "org", "title": "Lower Back Relief 4 Weeks"},
        )
    ]


def test_a_global_plans_draft_fires_nothing_as_it_belongs_to_no_clinic() -> None:
    assert decisions(AUTOMATIONS, events_of(lambda: a_plan(Scope.GLOBAL))) == []


def test_publishing_editing_and_promoting_a_plan_fire_nothing() -> None:
    history = events_of(
        lambda: a_plan(Scope.CUSTOM),
        lambda p: p.publish(T1),
        lambda p: p.edit(PlanContent(**{**vars(CONTENT), "title": "Back, week 2"}), T2),
        lambda p: p.promote(DOCTOR, T2),
    )
    assert [c.trigger for c in decisions(AUTOMATIONS, history)] == ["treatment_plan.created"]
    assert [decide_automations(e) for e in history[1:]] == [[], [], []]


def test_an_active_assignment_fires_assigned_and_activated() -> None:
    history = events_of(an_enrollment)
    assert decisions(AUTOMATIONS, history) == [
        fired("treatment_plan.assigned", 1, T0, status="active", **FACTS),
        fired("treatment_plan.activated", 1, T0, endsAt=ENDS.isoformat(), **FACTS),
    ]


def test_an_assignment_waiting_for_approval_fires_assigned_only() -> None:
    history = events_of(lambda: an_enrollment(requires_approval=True))
    assert decisions(AUTOMATIONS, history) == [
        fired("treatment_plan.assigned", 1, T0, status="pending_approval", **FACTS)
    ]


def test_approving_fires_activated() -> None:
    history = events_of(
        lambda: an_enrollment(requires_approval=True),
        lambda e: e.approve(OTHER_DOCTOR, T1),
    )
    assert decisions(AUTOMATIONS, history[1:]) == [
        fired(
            "treatment_plan.activated",
            2,
            T1,
            enrollmentId=str(ENROLLMENT),
            endsAt=(T1 + timedelta(weeks=1)).isoformat(),
        )
    ]


def test_the_last_session_fires_session_completed_then_completed() -> None:
    history = events_of(an_enrollment, completed)
    assert decisions(AUTOMATIONS, history[1:]) == [
        fired(
            "treatment_plan.session_completed",
            2,
            T2,
            enrollmentId=str(ENROLLMENT),
            sessionId=str(S1),
            workoutId=str(WORKOUT),
            completedAt=T2.isoformat(),
        ),
        fired("treatment_plan.completed", 3, T2, enrollmentId=str(ENROLLMENT)),
    ]


def test_the_end_date_passing_fires_expired() -> None:
    history = events_of(an_enrollment, lambda e: e.elapse(ENDS, ENDS + T1.resolution))
    assert decisions(AUTOMATIONS, history[1:]) == [
        fired("treatment_plan.expired", 2, ENDS + T1.resolution, enrollmentId=str(ENROLLMENT))
    ]


def test_pausing_and_resuming_fire_nothing() -> None:
    history = events_of(an_enrollment, lambda e: e.pause(T1), lambda e: e.resume(T2))
    assert decisions(AUTOMATIONS, history[1:]) == []
    assert [decide_automations(e) for e in history[1:]] == [[], []]


@pytest.mark.parametrize(
    "steps",
    [(a_plan,), (an_enrollment, completed), (an_enrollment, lambda e: e.elapse(ENDS, ENDS))],
    ids=["created", "assigned to completed", "assigned to expired"],
)
def test_deciding_the_same_history_again_decides_the_same_firings(steps: tuple[Any]) -> None:
    history = events_of(*steps)
    assert decisions(AUTOMATIONS, history) == decisions(AUTOMATIONS, history)


def test_every_firing_of_a_history_names_a_different_source_or_trigger() -> None:
    """A delivery's id is derived from subscription, trigger and source: two firings with
    the same pair would be queued once."""
    history = events_of(an_enrollment, completed)
    keys = [(c.trigger, c.source) for c in decisions(AUTOMATIONS, history)]
    assert len(keys) == len(set(keys)) == 4


def test_automations_react_to_the_six_triggers_events_and_need_the_subscriptions() -> None:
    assert set(AUTOMATIONS.reacts_to) == {
        TreatmentPlan.Drafted,
        Enrollment.Enrolled,
        Enrollment.Approved,
        Enrollment.SessionCompleted,
        Enrollment.Completed,
        Enrollment.Expired,
    }
    assert AUTOMATIONS.needs == (WEBHOOKS,)


def test_times_in_a_firings_data_are_iso_8601_like_its_occurred_at() -> None:
    """`endsAt` and `completedAt` read as the read models and `occurredAt` write them
    (`2026-01-12T09:00:00+00:00`), not as `str(datetime)` with a space."""
    (_, activated) = decisions(AUTOMATIONS, events_of(an_enrollment))
    assert activated.data["endsAt"] == "2026-01-12T09:00:00+00:00"
    assert datetime.fromisoformat(activated.data["endsAt"]) == ENDS
