"""Treatment plans: given / when / then, without a database. A plan starts as a draft;
publishing snapshots it as an immutable version; editing a published plan starts a new
draft beside the versions; a published custom plan can be promoted to the clinic's
library. Parameters are validated exactly as api.md gives them, with the bounds of
docs/decisions/0022-treatment-plans.md."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.plans.content import (
    ExerciseParams,
    PlanContent,
    PlanExercise,
    PlanSession,
    Scope,
    sessions_with_ids,
)
from domain.plans.errors import InvalidPlanError, PlanStateError
from domain.plans.plan import PlanVersion, TreatmentPlan
from tests.support.given import Step, given, names, new_events

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
T2 = T0 + timedelta(days=2)
T3 = T0 + timedelta(days=3)
PLAN = uuid.UUID("00000000-0000-4000-a000-0000000aa001")
SOURCE = uuid.UUID("00000000-0000-4000-a000-0000000aa002")
TENANT = uuid.UUID("00000000-0000-4000-a000-00000000c001")
DOCTOR = uuid.UUID("00000000-0000-4000-a000-00000000d001")
ADMIN = uuid.UUID("00000000-0000-4000-a000-00000000d002")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
SQUAT = uuid.UUID("00000000-0000-4000-a000-0000000ee001")
PLANK = uuid.UUID("00000000-0000-4000-a000-0000000ee002")
S1 = uuid.UUID("00000000-0000-4000-a000-0000000b5001")
S2 = uuid.UUID("00000000-0000-4000-a000-0000000b5002")

REPS = ExerciseParams("reps", sets=3, rest_between_sets_seconds=30, reps=10)
HOLD = ExerciseParams("duration", sets=3, rest_between_sets_seconds=30, hold_seconds=30)


def content(**overrides: Any) -> PlanContent:
    fields: dict[str, Any] = {
        "title": "Post-ACL Weeks 1-4",
        "plan_type": "telerehab",
        "frequency_per_week": 3,
        "duration_weeks": 4,
        "visibility": "private",
        "requires_approval": False,
        "sessions": (
            PlanSession(S1, "Knee mobility", (PlanExercise(SQUAT, REPS),)),
            PlanSession(S2, "Core", (PlanExercise(PLANK, HOLD),)),
        ),
        "condition": "ACL reconstruction",
        "difficulty": "beginner",
        "body_region": "knee",
        **overrides,
    }
    return PlanContent(**fields)


def a_plan(
    scope: Scope = Scope.CUSTOM,
    tenant_id: uuid.UUID | None = TENANT,
    patient_id: uuid.UUID | None = None,
    **overrides: Any,
) -> TreatmentPlan:
    return TreatmentPlan.design(
        PLAN, tenant_id, scope, patient_id, DOCTOR, content(**overrides), T0
    )


def published(at: datetime = T1) -> Step:
    return lambda p: p.publish(at)


def edited(at: datetime = T2, **overrides: Any) -> Step:
    return lambda p: p.edit(content(**overrides), at)


def fields_of(error: pytest.ExceptionInfo[InvalidPlanError]) -> list[str]:
    return [e["field"] for e in error.value.errors]


def params_errors(params: ExerciseParams) -> list[str]:
    with pytest.raises(InvalidPlanError) as error:
        a_plan(sessions=(PlanSession(S1, "Knee", (PlanExercise(SQUAT, params),)),))
    return fields_of(error)


# -- designing ----------------------------------------------------------------------------


def test_designing_a_plan_records_a_draft_with_its_whole_content() -> None:
    plan = a_plan(patient_id=PATIENT)
    events = new_events(plan)
    assert names(events) == ["TreatmentPlan.Drafted"]
    assert events[0].content == content()
    assert (events[0].tenant_id, events[0].scope, events[0].patient_id) == (
        TENANT,
        "custom",
        PATIENT,
    )
    assert events[0].cloned_from is None


def test_a_designed_plan_is_a_draft_with_no_version() -> None:
    plan = given(a_plan())
    assert plan.draft == content()
    assert plan.current == content()
    assert (plan.is_published, plan.latest, plan.published(1)) == (False, None, None)
    assert not plan.in_library()


def test_a_clone_remembers_the_plan_it_was_cloned_from() -> None:
    clone = TreatmentPlan.design(
        PLAN, TENANT, Scope.CUSTOM, None, DOCTOR, content(), T0, cloned_from=SOURCE
    )
    assert given(clone).cloned_from == SOURCE


def test_a_global_plan_belongs_to_no_clinic() -> None:
    plan = given(a_plan(Scope.GLOBAL, tenant_id=None))
    assert (plan.scope, plan.tenant_id) == (Scope.GLOBAL, None)


@pytest.mark.parametrize(
    ("scope", "tenant_id"),
    [(Scope.GLOBAL, TENANT), (Scope.ORG, None), (Scope.CUSTOM, None)],
)
def test_a_scope_that_does_not_fit_the_clinic_is_rejected(
    scope: Scope, tenant_id: uuid.UUID | None
) -> None:
    with pytest.raises(InvalidPlanError) as error:
        a_plan(scope, tenant_id=tenant_id)
    assert fields_of(error) == ["scope"]


@pytest.mark.parametrize("scope", [Scope.ORG, Scope.GLOBAL])
def test_only_a_custom_plan_is_for_one_patient(scope: Scope) -> None:
    tenant = None if scope is Scope.GLOBAL else TENANT
    with pytest.raises(InvalidPlanError) as error:
        a_plan(scope, tenant_id=tenant, patient_id=PATIENT)
    assert fields_of(error) == ["patientId"]


# -- validation: the parameters exactly as api.md gives them ------------------------------


def test_a_reps_exercise_and_a_duration_exercise_at_their_bounds_are_accepted() -> None:
    low = ExerciseParams("reps", sets=1, rest_between_sets_seconds=0, reps=1)
    high = ExerciseParams("reps", sets=20, rest_between_sets_seconds=600, reps=100)
    short = ExerciseParams("duration", sets=1, rest_between_sets_seconds=0, hold_seconds=1)
    long = ExerciseParams("duration", sets=20, rest_between_sets_seconds=600, hold_seconds=3600)
    exercises = tuple(PlanExercise(SQUAT, p) for p in (low, high, short, long))
    plan = a_plan(sessions=(PlanSession(S1, "Edges", exercises),))
    assert plan.current.sessions[0].exercises == exercises


@pytest.mark.parametrize(
    ("params", "field"),
    [
        (ExerciseParams("reps", 0, 30, reps=10), "sets"),
        (ExerciseParams("reps", 21, 30, reps=10), "sets"),
        (ExerciseParams("reps", 3, 30, reps=0), "reps"),
        (ExerciseParams("reps", 3, 30, reps=101), "reps"),
        (ExerciseParams("reps", 3, 30), "reps"),
        (ExerciseParams("reps", 3, -1, reps=10), "restBetweenSetsSeconds"),
        (ExerciseParams("reps", 3, 601, reps=10), "restBetweenSetsSeconds"),
        (ExerciseParams("reps", 3, 30, reps=10, hold_seconds=30), "holdSeconds"),
        (ExerciseParams("duration", 3, 30, hold_seconds=0), "holdSeconds"),
        (ExerciseParams("duration", 3, 30, hold_seconds=3601), "holdSeconds"),
        (ExerciseParams("duration", 3, 30), "holdSeconds"),
        (ExerciseParams("duration", 3, 30, reps=10, hold_seconds=30), "reps"),
        (ExerciseParams("timed", 3, 30, reps=10), "mode"),
        (ExerciseParams("reps", True, 30, reps=10), "sets"),  # a boolean is not a count
    ],
)
def test_an_exercise_parameter_outside_its_bounds_is_rejected_naming_it(
    params: ExerciseParams, field: str
) -> None:
    assert params_errors(params) == [f"sessions[0].exercises[0].params.{field}"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"frequency_per_week": 0}, "frequencyPerWeek"),
        ({"frequency_per_week": 15}, "frequencyPerWeek"),
        ({"duration_weeks": 0}, "durationWeeks"),
        ({"duration_weeks": 105}, "durationWeeks"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"plan_type": "home"}, "type"),
        ({"visibility": "public"}, "visibility"),
        ({"condition": ""}, "condition"),
        ({"difficulty": "x" * 101}, "difficulty"),
        ({"body_region": " "}, "bodyRegion"),
        ({"questionnaire": ("How was it?", " ")}, "questionnaire[1]"),
    ],
)
def test_a_plan_field_outside_its_bounds_is_rejected_naming_it(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidPlanError) as error:
        a_plan(**overrides)
    assert fields_of(error) == [field]


def test_every_unacceptable_field_is_named_at_once() -> None:
    with pytest.raises(InvalidPlanError) as error:
        a_plan(
            title="",
            frequency_per_week=0,
            sessions=(PlanSession(S1, "", (PlanExercise(SQUAT, ExerciseParams("reps", 0, 30)),)),),
        )
    assert fields_of(error) == [
        "title",
        "frequencyPerWeek",
        "sessions[0].title",
        "sessions[0].exercises[0].params.reps",
        "sessions[0].exercises[0].params.sets",
    ]


def test_two_sessions_with_the_same_id_are_rejected() -> None:
    twice = PlanSession(S1, "Knee", (PlanExercise(SQUAT, REPS),))
    with pytest.raises(InvalidPlanError) as error:
        a_plan(sessions=(twice, replace(twice, title="Knee again")))
    assert fields_of(error) == ["sessions"]


def test_sessions_keep_the_ids_they_were_given_and_new_ones_get_fresh_ids() -> None:
    fresh = iter([S2])
    sessions = sessions_with_ids(
        [(S1, "Knee", [PlanExercise(SQUAT, REPS)]), (None, "Core", [PlanExercise(PLANK, HOLD)])],
        lambda: next(fresh),
    )
    assert [(s.id, s.title) for s in sessions] == [(S1, "Knee"), (S2, "Core")]


# -- publishing ---------------------------------------------------------------------------


def test_publishing_a_draft_snapshots_it_as_version_1() -> None:
    plan = given(a_plan())
    version = plan.publish(T1)
    events = new_events(plan)
    assert names(events) == ["TreatmentPlan.Published"]
    assert events[0].version == PlanVersion(1, T1, content()) == version
    assert (plan.draft, plan.latest, plan.published(1)) == (None, version, version)


def test_a_published_plan_shows_its_latest_version_as_current() -> None:
    plan = given(a_plan(), published())
    assert plan.current == content()
    assert plan.is_published


@pytest.mark.parametrize(
    "sessions",
    [(), (PlanSession(S1, "Empty", ()), PlanSession(S2, "Also empty", ()))],
    ids=["no session", "sessions without exercises"],
)
def test_a_plan_without_a_session_with_an_exercise_is_not_published(
    sessions: tuple[PlanSession, ...],
) -> None:
    plan = given(a_plan(sessions=sessions))
    with pytest.raises(InvalidPlanError) as error:
        plan.publish(T1)
    assert fields_of(error) == ["sessions"]
    assert new_events(plan) == []


def test_one_session_with_one_exercise_is_enough_to_publish() -> None:
    plan = given(a_plan(sessions=(PlanSession(S2, "Empty", ()), content().sessions[0])))
    assert plan.publish(T1).version == 1


def test_publishing_again_with_nothing_new_is_a_conflict() -> None:
    plan = given(a_plan(), published())
    with pytest.raises(PlanStateError):
        plan.publish(T2)
    assert new_events(plan) == []


# -- editing ------------------------------------------------------------------------------


def test_editing_a_draft_replaces_it() -> None:
    plan = given(a_plan())
    plan.edit(content(title="Post-ACL, gentler"), T1)
    assert names(new_events(plan)) == ["TreatmentPlan.DraftEdited"]
    assert plan.current.title == "Post-ACL, gentler"


def test_an_edit_that_changes_nothing_records_nothing() -> None:
    plan = given(a_plan())
    plan.edit(content(), T1)
    assert new_events(plan) == []


def test_an_invalid_edit_is_rejected_and_keeps_the_draft() -> None:
    plan = given(a_plan())
    with pytest.raises(InvalidPlanError):
        plan.edit(content(duration_weeks=0), T1)
    assert new_events(plan) == []
    assert plan.current == content()


def test_editing_a_published_plan_starts_a_new_draft_and_keeps_the_version() -> None:
    plan = given(a_plan(), published())
    plan.edit(content(frequency_per_week=4), T2)
    assert names(new_events(plan)) == ["TreatmentPlan.DraftEdited"]
    assert plan.draft == content(frequency_per_week=4)
    assert plan.published(1) == PlanVersion(1, T1, content())
    assert plan.latest == plan.published(1)


def test_publishing_the_new_draft_makes_version_2_beside_version_1() -> None:
    plan = given(a_plan(), published(), edited(frequency_per_week=4))
    assert plan.publish(T3) == PlanVersion(2, T3, content(frequency_per_week=4))
    assert plan.published(1) == PlanVersion(1, T1, content())
    assert plan.latest == plan.published(2)


def test_an_unpublished_edit_does_not_change_what_the_library_shows() -> None:
    plan = given(a_plan(Scope.ORG), published(), edited(visibility="library"))
    assert not plan.in_library()
    plan.publish(T3)
    assert plan.in_library()


def test_sessions_keep_their_ids_across_edits_and_versions() -> None:
    plan = given(a_plan(), published(), edited(title="Week 2"), published(T3))
    ids = [[s.id for s in plan.published(n).snapshot.sessions] for n in (1, 2)]  # type: ignore[union-attr]
    assert ids == [[S1, S2], [S1, S2]]


# -- promoting ----------------------------------------------------------------------------


def test_promoting_a_published_custom_plan_moves_it_to_the_clinics_library() -> None:
    plan = given(a_plan(patient_id=PATIENT), published())
    plan.promote(ADMIN, T2)
    events = new_events(plan)
    assert names(events) == ["TreatmentPlan.Promoted"]
    assert events[0].promoted_by == ADMIN
    assert (plan.scope, plan.patient_id) == (Scope.ORG, None)
    assert plan.published(1) == PlanVersion(1, T1, content())


def test_an_unpublished_custom_plan_cannot_be_promoted() -> None:
    plan = given(a_plan())
    with pytest.raises(PlanStateError):
        plan.promote(ADMIN, T2)
    assert new_events(plan) == []


@pytest.mark.parametrize("scope", [Scope.ORG, Scope.GLOBAL])
def test_only_a_custom_plan_can_be_promoted(scope: Scope) -> None:
    plan = given(a_plan(scope, tenant_id=None if scope is Scope.GLOBAL else TENANT), published())
    with pytest.raises(PlanStateError):
        plan.promote(ADMIN, T2)
    assert new_events(plan) == []


def test_a_promoted_plan_replays_as_an_org_plan() -> None:
    plan = given(a_plan(patient_id=PATIENT), published(), lambda p: p.promote(ADMIN, T2))
    assert (plan.scope, plan.patient_id) == (Scope.ORG, None)


def test_saving_a_published_plan_unchanged_starts_no_identical_draft() -> None:
    plan = given(a_plan(), published())

    plan.edit(content(), T2)

    assert new_events(plan) == []
    assert plan.draft is None
    with pytest.raises(PlanStateError):
        plan.publish(T3)
