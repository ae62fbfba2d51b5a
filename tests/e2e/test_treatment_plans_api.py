"""Every status code of the Treatment plans endpoints, as api.md and the treatment-plans
spec state them, on SQLite and PostgreSQL: the exercise library, plans and their
versions, clone and promote, the library, assign, approve, self-assign, pause and resume,
enrollments and their progress, service plans, and workouts that perform a plan session.

One world per backend and module (a runtime takes about a second to close), with the
process managers running (a finalized workout completes its plan session) and a clock
frozen on a Wednesday, so progress is exact. Each test makes its own exercises, plans and
enrollments; library filters use a condition of the test's own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from domain.shared.clock import FakeClock
from domain.shared.context import Role
from tests.support.app import PLATFORM, Api, auth, make_api
from tests.support.feedback_http import eventually
from tests.support.http import assert_problem, error_fields

Headers = dict[str, str]

WEDNESDAY = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)
REPS = {"mode": "reps", "sets": 3, "reps": 10, "restBetweenSetsSeconds": 30}
HOLD = {"mode": "duration", "sets": 2, "holdSeconds": 30, "restBetweenSetsSeconds": 15}
QUESTION = "How did the session feel?"


@dataclass(frozen=True)
class World:
    api: Api
    tenant: str
    maya: str  # approved doctor
    tomas: str  # approved doctor
    hal: str  # hospital admin
    pia: str  # px admin
    sam: str  # patient with telerehab and library access
    kim: str  # patient with no service plan
    other_tenant: str
    olga: str  # approved doctor of the other tenant
    lou: str  # patient of the other tenant, with telerehab and library access

    def as_(self, role: Role, user: str | None = None, tenant: str | None = None) -> Headers:
        if role is Role.PLATFORM_ADMIN:
            return auth(role, PLATFORM)
        return auth(role, user or str(uuid.uuid4()), tenant or self.tenant)

    @property
    def maya_h(self) -> Headers:
        return self.as_(Role.DOCTOR, self.maya)

    @property
    def tomas_h(self) -> Headers:
        return self.as_(Role.DOCTOR, self.tomas)

    @property
    def hal_h(self) -> Headers:
        return self.as_(Role.HOSPITAL_ADMIN, self.hal)

    @property
    def pia_h(self) -> Headers:
        return self.as_(Role.PX_ADMIN, self.pia)

    @property
    def sam_h(self) -> Headers:
        return self.as_(Role.PATIENT, self.sam)

    @property
    def kim_h(self) -> Headers:
        return self.as_(Role.PATIENT, self.kim)

    @property
    def olga_h(self) -> Headers:
        return self.as_(Role.DOCTOR, self.olga, self.other_tenant)

    @property
    def lou_h(self) -> Headers:
        return self.as_(Role.PATIENT, self.lou, self.other_tenant)

    @property
    def platform_h(self) -> Headers:
        return self.as_(Role.PLATFORM_ADMIN)

    def send(self, method: str, path: str, headers: Headers, **kw: Any) -> httpx.Response:
        return self.api.client.request(method, path, headers=headers, **kw)

    def ok(self, method: str, path: str, headers: Headers, expect: int = 200, **kw: Any) -> Any:
        return self.api.ok(method, path, headers, expect, **kw)

    def read(self, path: str, headers: Headers, position: int | None = None) -> Any:
        """A GET once the read models have caught up with `position` (the head by default)."""
        at = self.api.runtime.log.head() if position is None else position
        separator = "&" if "?" in path else "?"
        return self.ok("GET", f"{path}{separator}minPosition={at}", headers)

    def exercise(self, headers: Headers | None = None, name: str = "Squat", **fields: Any) -> str:
        body = {"name": name, "bodyRegion": "knee", **fields}
        return str(self.ok("POST", "/v1/exercises", headers or self.maya_h, 201, json=body)["id"])

    def plan(self, headers: Headers | None = None, **change: Any) -> str:
        """A draft (an org library plan of one session of one new exercise by default)."""
        headers = headers or self.maya_h
        body = change.pop("body", None) or plan_body(self.exercise(headers), **change)
        return str(self.ok("POST", PLANS, headers, 201, json=body)["id"])

    def publish(self, plan: str, headers: Headers | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.ok("POST", f"{PLANS}/{plan}/publish", headers or self.maya_h)
        return result

    def published(self, headers: Headers | None = None, **change: Any) -> str:
        plan = self.plan(headers, **change)
        self.publish(plan, headers)
        return plan

    def assign(
        self, plan: str, patient: str | None = None, headers: Headers | None = None, **kw: Any
    ) -> dict[str, Any]:
        body = {"patientId": patient or self.sam, **kw}
        result: dict[str, Any] = self.ok(
            "POST", f"{PLANS}/{plan}/assign", headers or self.maya_h, 201, json=body
        )
        return result

    def sessions(self, plan: str, version: int = 1, headers: Headers | None = None) -> list[str]:
        snapshot = self.read(f"{PLANS}/{plan}/versions/{version}", headers or self.maya_h)
        return [s["id"] for s in snapshot["snapshot"]["sessions"]]


PLANS = "/v1/treatment-plans"
WORKOUTS = "/v1/workouts"


def plan_body(exercise: str, **change: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Knee rehab",
        "scope": "org",
        "type": "in_clinic",
        "frequencyPerWeek": 2,
        "durationWeeks": 4,
        "condition": "knee",
        "difficulty": "easy",
        "bodyRegion": "leg",
        "visibility": "library",
        "sessions": [{"title": "Day 1", "exercises": [{"exerciseId": exercise, "params": REPS}]}],
    }
    body.update(change)
    return body


def edit_body(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("scope", "patientId")}


def service_plan(
    world: World, patient: str, telerehab: bool, library: bool, headers: Headers | None = None
) -> None:
    world.ok(
        "PUT",
        f"/v1/patients/{patient}/service-plan",
        headers or world.hal_h,
        json={"telerehabAccess": telerehab, "libraryAccess": library, "active": True},
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    clock = FakeClock(WEDNESDAY)
    with make_api(
        request.param, tmp_path_factory.mktemp("plans"), process_managers=True, clock=clock
    ) as api:
        tenant, other = api.tenant("Riverside"), api.tenant("Lakeside")
        maya, maya_h = api.doctor(tenant, "Maya", "Lind")
        olga, olga_h = api.doctor(other, "Olga", "Berg")
        other_admin = api.staff(other, "HOSPITAL_ADMIN", "Ida", "Holm")
        world = World(
            api=api,
            tenant=tenant,
            maya=maya,
            tomas=api.staff(tenant, "DOCTOR", "Tomas", "Reyes"),
            hal=api.staff(tenant, "HOSPITAL_ADMIN", "Hal", "Moss"),
            pia=api.staff(tenant, "PX_ADMIN", "Pia", "Nord"),
            sam=api.invite(maya_h, "Sam")["patientId"],
            kim=api.invite(maya_h, "Kim")["patientId"],
            other_tenant=other,
            olga=olga,
            lou=api.invite(olga_h, "Lou")["patientId"],
        )
        service_plan(world, world.sam, telerehab=True, library=True)
        service_plan(
            world,
            world.lou,
            telerehab=True,
            library=True,
            headers=auth(Role.HOSPITAL_ADMIN, other_admin, other),
        )
        yield world


# -- the whole flow ------------------------------------------------------------------------


def test_a_plan_is_designed_published_versioned_assigned_performed_and_tracked(
    world: World,
) -> None:
    squat = world.exercise(name="Squat", videoUrl="https://videos.example/squat.mp4")
    plank = world.exercise(name="Plank", bodyRegion="core")
    body = plan_body(squat, type="telerehab", questionnaire=[QUESTION])
    created = world.ok("POST", PLANS, world.maya_h, 201, json=body)
    assert set(created) == {"id", "position"}
    plan = created["id"]

    draft = world.read(f"{PLANS}/{plan}", world.maya_h, created["position"])
    assert (draft["status"], draft["latestVersion"], draft["scope"]) == ("draft", None, "org")
    assert world.read(f"{PLANS}/{plan}/versions", world.maya_h) == []

    v1 = world.publish(plan)
    assert (v1["id"], v1["version"]) == (plan, 1) and v1["position"] > created["position"]
    first = world.read(f"{PLANS}/{plan}/versions/1", world.maya_h, v1["position"])
    assert first["version"] == 1 and first["publishedAt"]
    [day1] = first["snapshot"]["sessions"]
    assert first["snapshot"]["title"] == "Knee rehab"
    assert first["snapshot"]["questionnaire"] == [QUESTION]
    assert day1["exercises"] == [
        {
            "exerciseId": squat,
            "params": REPS,
            "exercise": {
                "name": "Squat",
                "bodyRegion": "knee",
                "videoUrl": "https://videos.example/squat.mp4",
                "description": None,
            },
        }
    ]

    # Editing the published plan starts a new draft; a session named by id keeps its id.
    second = {
        **edit_body(body),
        "title": "Knee rehab, harder",
        "sessions": [
            {**body["sessions"][0], "id": day1["id"]},
            {"title": "Day 2", "exercises": [{"exerciseId": plank, "params": HOLD}]},
        ],
    }
    edited = world.ok("PUT", f"{PLANS}/{plan}", world.maya_h, json=second)
    assert edited["id"] == plan
    mid = world.read(f"{PLANS}/{plan}", world.maya_h, edited["position"])
    assert mid["status"] == "published_with_draft"
    assert mid["draft"]["title"] == "Knee rehab, harder"
    v2 = world.publish(plan)
    assert v2["version"] == 2

    versions = world.read(f"{PLANS}/{plan}/versions", world.maya_h, v2["position"])
    assert [v["version"] for v in versions] == [1, 2]
    again = world.read(f"{PLANS}/{plan}/versions/1", world.maya_h)
    assert again == first, "an earlier version never changes"
    latest = world.read(f"{PLANS}/{plan}/versions/2", world.maya_h)
    assert [s["title"] for s in latest["snapshot"]["sessions"]] == ["Day 1", "Day 2"]
    assert latest["snapshot"]["sessions"][0]["id"] == day1["id"]
    assert latest["snapshot"]["sessions"][1]["exercises"][0]["params"] == HOLD

    # Content is live: an edit of the exercise shows in every version that names it.
    world.ok("PUT", f"/v1/exercises/{squat}", world.maya_h, json={"name": "Deep squat"})
    shown = world.read(f"{PLANS}/{plan}/versions/1", world.maya_h)
    assert shown["snapshot"]["sessions"][0]["exercises"][0]["exercise"]["name"] == "Deep squat"
    assert shown["publishedAt"] == first["publishedAt"]

    # Assigning pins the latest version (v2); Sam has telerehab access.
    enrolled = world.assign(plan)
    assert set(enrolled) == {"enrollmentId", "status", "version", "position"}
    assert (enrolled["status"], enrolled["version"]) == ("active", 2)
    enrollment = enrolled["enrollmentId"]

    # Sam performs Day 2 as a workout of the enrollment and finalizes it with a report.
    day2 = latest["snapshot"]["sessions"][1]["id"]
    started = world.ok(
        "POST",
        WORKOUTS,
        world.sam_h,
        201,
        json={
            "enrollmentId": enrollment,
            "sessionId": day2,
            "exercises": [
                {"exerciseId": plank, "name": "Plank", "prescribed": {"sets": 2, "holdSeconds": 30}}
            ],
        },
    )
    workout = started["workoutId"]
    world.ok(
        "PUT",
        f"{WORKOUTS}/{workout}/exercises/{plank}",
        world.sam_h,
        json={
            "actual": {"sets": 2, "durationSeconds": 55},
            "pain": 3,
            "videoWatchPercent": 100,
            "poseAccuracy": 87.5,
        },
    )
    finalized = world.ok(
        "POST",
        f"{WORKOUTS}/{workout}/finalize",
        world.sam_h,
        json={
            "painBefore": 5,
            "painAfter": 3,
            "questionnaire": {QUESTION: "Easier than last week"},
        },
    )
    assert finalized["alreadyFinalized"] is False

    def completed() -> Any:
        row = world.read(f"/v1/enrollments/{enrollment}", world.sam_h)
        return row if row["completions"] else None

    row = eventually(completed, what="the session's completion")
    assert (row["status"], row["version"], row["planId"]) == ("active", 2, plan)
    [completion] = row["completions"]
    assert (completion["sessionId"], completion["workoutId"]) == (day2, workout)
    assert (completion["painBefore"], completion["painAfter"]) == (5, 3)
    assert completion["questionnaire"] == {QUESTION: "Easier than last week"}
    assert completion["exercises"] == [
        {
            "exerciseId": plank,
            "prescribed": {"sets": 2, "holdSeconds": 30},
            "actual": {"sets": 2, "durationSeconds": 55},
            "pain": 3,
            "videoWatchPercent": 100.0,
            "poseAccuracy": 87.5,
        }
    ]

    progress = world.read(f"/v1/enrollments/{enrollment}/progress", world.sam_h)
    assert progress["completedThisWeek"] == 1
    assert progress["expectedThisWeek"] == 2
    assert progress["completionRate"] == 0.5
    assert progress["currentStreakWeeks"] == 0  # this week is under way, not yet met
    assert progress["painTrend"]["direction"] is None  # one session is no trend yet
    assert [(p["before"], p["after"]) for p in progress["painTrend"]["points"]] == [(5, 3)]
    staff_view = world.read(f"/v1/enrollments/{enrollment}/progress", world.maya_h)
    assert staff_view == progress


def test_two_sessions_this_week_meet_the_frequency_and_make_a_streak_and_a_trend(
    world: World,
) -> None:
    squat = world.exercise()
    plan = world.published(body=plan_body(squat))
    enrollment = world.assign(plan)["enrollmentId"]
    [session] = world.sessions(plan)
    for before, after in ((6, 6), (4, 2)):
        workout = world.ok(
            "POST",
            WORKOUTS,
            world.sam_h,
            201,
            json={
                "enrollmentId": enrollment,
                "sessionId": session,
                "exercises": [{"exerciseId": squat, "name": "Squat"}],
            },
        )["workoutId"]
        world.ok(
            "POST",
            f"{WORKOUTS}/{workout}/finalize",
            world.sam_h,
            json={"painBefore": before, "painAfter": after},
        )
    eventually(
        lambda: len(world.read(f"/v1/enrollments/{enrollment}", world.sam_h)["completions"]) == 2,
        what="both completions",
    )
    progress = world.read(f"/v1/enrollments/{enrollment}/progress", world.sam_h)
    assert (progress["completedThisWeek"], progress["expectedThisWeek"]) == (2, 2)
    assert progress["completionRate"] == 1.0
    assert progress["currentStreakWeeks"] == 1
    assert progress["painTrend"]["direction"] == "improving"


def test_a_finalize_without_a_body_still_works(world: World) -> None:
    workout = world.ok(
        "POST",
        WORKOUTS,
        world.kim_h,
        201,
        json={"exercises": [{"exerciseId": "e1", "name": "Walk"}]},
    )["workoutId"]
    assert world.ok("POST", f"{WORKOUTS}/{workout}/finalize", world.kim_h)["workoutId"] == workout


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"videoWatchPercent": 101}, "videoWatchPercent"),
        ({"poseAccuracy": -1}, "poseAccuracy"),
        ({"poseAccuracy": "90"}, "poseAccuracy"),
    ],
)
def test_video_watch_and_pose_accuracy_outside_0_to_100_are_422(
    world: World, change: dict[str, Any], field: str
) -> None:
    workout = world.ok(
        "POST",
        WORKOUTS,
        world.kim_h,
        201,
        json={"exercises": [{"exerciseId": "e1", "name": "Walk"}]},
    )["workoutId"]
    body = assert_problem(
        world.send(
            "PUT", f"{WORKOUTS}/{workout}/exercises/e1", world.kim_h, json={"pain": 1, **change}
        ),
        422,
    )
    assert field in error_fields(body)


@pytest.mark.parametrize(
    ("report", "field"),
    [
        ({"painBefore": 11}, "painBefore"),
        ({"painAfter": True}, "painAfter"),
        ({"questionnaire": {QUESTION: 5}}, f"questionnaire.{QUESTION}"),
        ({"mood": "fine"}, "mood"),
    ],
)
def test_an_invalid_finalize_report_is_422_naming_the_field(
    world: World, report: dict[str, Any], field: str
) -> None:
    workout = world.ok(
        "POST",
        WORKOUTS,
        world.kim_h,
        201,
        json={"exercises": [{"exerciseId": "e1", "name": "Walk"}]},
    )["workoutId"]
    body = assert_problem(
        world.send("POST", f"{WORKOUTS}/{workout}/finalize", world.kim_h, json=report), 422
    )
    assert field in error_fields(body)


# -- the exercise library ------------------------------------------------------------------


def test_a_clinics_exercise_is_its_own_and_a_global_one_is_everyones(world: World) -> None:
    own = world.exercise(name="Bridge")
    created = world.ok(
        "POST", "/v1/exercises", world.platform_h, 201, json={"name": "Global lunge"}
    )
    assert set(created) == {"id", "position"}
    mine = {e["id"]: e for e in world.read("/v1/exercises", world.maya_h)}
    theirs = {e["id"] for e in world.read("/v1/exercises", world.olga_h)}
    assert mine[own]["tenantId"] == world.tenant and mine[own]["scope"] == "org"
    assert mine[created["id"]]["tenantId"] is None
    assert created["id"] in theirs and own not in theirs
    assert world.read(f"/v1/exercises/{own}", world.sam_h)["name"] == "Bridge"
    assert_problem(world.send("GET", f"/v1/exercises/{own}", world.olga_h), 404)


@pytest.mark.parametrize("role", [Role.PX_ADMIN, Role.PATIENT])
def test_only_clinic_staff_and_the_platform_admin_add_exercises_403(
    world: World, role: Role
) -> None:
    headers = world.pia_h if role is Role.PX_ADMIN else world.sam_h
    assert_problem(world.send("POST", "/v1/exercises", headers, json={"name": "Squat"}), 403)


def test_the_exercise_library_needs_a_token_401(world: World) -> None:
    assert_problem(world.send("POST", "/v1/exercises", {}, json={"name": "Squat"}), 401)
    assert_problem(world.send("GET", "/v1/exercises", {}), 401)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"name": "Squat", "videoUrl": "http://videos.example/squat"}, "videoUrl"),
        ({"name": "Squat", "bodyRegion": "b" * 101}, "bodyRegion"),
        ({"name": "Squat", "reps": 10}, "reps"),
    ],
)
def test_an_invalid_exercise_is_422_naming_the_field(
    world: World, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(world.send("POST", "/v1/exercises", world.maya_h, json=body), 422)
    assert field in error_fields(problem)


def test_a_global_exercise_is_the_platform_admins_to_edit_and_another_clinics_is_404(
    world: World,
) -> None:
    global_one = world.exercise(world.platform_h, name="Global squat")
    own = world.exercise(name="Step up")
    edit = {"name": "Renamed"}
    assert_problem(world.send("PUT", f"/v1/exercises/{global_one}", world.maya_h, json=edit), 404)
    assert_problem(world.send("PUT", f"/v1/exercises/{own}", world.olga_h, json=edit), 404)
    assert_problem(world.send("PUT", f"/v1/exercises/{uuid.uuid4()}", world.maya_h, json=edit), 404)
    assert world.ok("PUT", f"/v1/exercises/{global_one}", world.platform_h, json=edit)["id"]
    assert world.ok("PUT", f"/v1/exercises/{own}", world.hal_h, json=edit)["id"] == own


# -- designing plans -----------------------------------------------------------------------


def reps_params(**change: Any) -> dict[str, Any]:
    return {**REPS, **change}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        (reps_params(sets=0), "sets"),
        (reps_params(sets=21), "sets"),
        (reps_params(reps=0), "reps"),
        (reps_params(reps=101), "reps"),
        (reps_params(reps="10"), "reps"),
        (reps_params(restBetweenSetsSeconds=601), "restBetweenSetsSeconds"),
        (reps_params(restBetweenSetsSeconds=-1), "restBetweenSetsSeconds"),
        (reps_params(holdSeconds=30), "holdSeconds"),
        ({"mode": "reps", "sets": 3, "restBetweenSetsSeconds": 30}, "reps"),
        ({**HOLD, "holdSeconds": 3601}, "holdSeconds"),
        ({**HOLD, "holdSeconds": 0}, "holdSeconds"),
        ({**HOLD, "reps": 10}, "reps"),
        ({"mode": "weights", "sets": 3, "restBetweenSetsSeconds": 30}, "params"),
    ],
)
def test_invalid_exercise_params_are_422_naming_the_field(
    world: World, params: dict[str, Any], field: str
) -> None:
    squat = world.exercise()
    body = plan_body(squat)
    body["sessions"][0]["exercises"][0]["params"] = params
    problem = assert_problem(world.send("POST", PLANS, world.maya_h, json=body), 422)
    named = error_fields(problem)
    assert any(
        f.startswith("sessions.0.exercises.0.params") and f.endswith(field) for f in named
    ), named


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"frequencyPerWeek": 0}, "frequencyPerWeek"),
        ({"frequencyPerWeek": 15}, "frequencyPerWeek"),
        ({"durationWeeks": 105}, "durationWeeks"),
        ({"durationWeeks": 4.5}, "durationWeeks"),
        ({"scope": "everyone"}, "scope"),
        ({"type": "home"}, "type"),
        ({"visibility": "public"}, "visibility"),
        ({"requiresApproval": "yes"}, "requiresApproval"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"questionnaire": [""]}, "questionnaire.0"),
        ({"owner": "me"}, "owner"),
    ],
)
def test_invalid_plan_fields_are_422_naming_the_field(
    world: World, change: dict[str, Any], field: str
) -> None:
    body = plan_body(world.exercise(), **change)
    problem = assert_problem(world.send("POST", PLANS, world.maya_h, json=body), 422)
    assert field in error_fields(problem)


def test_a_plan_naming_an_exercise_the_clinic_cannot_use_is_404(world: World) -> None:
    theirs = world.exercise(world.olga_h, name="Their squat")
    for exercise in (theirs, str(uuid.uuid4())):
        assert_problem(world.send("POST", PLANS, world.maya_h, json=plan_body(exercise)), 404)


def test_a_global_plan_uses_global_exercises_only_404(world: World) -> None:
    clinics = world.exercise(world.maya_h, name="Clinic squat")
    body = plan_body(clinics, scope="global")
    assert_problem(world.send("POST", PLANS, world.platform_h, json=body), 404)


def test_a_global_plan_is_the_platform_admins_and_an_org_plan_a_clinics_403(
    world: World,
) -> None:
    global_exercise = world.exercise(world.platform_h, name="Global bridge")
    assert_problem(
        world.send("POST", PLANS, world.maya_h, json=plan_body(global_exercise, scope="global")),
        403,
    )
    assert_problem(
        world.send("POST", PLANS, world.platform_h, json=plan_body(global_exercise, scope="org")),
        403,
    )
    plan = world.published(world.platform_h, body=plan_body(global_exercise, scope="global"))
    for headers in (world.maya_h, world.olga_h):
        row = world.read(f"{PLANS}/{plan}", headers)
        assert (row["scope"], row["tenantId"]) == ("global", None)
    # A clinic uses a global plan by cloning it, or by assigning it as it is.
    assert world.assign(plan)["status"] == "active"


@pytest.mark.parametrize("role", [Role.PX_ADMIN, Role.PATIENT])
def test_px_admins_and_patients_may_not_design_plans_403(world: World, role: Role) -> None:
    headers = world.pia_h if role is Role.PX_ADMIN else world.sam_h
    body = plan_body(world.exercise())
    assert_problem(world.send("POST", PLANS, headers, json=body), 403)


def test_plans_need_a_token_401(world: World) -> None:
    plan = world.plan()
    for method, path in (
        ("POST", PLANS),
        ("GET", f"{PLANS}/{plan}"),
        ("POST", f"{PLANS}/{plan}/publish"),
        ("GET", f"{PLANS}/library"),
    ):
        assert_problem(world.send(method, path, {}, json={}), 401)


def test_a_custom_plan_is_for_a_patient_of_the_clinic_404_for_anyone_else(
    world: World,
) -> None:
    squat = world.exercise()
    for patient in (world.lou, str(uuid.uuid4())):
        body = plan_body(squat, scope="custom", patientId=patient)
        assert_problem(world.send("POST", PLANS, world.maya_h, json=body), 404)
    custom = world.ok(
        "POST", PLANS, world.maya_h, 201, json=plan_body(squat, scope="custom", patientId=world.sam)
    )
    assert world.read(f"{PLANS}/{custom['id']}", world.maya_h)["patientId"] == world.sam


def test_only_a_custom_plan_names_a_patient_422(world: World) -> None:
    body = plan_body(world.exercise(), patientId=world.sam)
    problem = assert_problem(world.send("POST", PLANS, world.maya_h, json=body), 422)
    assert "patientId" in error_fields(problem)


def test_publishing_needs_a_session_with_an_exercise_422(world: World) -> None:
    for sessions in ([], [{"title": "Empty day", "exercises": []}]):
        plan = world.plan(body=plan_body(world.exercise(), sessions=sessions))
        problem = assert_problem(world.send("POST", f"{PLANS}/{plan}/publish", world.maya_h), 422)
        assert "sessions" in error_fields(problem)


def test_publishing_again_without_an_edit_is_409(world: World) -> None:
    plan = world.published()
    assert_problem(world.send("POST", f"{PLANS}/{plan}/publish", world.maya_h), 409)


def test_an_unknown_version_or_plan_is_404(world: World) -> None:
    plan = world.published()
    world.read(f"{PLANS}/{plan}/versions/1", world.maya_h)
    assert_problem(world.send("GET", f"{PLANS}/{plan}/versions/2", world.maya_h), 404)
    unknown = str(uuid.uuid4())
    for path in (
        f"{PLANS}/{unknown}",
        f"{PLANS}/{unknown}/versions",
        f"{PLANS}/{unknown}/versions/1",
    ):
        assert_problem(world.send("GET", path, world.maya_h), 404)
    assert_problem(world.send("GET", f"{PLANS}/{plan}/versions/0", world.maya_h), 422)


def test_another_clinics_plan_is_404_for_every_read_and_command(world: World) -> None:
    plan = world.published(world.olga_h)
    body = edit_body(plan_body(world.exercise()))
    world.read(f"{PLANS}/{plan}", world.olga_h)
    for method, path, json in (
        ("GET", f"{PLANS}/{plan}", None),
        ("GET", f"{PLANS}/{plan}/versions", None),
        ("GET", f"{PLANS}/{plan}/versions/1", None),
        ("PUT", f"{PLANS}/{plan}", body),
        ("POST", f"{PLANS}/{plan}/publish", None),
        ("POST", f"{PLANS}/{plan}/clone", {}),
        ("POST", f"{PLANS}/{plan}/assign", {"patientId": world.sam}),
    ):
        assert_problem(world.send(method, path, world.maya_h, json=json), 404)
    assert_problem(world.send("POST", f"{PLANS}/{plan}/promote", world.hal_h), 404)
    assert_problem(world.send("POST", f"{PLANS}/{plan}/self-assign", world.sam_h), 404)


def test_an_edit_with_an_invalid_body_is_422_and_of_an_unknown_plan_404(world: World) -> None:
    plan = world.plan()
    body = edit_body(plan_body(world.exercise()))
    problem = assert_problem(
        world.send("PUT", f"{PLANS}/{plan}", world.maya_h, json={**body, "scope": "org"}), 422
    )
    assert "scope" in error_fields(problem)
    assert_problem(world.send("PUT", f"{PLANS}/{uuid.uuid4()}", world.maya_h, json=body), 404)


# -- clone and promote ---------------------------------------------------------------------


def test_cloning_a_plan_makes_a_custom_draft_optionally_for_one_patient(world: World) -> None:
    global_exercise = world.exercise(world.platform_h, name="Global plank")
    source = world.published(world.platform_h, body=plan_body(global_exercise, scope="global"))
    plain = world.ok("POST", f"{PLANS}/{source}/clone", world.maya_h, 201)
    assert set(plain) == {"id", "position"}
    for_sam = world.ok(
        "POST", f"{PLANS}/{source}/clone", world.hal_h, 201, json={"patientId": world.sam}
    )
    row = world.read(f"{PLANS}/{plain['id']}", world.maya_h)
    assert (row["scope"], row["status"], row["clonedFrom"]) == ("custom", "draft", source)
    assert row["tenantId"] == world.tenant and row["patientId"] is None
    assert world.read(f"{PLANS}/{for_sam['id']}", world.maya_h)["patientId"] == world.sam
    assert_problem(
        world.send("POST", f"{PLANS}/{source}/clone", world.maya_h, json={"patientId": world.lou}),
        404,
    )
    assert_problem(world.send("POST", f"{PLANS}/{source}/clone", world.platform_h), 403)


@pytest.mark.parametrize("role", [Role.DOCTOR, Role.PX_ADMIN, Role.PATIENT, Role.PLATFORM_ADMIN])
def test_only_a_hospital_admin_promotes_a_plan_403(world: World, role: Role) -> None:
    plan = world.published(scope="custom")
    headers = {
        Role.DOCTOR: world.maya_h,
        Role.PX_ADMIN: world.pia_h,
        Role.PATIENT: world.sam_h,
        Role.PLATFORM_ADMIN: world.platform_h,
    }[role]
    assert_problem(world.send("POST", f"{PLANS}/{plan}/promote", headers), 403)


def test_a_hospital_admin_promotes_a_published_custom_plan_to_the_org_library(
    world: World,
) -> None:
    condition = f"promoted-{uuid.uuid4().hex[:8]}"
    plan = world.published(scope="custom", condition=condition)
    assert world.read(f"{PLANS}/library?condition={condition}", world.maya_h) == []
    promoted = world.ok("POST", f"{PLANS}/{plan}/promote", world.hal_h)
    assert promoted["id"] == plan
    row = world.read(f"{PLANS}/{plan}", world.maya_h, promoted["position"])
    assert (row["scope"], row["promotedAt"] is not None) == ("org", True)
    library = world.read(f"{PLANS}/library?condition={condition}", world.maya_h)
    assert [p["id"] for p in library] == [plan]
    # Promoting again, or a draft, conflicts with the plan's state.
    assert_problem(world.send("POST", f"{PLANS}/{plan}/promote", world.hal_h), 409)
    draft = world.plan(scope="custom")
    assert_problem(world.send("POST", f"{PLANS}/{draft}/promote", world.hal_h), 409)
    assert_problem(world.send("POST", f"{PLANS}/{uuid.uuid4()}/promote", world.hal_h), 404)


# -- the library ---------------------------------------------------------------------------


def test_the_library_lists_published_library_plans_the_caller_may_see_with_filters(
    world: World,
) -> None:
    condition = f"lib-{uuid.uuid4().hex[:8]}"
    easy = world.published(condition=condition, difficulty="easy", title="A easy")
    hard = world.published(condition=condition, difficulty="hard", title="B hard")
    world.published(condition=condition, visibility="private", title="C private")
    world.plan(condition=condition, title="D draft")
    global_exercise = world.exercise(world.platform_h, name="Global step")
    global_plan = world.published(
        world.platform_h,
        body=plan_body(global_exercise, scope="global", condition=condition, title="E global"),
    )
    theirs = world.published(world.olga_h, condition=condition, title="F theirs")

    listed = world.read(f"{PLANS}/library?condition={condition}", world.maya_h)
    assert [p["id"] for p in listed] == [easy, hard, global_plan]
    assert listed[0]["latestVersion"] == 1 and listed[0]["difficulty"] == "easy"
    filtered = world.read(f"{PLANS}/library?condition={condition}&difficulty=hard", world.sam_h)
    assert [p["id"] for p in filtered] == [hard]
    by_region = world.read(f"{PLANS}/library?condition={condition}&bodyRegion=arm", world.maya_h)
    assert by_region == []
    elsewhere = world.read(f"{PLANS}/library?condition={condition}", world.olga_h)
    assert [p["id"] for p in elsewhere] == [global_plan, theirs]


def test_the_library_is_403_to_a_patient_without_library_access_and_px_admins(
    world: World,
) -> None:
    assert_problem(world.send("GET", f"{PLANS}/library", world.kim_h), 403)
    assert_problem(world.send("GET", f"{PLANS}/library", world.pia_h), 403)


def test_a_patient_sees_only_published_plans_they_may_see(world: World) -> None:
    library_plan = world.published()
    private = world.published(visibility="private")
    world.read(f"{PLANS}/{private}", world.maya_h)
    seen = world.read(f"{PLANS}/{library_plan}", world.sam_h)
    assert seen["draft"] is None and seen["current"]["title"] == "Knee rehab"
    assert_problem(world.send("GET", f"{PLANS}/{private}", world.sam_h), 404)
    assert_problem(world.send("GET", f"{PLANS}/{private}/versions/1", world.sam_h), 404)
    # Once assigned to them, they see the plan, its versions, and never a draft.
    world.assign(private, world.kim)
    world.ok(
        "PUT",
        f"{PLANS}/{private}",
        world.maya_h,
        json=edit_body(plan_body(world.exercise(), title="Next")),
    )
    seen = world.read(f"{PLANS}/{private}", world.kim_h)
    assert seen["draft"] is None and seen["current"]["title"] == "Knee rehab"
    assert [v["version"] for v in world.read(f"{PLANS}/{private}/versions", world.kim_h)] == [1]
    assert_problem(world.send("GET", f"{PLANS}/{private}", world.sam_h), 404)


# -- assigning -----------------------------------------------------------------------------


def test_assigning_can_pin_an_earlier_version(world: World) -> None:
    squat = world.exercise()
    body = plan_body(squat)
    plan = world.published(body=body)
    world.ok("PUT", f"{PLANS}/{plan}", world.maya_h, json={**edit_body(body), "title": "v2"})
    world.publish(plan)
    assert world.assign(plan)["version"] == 2
    assert world.assign(plan, version=1)["version"] == 1
    assert_problem(
        world.send(
            "POST",
            f"{PLANS}/{plan}/assign",
            world.maya_h,
            json={"patientId": world.sam, "version": 3},
        ),
        404,
    )


def test_a_telerehab_plan_needs_the_patients_telerehab_access_403(world: World) -> None:
    plan = world.published(type="telerehab")
    assert_problem(
        world.send("POST", f"{PLANS}/{plan}/assign", world.maya_h, json={"patientId": world.kim}),
        403,
    )
    in_clinic = world.published(type="in_clinic")
    assert world.assign(in_clinic, world.kim)["status"] == "active"


def test_assigning_an_unpublished_plan_is_409(world: World) -> None:
    plan = world.plan()
    assert_problem(
        world.send("POST", f"{PLANS}/{plan}/assign", world.maya_h, json={"patientId": world.sam}),
        409,
    )


def test_assigning_to_an_unknown_or_another_clinics_patient_is_404(world: World) -> None:
    plan = world.published()
    for patient in (world.lou, str(uuid.uuid4())):
        assert_problem(
            world.send("POST", f"{PLANS}/{plan}/assign", world.maya_h, json={"patientId": patient}),
            404,
        )


def test_a_custom_plan_for_one_patient_is_not_assigned_to_another_422(world: World) -> None:
    squat = world.exercise()
    plan = world.published(body=plan_body(squat, scope="custom", patientId=world.sam))
    problem = assert_problem(
        world.send("POST", f"{PLANS}/{plan}/assign", world.maya_h, json={"patientId": world.kim}),
        422,
    )
    assert "patientId" in error_fields(problem)


@pytest.mark.parametrize("role", [Role.PX_ADMIN, Role.PATIENT, Role.PLATFORM_ADMIN])
def test_only_clinic_specialists_assign_plans_403(world: World, role: Role) -> None:
    plan = world.published()
    headers = {Role.PX_ADMIN: world.pia_h, Role.PATIENT: world.sam_h}.get(role, world.platform_h)
    assert_problem(
        world.send("POST", f"{PLANS}/{plan}/assign", headers, json={"patientId": world.sam}), 403
    )


def test_a_plan_requiring_approval_waits_until_another_specialist_approves_it(
    world: World,
) -> None:
    plan = world.published(requiresApproval=True)
    enrolled = world.assign(plan)
    assert enrolled["status"] == "pending_approval"
    enrollment = enrolled["enrollmentId"]
    row = world.read(f"/v1/enrollments/{enrollment}", world.maya_h, enrolled["position"])
    assert (row["status"], row["startedAt"], row["endsAt"]) == ("pending_approval", None, None)
    [session] = world.sessions(plan)
    start = {
        "enrollmentId": enrollment,
        "sessionId": session,
        "exercises": [{"exerciseId": "e1", "name": "Squat"}],
    }
    assert "enrollmentId" in error_fields(
        assert_problem(world.send("POST", WORKOUTS, world.sam_h, json=start), 422)
    )

    approve = f"/v1/enrollments/{enrollment}/approve"
    assert_problem(world.send("POST", approve, world.maya_h), 403)  # four eyes
    assert_problem(world.send("POST", approve, world.pia_h), 403)
    assert_problem(world.send("POST", approve, world.sam_h), 403)
    assert_problem(world.send("POST", approve, world.olga_h), 404)
    assert_problem(
        world.send("POST", f"/v1/enrollments/{uuid.uuid4()}/approve", world.tomas_h), 404
    )
    approved = world.ok("POST", approve, world.tomas_h)
    assert (approved["enrollmentId"], approved["status"]) == (enrollment, "active")
    row = world.read(f"/v1/enrollments/{enrollment}", world.maya_h, approved["position"])
    assert (row["status"], row["approvedBy"]) == ("active", world.tomas)
    assert row["startedAt"] is not None and row["endsAt"] is not None
    assert_problem(world.send("POST", approve, world.hal_h), 409)
    world.ok("POST", WORKOUTS, world.sam_h, 201, json=start)


# -- self-service --------------------------------------------------------------------------


def test_self_assign_runs_the_three_checks_in_order(world: World) -> None:
    library_plan = world.published()
    private = world.published(visibility="private")
    draft = world.plan()
    custom_for_sam = world.published(
        body=plan_body(world.exercise(), scope="custom", patientId=world.sam)
    )
    theirs = world.published(world.olga_h)

    # 1. No library access: 403, whatever the plan (even one that does not exist).
    for plan in (library_plan, private, str(uuid.uuid4())):
        assert_problem(world.send("POST", f"{PLANS}/{plan}/self-assign", world.kim_h), 403)
    # 2. Not a published library plan the patient may see: 404.
    for plan in (private, draft, custom_for_sam, theirs, str(uuid.uuid4())):
        assert_problem(world.send("POST", f"{PLANS}/{plan}/self-assign", world.sam_h), 404)
    # 3. An active, self-assigned enrollment.
    enrolled = world.ok("POST", f"{PLANS}/{library_plan}/self-assign", world.sam_h, 201)
    assert set(enrolled) == {"enrollmentId", "status", "version", "position"}
    assert (enrolled["status"], enrolled["version"]) == ("active", 1)
    row = world.read(f"/v1/enrollments/{enrolled['enrollmentId']}", world.sam_h)
    assert (row["selfAssigned"], row["patientId"]) == (True, world.sam)


def test_a_plan_requiring_approval_is_active_at_once_when_self_assigned(world: World) -> None:
    plan = world.published(requiresApproval=True)
    assert world.ok("POST", f"{PLANS}/{plan}/self-assign", world.sam_h, 201)["status"] == "active"


@pytest.mark.parametrize("role", [Role.DOCTOR, Role.HOSPITAL_ADMIN, Role.PX_ADMIN])
def test_only_a_patient_self_assigns_403(world: World, role: Role) -> None:
    plan = world.published()
    headers = {Role.DOCTOR: world.maya_h, Role.HOSPITAL_ADMIN: world.hal_h}.get(role, world.pia_h)
    assert_problem(world.send("POST", f"{PLANS}/{plan}/self-assign", headers), 403)


def test_losing_library_access_stops_self_assigning_but_not_the_running_enrollment(
    world: World,
) -> None:
    patient = world.api.invite(world.maya_h, "Noa")["patientId"]
    headers = world.as_(Role.PATIENT, patient)
    service_plan(world, patient, telerehab=False, library=True)
    plan = world.published()
    enrollment = world.ok("POST", f"{PLANS}/{plan}/self-assign", headers, 201)["enrollmentId"]
    service_plan(world, patient, telerehab=False, library=False)
    assert_problem(world.send("POST", f"{PLANS}/{plan}/self-assign", headers), 403)
    assert world.read(f"/v1/enrollments/{enrollment}", headers)["status"] == "active"


# -- enrollments ---------------------------------------------------------------------------


def test_pausing_and_resuming_an_enrollment(world: World) -> None:
    plan = world.published()
    enrollment = world.assign(plan)["enrollmentId"]
    pause, resume = f"/v1/enrollments/{enrollment}/pause", f"/v1/enrollments/{enrollment}/resume"
    paused = world.ok("POST", pause, world.sam_h)
    assert paused["status"] == "paused"
    assert world.ok("POST", pause, world.maya_h)["status"] == "paused"  # no-op
    row = world.read(f"/v1/enrollments/{enrollment}", world.sam_h, paused["position"])
    assert row["status"] == "paused" and row["pausedAt"] is not None
    [session] = world.sessions(plan)
    start = {
        "enrollmentId": enrollment,
        "sessionId": session,
        "exercises": [{"exerciseId": "e1", "name": "Squat"}],
    }
    assert_problem(world.send("POST", WORKOUTS, world.sam_h, json=start), 422)
    assert world.ok("POST", resume, world.hal_h)["status"] == "active"
    assert world.ok("POST", resume, world.sam_h)["status"] == "active"  # no-op
    for path in (pause, resume):
        assert_problem(world.send("POST", path, world.kim_h), 404)
        assert_problem(world.send("POST", path, world.olga_h), 404)
        assert_problem(world.send("POST", path, world.pia_h), 403)


def test_only_an_active_enrollment_pauses_and_only_a_paused_one_resumes_409(
    world: World,
) -> None:
    pending = world.assign(world.published(requiresApproval=True))["enrollmentId"]
    assert_problem(world.send("POST", f"/v1/enrollments/{pending}/pause", world.maya_h), 409)
    assert_problem(world.send("POST", f"/v1/enrollments/{pending}/resume", world.maya_h), 409)


def test_an_enrollment_is_its_patients_and_its_clinics_only(world: World) -> None:
    enrolled = world.assign(world.published())
    enrollment = enrolled["enrollmentId"]
    world.read(f"/v1/enrollments/{enrollment}", world.sam_h, enrolled["position"])
    for headers in (world.kim_h, world.olga_h, world.lou_h):
        for path in (f"/v1/enrollments/{enrollment}", f"/v1/enrollments/{enrollment}/progress"):
            assert_problem(world.send("GET", path, headers), 404)
    for path in (f"/v1/enrollments/{enrollment}", f"/v1/enrollments/{uuid.uuid4()}/progress"):
        assert_problem(world.send("GET", path, world.pia_h), 403)
        assert_problem(world.send("GET", path, {}), 401)
    assert_problem(world.send("GET", f"/v1/enrollments/{uuid.uuid4()}", world.maya_h), 404)
    mine = world.read(f"/v1/patients/{world.sam}/enrollments", world.sam_h)
    assert enrollment in {e["id"] for e in mine}
    assert enrollment in {
        e["id"] for e in world.read(f"/v1/patients/{world.sam}/enrollments", world.maya_h)
    }
    assert_problem(world.send("GET", f"/v1/patients/{world.sam}/enrollments", world.kim_h), 404)
    assert_problem(world.send("GET", f"/v1/patients/{world.sam}/enrollments", world.olga_h), 404)


def test_a_workout_naming_another_patients_enrollment_or_a_foreign_session_is_422(
    world: World,
) -> None:
    plan = world.published()
    enrollment = world.assign(plan)["enrollmentId"]
    [session] = world.sessions(plan)
    exercises = [{"exerciseId": "e1", "name": "Squat"}]

    def start(headers: Headers, **ids: str) -> set[str]:
        body = {"exercises": exercises, **ids}
        return error_fields(assert_problem(world.send("POST", WORKOUTS, headers, json=body), 422))

    assert start(world.kim_h, enrollmentId=enrollment, sessionId=session) == {"enrollmentId"}
    assert start(world.lou_h, enrollmentId=enrollment, sessionId=session) == {"enrollmentId"}
    assert start(world.sam_h, enrollmentId=str(uuid.uuid4()), sessionId=session) == {"enrollmentId"}
    assert start(world.sam_h, enrollmentId=enrollment, sessionId=str(uuid.uuid4())) == {"sessionId"}
    assert start(world.sam_h, enrollmentId=enrollment) == {"sessionId"}
    assert start(world.sam_h, sessionId=session) == {"enrollmentId"}
    world.ok(
        "POST",
        WORKOUTS,
        world.sam_h,
        201,
        json={"exercises": exercises, "enrollmentId": enrollment, "sessionId": session},
    )


def test_progress_is_computed_in_the_patients_timezone(world: World) -> None:
    # 12:00 UTC on Wednesday is 02:00 on Thursday in Kiritimati (UTC+14): the same week.
    invited = world.ok(
        "POST",
        "/v1/patients/invite",
        world.maya_h,
        201,
        json={
            "firstName": "Tala",
            "lastName": "Kiri",
            "email": f"tala.{uuid.uuid4().hex[:6]}@patients.example",
            "timezone": "Pacific/Kiritimati",
        },
    )
    patient = invited["patientId"]
    enrollment = world.assign(world.published(frequencyPerWeek=3), patient)["enrollmentId"]
    progress = world.read(
        f"/v1/enrollments/{enrollment}/progress", world.as_(Role.PATIENT, patient)
    )
    assert progress["timezone"] == "Pacific/Kiritimati"
    assert (progress["completedThisWeek"], progress["expectedThisWeek"]) == (0, 3)
    assert progress["completionRate"] == 0.0
    assert progress["painTrend"] == {"direction": None, "points": []}


# -- service plans -------------------------------------------------------------------------


def test_a_hospital_admin_sets_a_patients_service_plan(world: World) -> None:
    patient = world.api.invite(world.maya_h, "Ola")["patientId"]
    path = f"/v1/patients/{patient}/service-plan"
    before = world.read(path, world.maya_h)
    assert (before["telerehabAccess"], before["libraryAccess"], before["active"]) == (
        False,
        False,
        False,
    )
    body = {"telerehabAccess": True, "libraryAccess": False, "active": True}
    set_ = world.ok("PUT", path, world.hal_h, json=body)
    assert set_["patientId"] == patient and set_["telerehabAccess"] is True
    after = world.read(path, world.as_(Role.PATIENT, patient), set_["position"])
    assert (after["telerehabAccess"], after["libraryAccess"], after["active"]) == (
        True,
        False,
        True,
    )
    for role_headers in (world.maya_h, world.pia_h, world.sam_h, world.platform_h):
        assert_problem(world.send("PUT", path, role_headers, json=body), 403)
    other_admin = world.as_(Role.HOSPITAL_ADMIN, None, world.other_tenant)
    assert_problem(world.send("PUT", path, other_admin, json=body), 404)
    assert_problem(
        world.send("PUT", f"/v1/patients/{uuid.uuid4()}/service-plan", world.hal_h, json=body), 404
    )
    assert_problem(world.send("GET", path, world.sam_h), 404)
    problem = assert_problem(
        world.send("PUT", path, world.hal_h, json={**body, "active": "true"}), 422
    )
    assert "active" in error_fields(problem)
    assert_problem(world.send("PUT", path, {}, json=body), 401)


# -- OpenAPI -------------------------------------------------------------------------------


def test_the_openapi_document_declares_every_status_of_the_section(world: World) -> None:
    paths = world.api.client.get("/openapi.json").json()["paths"]
    expected = {
        ("post", "/v1/exercises"): {"201", "401", "403", "422"},
        ("put", "/v1/exercises/{exerciseId}"): {"200", "401", "403", "404", "422"},
        ("post", "/v1/treatment-plans"): {"201", "401", "403", "404", "422"},
        ("put", "/v1/treatment-plans/{planId}"): {"200", "401", "403", "404", "422"},
        ("post", "/v1/treatment-plans/{planId}/publish"): {
            "200",
            "401",
            "403",
            "404",
            "409",
            "422",
        },
        ("get", "/v1/treatment-plans/{planId}/versions/{version}"): {"200", "401", "403", "404"},
        ("post", "/v1/treatment-plans/{planId}/clone"): {"201", "401", "403", "404", "422"},
        ("post", "/v1/treatment-plans/{planId}/promote"): {"200", "401", "403", "404", "409"},
        ("get", "/v1/treatment-plans/library"): {"200", "401", "403", "422"},
        ("post", "/v1/treatment-plans/{planId}/assign"): {
            "201",
            "401",
            "403",
            "404",
            "409",
            "422",
        },
        ("post", "/v1/treatment-plans/{planId}/self-assign"): {"201", "401", "403", "404"},
        ("post", "/v1/enrollments/{enrollmentId}/approve"): {"200", "401", "403", "404", "409"},
        ("get", "/v1/enrollments/{enrollmentId}/progress"): {"200", "401", "403", "404"},
        ("put", "/v1/patients/{patientId}/service-plan"): {"200", "401", "403", "404", "422"},
        ("post", "/v1/workouts"): {"201", "401", "403", "422"},
    }
    for (method, path), statuses in expected.items():
        declared = set(paths[path][method]["responses"])
        assert statuses <= declared, (method, path, statuses - declared)
        for status in declared - {"200", "201"}:
            content = paths[path][method]["responses"][status]["content"]
            assert "application/problem+json" in content, (method, path, status)
