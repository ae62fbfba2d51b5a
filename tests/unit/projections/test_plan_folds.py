"""The treatment-plan read models as pure folds, without a database: given the events the
aggregates themselves record, then the rows of exercises, plans, versions, the library,
enrollments and service plans."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from domain.plans.content import (
    ExerciseParams,
    Mode,
    PlanContent,
    PlanExercise,
    PlanSession,
    PlanType,
    Scope,
    Visibility,
)
from domain.plans.enrollment import Enrollment, ExerciseResult, SessionCompletion
from domain.plans.exercise import Exercise
from domain.plans.plan import TreatmentPlan
from domain.plans.service_plan import ServicePlan, service_plan_id
from domain.privacy.personal import PersonalText
from projections.deadlines.evolve import sort_key
from projections.plans.evolve import (
    KEY,
    LATEST,
    VERSIONS,
    content_doc,
    enrollment_key,
    evolve_enrollment,
    evolve_exercise,
    evolve_plan,
    evolve_service_plan,
    key_range,
    library_key,
    library_row,
    params_doc,
    public,
    version_row,
)
from projections.platform.store import Doc

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
TENANT = uuid.UUID("00000000-0000-4000-a000-00000000c001")
DOCTOR = uuid.UUID("00000000-0000-4000-a000-00000000d001")
SECOND_DOCTOR = uuid.UUID("00000000-0000-4000-a000-00000000d002")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
PLAN = uuid.UUID("00000000-0000-4000-a000-00000000f001")
EXERCISE = uuid.UUID("00000000-0000-4000-a000-00000000a001")
SESSION = uuid.UUID("00000000-0000-4000-a000-00000000b001")
ENROLLMENT = uuid.UUID("00000000-0000-4000-a000-0000000e0001")
WORKOUT = uuid.UUID("00000000-0000-4000-a000-0000000ff001")

Fold = Callable[[Doc | None, Any], Doc | None]


def pure(evolve: Fold) -> Fold:
    def step(row: Doc | None, event: Any) -> Doc | None:
        before = copy.deepcopy(row)
        after = evolve(row, event)
        assert row == before, "a fold must not change the row it was given"
        return after

    return step


def fold(evolve: Fold, events: list[Any]) -> Doc:
    row = reduce(pure(evolve), events, None)
    assert row is not None
    return row


def plan_content(title: str = "Knee", visibility: str = Visibility.LIBRARY.value) -> PlanContent:
    return PlanContent(
        title=title,
        plan_type=PlanType.TELEREHAB.value,
        frequency_per_week=2,
        duration_weeks=3,
        visibility=visibility,
        requires_approval=False,
        sessions=(
            PlanSession(
                SESSION,
                "Day 1",
                (PlanExercise(EXERCISE, ExerciseParams(Mode.REPS.value, 3, 30, reps=10)),),
            ),
        ),
        condition="knee",
        difficulty="easy",
        body_region="leg",
    )


def designed(
    scope: Scope = Scope.ORG,
    content: PlanContent | None = None,
    patient: uuid.UUID | None = None,
) -> TreatmentPlan:
    tenant = None if scope is Scope.GLOBAL else TENANT
    return TreatmentPlan.design(PLAN, tenant, scope, patient, DOCTOR, content or plan_content(), T0)


def events_of(aggregate: Any) -> list[Any]:
    return list(aggregate.collect_events())


# -- content --------------------------------------------------------------------------------


def test_params_carry_exactly_the_keys_of_their_mode() -> None:
    assert params_doc(ExerciseParams(Mode.REPS.value, 3, 30, reps=10)) == {
        "mode": "reps",
        "sets": 3,
        "reps": 10,
        "restBetweenSetsSeconds": 30,
    }
    assert params_doc(ExerciseParams(Mode.DURATION.value, 2, 15, hold_seconds=45)) == {
        "mode": "duration",
        "sets": 2,
        "holdSeconds": 45,
        "restBetweenSetsSeconds": 15,
    }


def test_a_partitions_key_range_holds_every_name_and_nothing_of_another_partition() -> None:
    after, below = key_range("tenant|")
    inside = [library_key("tenant", t, "id") for t in ("", "zz", "\uffff", "😀", "a|b")]
    assert all(after < key < below for key in inside)
    assert not after < library_key("tenant2", "a", "id") < below
    assert not after < library_key(None, "a", "id") < below


# -- exercises ------------------------------------------------------------------------------


def test_a_global_exercise_has_no_tenant_and_sorts_in_the_global_partition() -> None:
    exercise = Exercise.create(EXERCISE, None, DOCTOR, "Squat", T0, "leg", "Down, up.", None)
    assert fold(evolve_exercise, events_of(exercise)) == {
        "id": str(EXERCISE),
        "tenantId": None,
        "scope": "global",
        "name": "Squat",
        "bodyRegion": "leg",
        "description": "Down, up.",
        "videoUrl": None,
        "createdAt": T0.isoformat(),
        "updatedAt": T0.isoformat(),
        KEY: f"global|squat|{EXERCISE}",
    }


def test_an_edited_exercise_shows_its_new_content_and_sorts_by_its_new_name() -> None:
    exercise = Exercise.create(EXERCISE, TENANT, DOCTOR, "Squat", T0)
    exercise.edit("Bridge", "hip", None, "https://videos.example/b", T0 + DAY)
    row = fold(evolve_exercise, events_of(exercise))
    assert (row["scope"], row["tenantId"], row["name"]) == ("org", str(TENANT), "Bridge")
    assert (row["bodyRegion"], row["videoUrl"]) == ("hip", "https://videos.example/b")
    assert (row["createdAt"], row["updatedAt"]) == (T0.isoformat(), (T0 + DAY).isoformat())
    assert row[KEY] == f"{TENANT}|bridge|{EXERCISE}"


# -- plans ----------------------------------------------------------------------------------


def test_a_drafted_plan_is_a_draft_whose_current_content_is_the_draft() -> None:
    row = fold(evolve_plan, events_of(designed()))
    assert public(row) == {
        "id": str(PLAN),
        "tenantId": str(TENANT),
        "scope": "org",
        "patientId": None,
        "createdBy": str(DOCTOR),
        "clonedFrom": None,
        "status": "draft",
        "latestVersion": None,
        "draft": content_doc(plan_content()),
        "current": content_doc(plan_content()),
        "createdAt": T0.isoformat(),
        "updatedAt": T0.isoformat(),
        "promotedAt": None,
    }
    assert library_row(row) is None


def test_publishing_then_editing_shows_the_draft_beside_the_latest_version() -> None:
    plan = designed()
    plan.publish(T0 + DAY)
    published = fold(evolve_plan, events_of(plan))
    assert (published["status"], published["latestVersion"], published["draft"]) == (
        "published",
        1,
        None,
    )
    assert published["current"] == content_doc(plan_content())
    assert published[VERSIONS] == [{"version": 1, "publishedAt": (T0 + DAY).isoformat()}]

    plan.edit(plan_content("Knee, harder"), T0 + 2 * DAY)
    edited = reduce(pure(evolve_plan), events_of(plan), published)
    assert edited is not None
    assert edited["status"] == "published_with_draft"
    assert edited["draft"] == edited["current"] == content_doc(plan_content("Knee, harder"))
    assert edited["latestVersion"] == 1
    assert edited["updatedAt"] == (T0 + 2 * DAY).isoformat()
    # The library still shows version 1 while version 2 is being drafted.
    assert library_row(edited) == library_row(published)


def test_a_version_row_is_the_snapshot_as_published() -> None:
    plan = designed()
    version = plan.publish(T0 + DAY)
    assert version_row(str(PLAN), version) == {
        "id": f"{PLAN}:1",
        "planId": str(PLAN),
        "version": 1,
        "publishedAt": (T0 + DAY).isoformat(),
        "snapshot": content_doc(plan_content()),
    }


def test_a_library_entry_is_the_latest_version_of_a_global_or_org_library_plan() -> None:
    plan = designed(Scope.GLOBAL)
    plan.publish(T0)
    assert library_row(fold(evolve_plan, events_of(plan))) == {
        "id": str(PLAN),
        "scope": "global",
        "tenantId": None,
        "latestVersion": 1,
        "title": "Knee",
        "type": "telerehab",
        "condition": "knee",
        "difficulty": "easy",
        "bodyRegion": "leg",
        "frequencyPerWeek": 2,
        "durationWeeks": 3,
        KEY: f"global|knee|{PLAN}",
    }


def test_private_and_custom_plans_have_no_library_entry_until_promoted() -> None:
    private = designed(content=plan_content(visibility=Visibility.PRIVATE.value))
    private.publish(T0)
    assert library_row(fold(evolve_plan, events_of(private))) is None

    custom = designed(Scope.CUSTOM, patient=PATIENT)
    custom.publish(T0)
    before = fold(evolve_plan, events_of(custom))
    assert library_row(before) is None
    custom.promote(DOCTOR, T0 + DAY)
    promoted = reduce(pure(evolve_plan), events_of(custom), before)
    assert promoted is not None
    assert (promoted["scope"], promoted["patientId"]) == ("org", None)
    assert promoted["promotedAt"] == (T0 + DAY).isoformat()
    entry = library_row(promoted)
    assert entry is not None and entry["scope"] == "org"


titles = st.text(alphabet="abcXYZ |", min_size=1, max_size=8).filter(str.strip)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("edit"), titles, st.sampled_from(list(Visibility))),
        st.tuples(st.just("publish"), st.just(""), st.just(Visibility.LIBRARY)),
    ),
    max_size=12,
)


@given(steps)
def test_version_rows_and_the_library_entry_follow_any_edits_and_publishes(
    plan_steps: list[tuple[str, str, Visibility]],
) -> None:
    """Whatever edits and publishes follow, each version's row is its snapshot as
    published (written once), and the library entry is the latest version's."""
    plan = designed()
    snapshots: dict[int, PlanContent] = {}
    for i, (step, title, visibility) in enumerate(plan_steps):
        at = T0 + (i + 1) * DAY
        if step == "edit":
            plan.edit(plan_content(title, visibility.value), at)
        elif plan.draft is not None:
            version = plan.publish(at)
            snapshots[version.version] = version.snapshot
    row: Doc | None = None
    version_rows: dict[str, Doc] = {}
    for event in events_of(plan):
        row = pure(evolve_plan)(row, event)
        if isinstance(event, TreatmentPlan.Published):
            key = f"{PLAN}:{event.version.version}"
            assert key not in version_rows, "a version row is written once"
            version_rows[key] = version_row(str(PLAN), event.version)
    assert row is not None
    assert {r["version"]: r["snapshot"] for r in version_rows.values()} == {
        n: content_doc(snapshot) for n, snapshot in snapshots.items()
    }
    assert [v["version"] for v in row[VERSIONS]] == sorted(snapshots)
    latest = plan.latest
    expected_in_library = latest is not None and latest.snapshot.visibility == "library"
    assert (library_row(row) is not None) == expected_in_library
    if latest is not None:
        assert row[LATEST]["title"] == latest.snapshot.title


# -- enrollments ----------------------------------------------------------------------------


def enrolled(requires_approval: bool = False, self_assigned: bool = False) -> Enrollment:
    return Enrollment.enroll(
        ENROLLMENT,
        TENANT,
        PATIENT,
        PLAN,
        1,
        PlanType.TELEREHAB.value,
        2,
        1,
        [SESSION],
        PATIENT if self_assigned else DOCTOR,
        self_assigned,
        requires_approval,
        T0,
    )


def completion(at: datetime, workout: uuid.UUID = WORKOUT) -> SessionCompletion:
    return SessionCompletion(
        session_id=SESSION,
        workout_id=workout,
        completed_at=at,
        exercises=(
            ExerciseResult(
                exercise_id="e1",
                prescribed={"sets": 3, "reps": 10},
                actual={"sets": 3, "reps": 9},
                pain=2,
                video_watch_percent=100.0,
                pose_accuracy=71.5,
            ),
        ),
        pain_before=4,
        pain_after=2,
        questionnaire={"How was it?": PersonalText(PATIENT, "Fine")},
    )


def test_a_pending_enrollment_has_not_started_and_has_no_end() -> None:
    row = fold(evolve_enrollment, events_of(enrolled(requires_approval=True)))
    assert row == {
        "id": str(ENROLLMENT),
        "tenantId": str(TENANT),
        "patientId": str(PATIENT),
        "planId": str(PLAN),
        "version": 1,
        "planType": "telerehab",
        "status": "pending_approval",
        "selfAssigned": False,
        "assignedBy": str(DOCTOR),
        "approvedBy": None,
        "enrolledAt": T0.isoformat(),
        "startedAt": None,
        "endsAt": None,
        "pausedAt": None,
        "frequencyPerWeek": 2,
        "durationWeeks": 1,
        "completions": [],
        KEY: enrollment_key(str(PATIENT), T0, str(ENROLLMENT)),
    }
    assert row[KEY] == f"{PATIENT}|{sort_key(T0)}|{ENROLLMENT}"


def test_approval_starts_an_enrollment_and_sets_its_end() -> None:
    enrollment = enrolled(requires_approval=True)
    enrollment.approve(SECOND_DOCTOR, T0 + DAY)
    row = fold(evolve_enrollment, events_of(enrollment))
    assert (row["status"], row["approvedBy"]) == ("active", str(SECOND_DOCTOR))
    assert row["startedAt"] == (T0 + DAY).isoformat()
    assert row["endsAt"] == (T0 + DAY + timedelta(weeks=1)).isoformat()


def test_a_self_assigned_enrollment_is_active_at_once() -> None:
    row = fold(evolve_enrollment, events_of(enrolled(self_assigned=True)))
    assert (row["status"], row["selfAssigned"], row["assignedBy"]) == (
        "active",
        True,
        str(PATIENT),
    )
    assert row["startedAt"] == T0.isoformat()


def test_pausing_then_resuming_pushes_the_end_back_by_the_paused_time() -> None:
    enrollment = enrolled()
    enrollment.pause(T0 + DAY)
    paused = fold(evolve_enrollment, events_of(enrollment))
    assert (paused["status"], paused["pausedAt"]) == ("paused", (T0 + DAY).isoformat())
    enrollment.resume(T0 + 3 * DAY)
    resumed = reduce(pure(evolve_enrollment), events_of(enrollment), paused)
    assert resumed is not None
    assert (resumed["status"], resumed["pausedAt"]) == ("active", None)
    assert resumed["endsAt"] == (T0 + timedelta(weeks=1) + 2 * DAY).isoformat()


def test_completed_sessions_are_listed_and_the_last_one_completes_the_enrollment() -> None:
    enrollment = enrolled()
    enrollment.complete_session(completion(T0 + DAY))
    once = fold(evolve_enrollment, events_of(enrollment))
    assert once["status"] == "active"
    assert once["completions"] == [
        {
            "sessionId": str(SESSION),
            "workoutId": str(WORKOUT),
            "completedAt": (T0 + DAY).isoformat(),
            "painBefore": 4,
            "painAfter": 2,
            "questionnaire": {"How was it?": PersonalText(PATIENT, "Fine")},
            "exercises": [
                {
                    "exerciseId": "e1",
                    "prescribed": {"sets": 3, "reps": 10},
                    "actual": {"sets": 3, "reps": 9},
                    "pain": 2,
                    "videoWatchPercent": 100.0,
                    "poseAccuracy": 71.5,
                }
            ],
        }
    ]
    enrollment.complete_session(completion(T0 + 2 * DAY, uuid.uuid4()))
    done = reduce(pure(evolve_enrollment), events_of(enrollment), once)
    assert done is not None
    assert done["status"] == "completed"
    assert len(done["completions"]) == 2


def test_an_enrollment_past_its_end_is_expired() -> None:
    enrollment = enrolled()
    ends_at = T0 + timedelta(weeks=1)
    enrollment.elapse(ends_at, ends_at)
    assert fold(evolve_enrollment, events_of(enrollment))["status"] == "expired"


def test_events_of_an_unknown_row_leave_no_row() -> None:
    enrollment = enrolled()
    events_of(enrollment)
    enrollment.pause(T0 + DAY)
    assert reduce(pure(evolve_enrollment), events_of(enrollment), None) is None


# -- service plans --------------------------------------------------------------------------


def test_a_service_plan_grants_nothing_until_set() -> None:
    service = ServicePlan.for_patient(TENANT, PATIENT, T0)
    assert service.id == service_plan_id(PATIENT)
    started = fold(evolve_service_plan, events_of(service))
    assert started == {
        "patientId": str(PATIENT),
        "tenantId": str(TENANT),
        "telerehabAccess": False,
        "libraryAccess": False,
        "active": False,
        "updatedAt": T0.isoformat(),
    }
    service.set(True, False, True, T0 + DAY)
    row = reduce(pure(evolve_service_plan), events_of(service), started)
    assert row is not None
    assert (row["telerehabAccess"], row["libraryAccess"], row["active"]) == (True, False, True)
    assert row["updatedAt"] == (T0 + DAY).isoformat()
