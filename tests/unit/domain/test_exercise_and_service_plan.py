"""The exercise library and a patient's service plan: given / when / then, without a
database. An exercise is global (no clinic) or a clinic's own, and its content is live:
an edit is one event on the exercise, never a copy in a plan. A service plan says what the
patient's subscription unlocks, and grants nothing while inactive."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.plans.errors import InvalidPlanError
from domain.plans.exercise import Exercise
from domain.plans.service_plan import ServicePlan, service_plan_id
from tests.support.given import given, names, new_events

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
EXERCISE = uuid.UUID("00000000-0000-4000-a000-0000000ee001")
TENANT = uuid.UUID("00000000-0000-4000-a000-00000000c001")
DOCTOR = uuid.UUID("00000000-0000-4000-a000-00000000d001")
PLATFORM_ADMIN = uuid.UUID("00000000-0000-4000-a000-00000000d0ff")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
OTHER_PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e002")
VIDEO = "https://videos.example.com/squat.mp4"


def an_exercise(tenant_id: uuid.UUID | None = TENANT, **overrides: Any) -> Exercise:
    kwargs: dict[str, Any] = {
        "name": "Wall squat",
        "body_region": "knee",
        "description": "Back against the wall, slide down to 90 degrees.",
        "video_url": VIDEO,
        **overrides,
    }
    return Exercise.create(EXERCISE, tenant_id, DOCTOR, at=T0, **kwargs)


def fields_of(error: pytest.ExceptionInfo[InvalidPlanError]) -> list[str]:
    return [e["field"] for e in error.value.errors]


# -- exercises ----------------------------------------------------------------------------


def test_a_clinics_exercise_is_created_with_its_content() -> None:
    exercise = an_exercise()
    events = new_events(exercise)
    assert names(events) == ["Exercise.Created"]
    assert (events[0].tenant_id, events[0].name, events[0].video_url) == (
        TENANT,
        "Wall squat",
        VIDEO,
    )
    assert not given(an_exercise()).is_global


def test_an_exercise_of_no_clinic_is_global() -> None:
    exercise = given(Exercise.create(EXERCISE, None, PLATFORM_ADMIN, "Plank", T0))
    assert exercise.is_global
    assert (exercise.body_region, exercise.description, exercise.video_url) == (None, None, None)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"body_region": ""}, "bodyRegion"),
        ({"body_region": "x" * 101}, "bodyRegion"),
        ({"description": "x" * 5001}, "description"),
        ({"video_url": "http://videos.example.com/squat.mp4"}, "videoUrl"),
        ({"video_url": "https:///squat.mp4"}, "videoUrl"),
        ({"video_url": "https://videos.example.com/" + "x" * 2000}, "videoUrl"),
    ],
)
def test_an_exercise_field_outside_its_bounds_is_rejected_naming_it(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidPlanError) as error:
        an_exercise(**overrides)
    assert fields_of(error) == [field]


def test_editing_an_exercise_changes_its_live_content() -> None:
    exercise = given(an_exercise())
    exercise.edit("Wall squat, 60 degrees", "knee", None, None, T1)
    events = new_events(exercise)
    assert names(events) == ["Exercise.Edited"]
    assert (exercise.name, exercise.description, exercise.video_url) == (
        "Wall squat, 60 degrees",
        None,
        None,
    )


def test_an_invalid_edit_of_an_exercise_is_rejected_and_keeps_it() -> None:
    exercise = given(an_exercise())
    with pytest.raises(InvalidPlanError):
        exercise.edit("", "knee", None, VIDEO, T1)
    assert new_events(exercise) == []
    assert exercise.name == "Wall squat"


# -- service plans ------------------------------------------------------------------------


def test_a_service_plans_id_is_derived_from_its_patient() -> None:
    assert service_plan_id(PATIENT) == service_plan_id(PATIENT) != service_plan_id(OTHER_PATIENT)
    plan = ServicePlan.for_patient(TENANT, PATIENT, T0)
    assert plan.id == service_plan_id(PATIENT)


def test_a_new_service_plan_grants_nothing() -> None:
    plan = given(ServicePlan.for_patient(TENANT, PATIENT, T0))
    assert (plan.grants_telerehab, plan.grants_library) == (False, False)


def test_setting_a_service_plan_records_what_it_unlocks() -> None:
    plan = given(ServicePlan.for_patient(TENANT, PATIENT, T0))
    plan.set(telerehab_access=True, library_access=True, active=True, at=T1)
    events = new_events(plan)
    assert names(events) == ["ServicePlan.Set"]
    assert (events[0].telerehab_access, events[0].library_access, events[0].active) == (
        True,
        True,
        True,
    )
    assert (plan.grants_telerehab, plan.grants_library) == (True, True)


def test_setting_the_same_service_plan_again_records_nothing() -> None:
    plan = given(
        ServicePlan.for_patient(TENANT, PATIENT, T0), lambda p: p.set(True, False, True, T0)
    )
    plan.set(True, False, True, T1)
    assert new_events(plan) == []


def test_an_inactive_service_plan_grants_nothing_whatever_its_flags() -> None:
    plan = given(
        ServicePlan.for_patient(TENANT, PATIENT, T0), lambda p: p.set(True, True, False, T0)
    )
    assert (plan.grants_telerehab, plan.grants_library) == (False, False)


@pytest.mark.parametrize(("telerehab", "library"), [(True, False), (False, True), (False, False)])
def test_each_access_is_granted_only_by_its_own_flag(telerehab: bool, library: bool) -> None:
    plan = given(
        ServicePlan.for_patient(TENANT, PATIENT, T0),
        lambda p: p.set(telerehab, library, True, T0),
    )
    assert (plan.grants_telerehab, plan.grants_library) == (telerehab, library)


def test_losing_access_is_recorded_as_a_new_setting() -> None:
    plan = given(
        ServicePlan.for_patient(TENANT, PATIENT, T0), lambda p: p.set(True, True, True, T0)
    )
    plan.set(False, True, True, T1)
    assert names(new_events(plan)) == ["ServicePlan.Set"]
    assert (plan.grants_telerehab, plan.grants_library) == (False, True)
