"""Every status code of the Workouts endpoints and the Session Viewer, as api.md and the
patient-therapist-feedback spec state them, on SQLite and PostgreSQL.

One clinic per backend and module (a runtime takes about a second to close); each test
starts its own workouts. A rejected command must write nothing: the head of the event log
is the same before and after. Workouts in those checks flag nothing and the tenant's
feedbackNotifications flag is off, so no process manager writes behind the test's back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.shared.context import Role
from tests.support.app import PLATFORM, Api, auth, make_api
from tests.support.http import assert_problem, error_fields

Headers = dict[str, str]

WORKOUTS = "/v1/workouts"

PLAN = [
    {
        "exerciseId": "squat",
        "name": "Squat",
        "prescribed": {"sets": 3, "reps": 10, "painTarget": 3, "exertionTarget": 6},
    },
    {"exerciseId": "plank", "name": "Plank", "prescribed": {"holdSeconds": 30}},
]
EASY = {"actual": {"sets": 3, "reps": 10}, "pain": 2, "exertion": 5}


@dataclass(frozen=True)
class Clinic:
    api: Api
    tenant: str
    maya: str  # approved; invited both patients, so connected to them
    tomas: str  # approved; connected to nobody
    una: str  # not approved
    hospital_admin: str
    px_admin: str
    patient: str
    patient2: str
    other_tenant: str
    other_doctor: str  # connected to other_patient
    other_patient: str
    other_hospital_admin: str

    def as_(self, role: Role, user: str | None = None, tenant: str | None = None) -> Headers:
        if role is Role.PLATFORM_ADMIN:
            return auth(role, PLATFORM)
        return auth(role, user, tenant or self.tenant)

    @property
    def sam(self) -> Headers:
        return self.as_(Role.PATIENT, self.patient)

    @property
    def kim(self) -> Headers:
        return self.as_(Role.PATIENT, self.patient2)

    @property
    def maya_h(self) -> Headers:
        return self.as_(Role.DOCTOR, self.maya)

    @property
    def tomas_h(self) -> Headers:
        return self.as_(Role.DOCTOR, self.tomas)

    @property
    def elsewhere_patient(self) -> Headers:
        return self.as_(Role.PATIENT, self.other_patient, self.other_tenant)

    @property
    def elsewhere_doctor(self) -> Headers:
        return self.as_(Role.DOCTOR, self.other_doctor, self.other_tenant)

    def head(self) -> int:
        return self.api.runtime.log.head()

    def send(self, method: str, path: str, headers: Headers, **kw: Any) -> httpx.Response:
        return self.api.client.request(method, path, headers=headers, **kw)

    def start(self, headers: Headers | None = None, body: dict[str, Any] | None = None) -> str:
        body = body if body is not None else {"exercises": PLAN}
        started = self.api.ok("POST", WORKOUTS, headers or self.sam, 201, json=body)
        return str(started["workoutId"])

    def finalized(self, headers: Headers | None = None) -> str:
        workout = self.start(headers)
        self.api.ok("PUT", f"{WORKOUTS}/{workout}/exercises/squat", headers or self.sam, json=EASY)
        self.api.ok("POST", f"{WORKOUTS}/{workout}/finalize", headers or self.sam)
        return workout

    def noted(self, text: str = "Keep the knee over the toes.") -> str:
        workout = self.finalized()
        self.api.ok("PUT", note(workout), self.maya_h, json={"text": text})
        return workout

    def rejected(
        self, method: str, path: str, headers: Headers, status: int, **kw: Any
    ) -> dict[str, Any]:
        """The request is a problem with `status` and writes nothing."""
        before = self.head()
        body = assert_problem(self.send(method, path, headers, **kw), status)
        assert self.head() == before, f"{method} {path} answered {status} but wrote events"
        return body


def note(workout: str, exercise: str = "squat") -> str:
    return f"{WORKOUTS}/{workout}/exercises/{exercise}/note"


def record(workout: str, exercise: str = "squat") -> str:
    return f"{WORKOUTS}/{workout}/exercises/{exercise}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def clinic(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Clinic]:
    with make_api(request.param, tmp_path_factory.mktemp("workouts")) as api:
        tenant, other = api.tenant("Riverside"), api.tenant("Lakeside")
        api.flag(tenant, "therapistPatientAssignment")
        maya, maya_h = api.doctor(tenant, "Maya", "Lind")
        other_doctor, other_h = api.doctor(other, "Olga", "Berg")
        yield Clinic(
            api=api,
            tenant=tenant,
            maya=maya,
            tomas=api.staff(tenant, "DOCTOR", "Tomas", "Reyes"),
            una=api.staff(tenant, "DOCTOR", "Una", "Waiting", approve=False),
            hospital_admin=api.staff(tenant, "HOSPITAL_ADMIN", "Hal", "Moss"),
            px_admin=api.staff(tenant, "PX_ADMIN", "Pia", "Nord"),
            patient=api.invite(maya_h, "Sam")["patientId"],
            patient2=api.invite(maya_h, "Kim")["patientId"],
            other_tenant=other,
            other_doctor=other_doctor,
            other_patient=api.invite(other_h, "Lou")["patientId"],
            other_hospital_admin=api.staff(other, "HOSPITAL_ADMIN", "Ida", "Holm"),
        )


# -- POST /v1/workouts ---------------------------------------------------------------------


def test_a_patient_starts_a_workout_201_with_its_id_and_position(clinic: Clinic) -> None:
    before = clinic.head()
    response = clinic.send("POST", WORKOUTS, clinic.sam, json={"exercises": PLAN})
    assert response.status_code == 201, response.text
    started = response.json()
    assert set(started) == {"workoutId", "position"}
    uuid.UUID(started["workoutId"])
    assert started["position"] > before


def test_a_workout_naming_no_enrollment_of_the_patient_is_422(clinic: Clinic) -> None:
    body = {"enrollmentId": str(uuid.uuid4()), "sessionId": str(uuid.uuid4()), "exercises": PLAN}
    response = clinic.send("POST", WORKOUTS, clinic.sam, json=body)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["enrollmentId"]


def test_starting_a_workout_needs_a_token_401(clinic: Clinic) -> None:
    clinic.rejected("POST", WORKOUTS, {}, 401, json={"exercises": PLAN})


@pytest.mark.parametrize(
    "role", [Role.DOCTOR, Role.HOSPITAL_ADMIN, Role.PX_ADMIN, Role.PLATFORM_ADMIN]
)
def test_only_a_patient_starts_a_workout_403(clinic: Clinic, role: Role) -> None:
    clinic.rejected("POST", WORKOUTS, clinic.as_(role, clinic.maya), 403, json={"exercises": PLAN})


def test_a_patient_token_for_no_registered_patient_is_403(clinic: Clinic) -> None:
    nobody = clinic.as_(Role.PATIENT, str(uuid.uuid4()))
    clinic.rejected("POST", WORKOUTS, nobody, 403, json={"exercises": PLAN})


def exercise(**change: Any) -> dict[str, Any]:
    return {**PLAN[0], **change}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"exercises": []}, "exercises"),
        ({}, "exercises"),
        ({"exercises": [exercise(exerciseId=f"e{i}") for i in range(101)]}, "exercises"),
        ({"exercises": [exercise(exerciseId="")]}, "exercises.0.exerciseId"),
        ({"exercises": [exercise(exerciseId="e" * 101)]}, "exercises.0.exerciseId"),
        ({"exercises": [exercise(exerciseId="a\x00b")]}, "exercises.0.exerciseId"),
        ({"exercises": [exercise(name="")]}, "exercises.0.name"),
        ({"exercises": [exercise(name="   ")]}, "exercises.0.name"),
        ({"exercises": [exercise(name="n" * 201)]}, "exercises.0.name"),
        ({"exercises": [exercise(prescribed={"sets": -1})]}, "exercises.0.prescribed.sets"),
        ({"exercises": [exercise(prescribed={"reps": True})]}, "exercises.0.prescribed.reps"),
        (
            {"exercises": [exercise(prescribed={"holdSeconds": 2.5})]},
            "exercises.0.prescribed.holdSeconds",
        ),
        (
            {"exercises": [exercise(prescribed={"painTarget": 11})]},
            "exercises.0.prescribed.painTarget",
        ),
        (
            {"exercises": [exercise(prescribed={"exertionTarget": -1})]},
            "exercises.0.prescribed.exertionTarget",
        ),
        ({"exercises": [exercise(prescribed={"weight": 5})]}, "exercises.0.prescribed.weight"),
        ({"exercises": PLAN, "enrollmentId": "not-a-uuid"}, "enrollmentId"),
        ({"exercises": PLAN, "patientId": str(uuid.uuid4())}, "patientId"),
        ({"exercises": [PLAN[0], PLAN[0]]}, "exercises"),
    ],
    ids=[
        "no-exercises",
        "exercises-missing",
        "101-exercises",
        "empty-exercise-id",
        "101-character-exercise-id",
        "nul-in-exercise-id",
        "empty-name",
        "blank-name",
        "201-character-name",
        "negative-sets",
        "boolean-reps",
        "fractional-hold",
        "pain-target-11",
        "exertion-target-negative",
        "unknown-prescription",
        "enrollment-not-a-uuid",
        "unknown-field",
        "the-same-exercise-twice",
    ],
)
def test_an_invalid_workout_is_422_naming_the_field_and_writes_nothing(
    clinic: Clinic, body: dict[str, Any], field: str
) -> None:
    problem = clinic.rejected("POST", WORKOUTS, clinic.sam, 422, json=body)
    assert field in error_fields(problem), problem


def test_100_exercises_with_the_edges_of_every_range_are_accepted(clinic: Clinic) -> None:
    exercises = [
        {
            "exerciseId": f"{i:03d}" + "x" * 97,
            "name": "n" * 200,
            "prescribed": {
                "sets": 0,
                "reps": 100_000,
                "holdSeconds": 0,
                "painTarget": 0,
                "exertionTarget": 10,
            },
        }
        for i in range(100)
    ]
    clinic.start(body={"exercises": exercises})
    clinic.start(body={"exercises": [{"exerciseId": "walk", "name": "Walk"}]})


def test_the_same_idempotency_key_and_body_replay_the_first_workout(clinic: Clinic) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = clinic.api.ok("POST", WORKOUTS, clinic.sam | key, 201, json={"exercises": PLAN})
    before = clinic.head()
    again = clinic.send("POST", WORKOUTS, clinic.sam | key, json={"exercises": PLAN})
    assert again.status_code == 201 and again.json()["workoutId"] == first["workoutId"]
    assert clinic.head() == before
    clinic.rejected("POST", WORKOUTS, clinic.sam | key, 422, json={"exercises": PLAN[:1]})


# -- PUT /v1/workouts/{id}/exercises/{exerciseId} ------------------------------------------


def test_a_patient_records_an_exercise_of_their_workout_200(clinic: Clinic) -> None:
    workout = clinic.start()
    before = clinic.head()
    body = {"actual": {"sets": 2, "reps": 8, "durationSeconds": 90}, "pain": 10, "exertion": 0}
    recorded = clinic.api.ok("PUT", record(workout), clinic.sam, json=body | {"patientNotes": ""})
    assert recorded["workoutId"] == workout and recorded["exerciseId"] == "squat"
    assert recorded["position"] > before
    # Recording again replaces what was recorded; every field is optional.
    clinic.api.ok("PUT", record(workout), clinic.sam, json={})


def test_recording_needs_a_token_401(clinic: Clinic) -> None:
    clinic.rejected("PUT", record(clinic.start()), {}, 401, json=EASY)


@pytest.mark.parametrize(
    "role", [Role.DOCTOR, Role.HOSPITAL_ADMIN, Role.PX_ADMIN, Role.PLATFORM_ADMIN]
)
def test_only_a_patient_records_an_exercise_403(clinic: Clinic, role: Role) -> None:
    headers = clinic.as_(role, clinic.maya)
    clinic.rejected("PUT", record(clinic.start()), headers, 403, json=EASY)


def test_recording_an_unknown_workout_or_exercise_is_404(clinic: Clinic) -> None:
    workout = clinic.start()
    clinic.rejected("PUT", record(str(uuid.uuid4())), clinic.sam, 404, json=EASY)
    clinic.rejected("PUT", record(workout, "lunge"), clinic.sam, 404, json=EASY)


def test_recording_another_patients_workout_is_404_in_the_same_or_another_tenant(
    clinic: Clinic,
) -> None:
    workout = clinic.start()
    for intruder in (clinic.kim, clinic.elsewhere_patient):
        clinic.rejected("PUT", record(workout), intruder, 404, json=EASY)
    theirs = clinic.start(clinic.elsewhere_patient)
    clinic.rejected("PUT", record(theirs), clinic.sam, 404, json=EASY)


def test_recording_after_finalize_is_409_and_writes_nothing(clinic: Clinic) -> None:
    workout = clinic.finalized()
    problem = clinic.rejected("PUT", record(workout, "plank"), clinic.sam, 409, json=EASY)
    assert "finalized" in problem["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pain": 11}, "pain"),
        ({"pain": -1}, "pain"),
        ({"exertion": 11}, "exertion"),
        ({"exertion": -1}, "exertion"),
        ({"pain": "7"}, "pain"),
        ({"pain": 6.5}, "pain"),
        ({"patientNotes": "n" * 2001}, "patientNotes"),
        ({"patientNotes": "nul \x00"}, "patientNotes"),
        ({"actual": {"sets": -1}}, "actual.sets"),
        ({"actual": {"durationSeconds": "long"}}, "actual.durationSeconds"),
        ({"actual": {"holdSeconds": 3}}, "actual.holdSeconds"),
        ({"painScore": 3}, "painScore"),
    ],
    ids=[
        "pain-11",
        "pain-negative",
        "exertion-11",
        "exertion-negative",
        "pain-a-string",
        "pain-fractional",
        "2001-character-notes",
        "nul-in-notes",
        "negative-sets",
        "duration-a-string",
        "unknown-actual",
        "unknown-field",
    ],
)
def test_an_invalid_recording_is_422_naming_the_field_and_writes_nothing(
    clinic: Clinic, body: dict[str, Any], field: str
) -> None:
    problem = clinic.rejected("PUT", record(clinic.start()), clinic.sam, 422, json=body)
    assert field in error_fields(problem), problem


def test_notes_of_2000_characters_with_line_breaks_are_accepted(clinic: Clinic) -> None:
    notes = ("Sore knee.\n\tBetter after rest. " * 100)[:2000]
    clinic.api.ok("PUT", record(clinic.start()), clinic.sam, json={"patientNotes": notes})


# -- POST /v1/workouts/{id}/finalize ---------------------------------------------------------


def test_finalizing_twice_answers_200_both_times_and_the_second_changes_nothing(
    clinic: Clinic,
) -> None:
    workout = clinic.start()
    first = clinic.api.ok("POST", f"{WORKOUTS}/{workout}/finalize", clinic.sam)
    assert first["workoutId"] == workout and first["alreadyFinalized"] is False
    before = clinic.head()
    again = clinic.api.ok("POST", f"{WORKOUTS}/{workout}/finalize", clinic.sam)
    assert again["alreadyFinalized"] is True
    assert again["finalizedAt"] == first["finalizedAt"]
    assert clinic.head() == before


def test_finalizing_needs_a_token_401_and_a_patient_403(clinic: Clinic) -> None:
    path = f"{WORKOUTS}/{clinic.start()}/finalize"
    clinic.rejected("POST", path, {}, 401)
    for role in (Role.DOCTOR, Role.HOSPITAL_ADMIN, Role.PX_ADMIN, Role.PLATFORM_ADMIN):
        clinic.rejected("POST", path, clinic.as_(role, clinic.maya), 403)


def test_finalizing_an_unknown_or_another_patients_workout_is_404(clinic: Clinic) -> None:
    workout = clinic.start()
    path = f"{WORKOUTS}/{workout}/finalize"
    clinic.rejected("POST", f"{WORKOUTS}/{uuid.uuid4()}/finalize", clinic.sam, 404)
    clinic.rejected("POST", path, clinic.kim, 404)
    clinic.rejected("POST", path, clinic.elsewhere_patient, 404)
    clinic.rejected("POST", f"{WORKOUTS}/not-a-uuid/finalize", clinic.sam, 422)


# -- PUT /v1/workouts/{id}/exercises/{exerciseId}/note ---------------------------------------


def test_a_connected_doctor_saves_a_note_200_and_the_same_text_again_writes_nothing(
    clinic: Clinic,
) -> None:
    workout = clinic.finalized()
    saved = clinic.api.ok("PUT", note(workout), clinic.maya_h, json={"text": "Nice work."})
    assert (saved["workoutId"], saved["exerciseId"], saved["text"]) == (
        workout,
        "squat",
        "Nice work.",
    )
    assert saved["windowClosesAt"]
    before = clinic.head()
    again = clinic.api.ok("PUT", note(workout), clinic.maya_h, json={"text": "Nice work."})
    assert "windowClosesAt" not in again
    assert clinic.head() == before
    edited = clinic.api.ok("PUT", note(workout), clinic.maya_h, json={"text": "n" * 1000})
    assert edited["position"] > before


def test_a_note_needs_a_token_401(clinic: Clinic) -> None:
    clinic.rejected("PUT", note(clinic.finalized()), {}, 401, json={"text": "Hi"})


@pytest.mark.parametrize(
    "role", [Role.PATIENT, Role.HOSPITAL_ADMIN, Role.PX_ADMIN, Role.PLATFORM_ADMIN]
)
def test_only_a_doctor_saves_a_note_403(clinic: Clinic, role: Role) -> None:
    headers = clinic.as_(role, clinic.patient)
    clinic.rejected("PUT", note(clinic.finalized()), headers, 403, json={"text": "Hi"})


def test_an_unapproved_doctor_cannot_note_403(clinic: Clinic) -> None:
    headers = clinic.as_(Role.DOCTOR, clinic.una)
    clinic.rejected("PUT", note(clinic.finalized()), headers, 403, json={"text": "Hi"})


def test_a_note_on_an_unknown_workout_or_exercise_is_404(clinic: Clinic) -> None:
    workout = clinic.finalized()
    clinic.rejected("PUT", note(str(uuid.uuid4())), clinic.maya_h, 404, json={"text": "Hi"})
    clinic.rejected("PUT", note(workout, "lunge"), clinic.maya_h, 404, json={"text": "Hi"})


def test_a_doctor_not_connected_to_the_patient_gets_404_in_this_or_another_tenant(
    clinic: Clinic,
) -> None:
    workout = clinic.finalized()
    for stranger in (clinic.tomas_h, clinic.elsewhere_doctor):
        problem = clinic.rejected("PUT", note(workout), stranger, 404, json={"text": "Hi"})
        assert problem["detail"] == f"No workout with id {workout}."
    theirs = clinic.finalized(clinic.elsewhere_patient)
    clinic.rejected("PUT", note(theirs), clinic.maya_h, 404, json={"text": "Hi"})


def test_a_note_on_a_workout_not_yet_finalized_is_409(clinic: Clinic) -> None:
    clinic.rejected("PUT", note(clinic.start()), clinic.maya_h, 409, json={"text": "Early"})


@pytest.mark.parametrize(
    "body",
    [{"text": ""}, {"text": "   "}, {"text": "n" * 1001}, {}, {"text": 5}, {"text": "a\x00"}],
    ids=["empty", "blank", "1001-characters", "missing", "a-number", "nul"],
)
def test_an_invalid_note_is_422_and_writes_nothing(clinic: Clinic, body: dict[str, Any]) -> None:
    problem = clinic.rejected("PUT", note(clinic.finalized()), clinic.maya_h, 422, json=body)
    assert "text" in error_fields(problem), problem


# -- DELETE /v1/workouts/{id}/exercises/{exerciseId}/note ------------------------------------


def test_a_doctor_deletes_their_note_200_and_a_second_delete_is_404(clinic: Clinic) -> None:
    workout = clinic.noted()
    deleted = clinic.api.ok("DELETE", note(workout), clinic.maya_h)
    assert deleted["workoutId"] == workout and deleted["windowClosesAt"]
    clinic.rejected("DELETE", note(workout), clinic.maya_h, 404)


def test_deleting_a_note_needs_a_token_401_and_a_doctor_403(clinic: Clinic) -> None:
    workout = clinic.noted()
    clinic.rejected("DELETE", note(workout), {}, 401)
    for role in (Role.PATIENT, Role.HOSPITAL_ADMIN, Role.PX_ADMIN, Role.PLATFORM_ADMIN):
        clinic.rejected("DELETE", note(workout), clinic.as_(role, clinic.patient), 403)


def test_deleting_where_there_is_no_note_of_yours_is_404(clinic: Clinic) -> None:
    workout = clinic.noted()
    clinic.rejected("DELETE", note(workout, "plank"), clinic.maya_h, 404)
    clinic.rejected("DELETE", note(workout, "lunge"), clinic.maya_h, 404)
    clinic.rejected("DELETE", note(str(uuid.uuid4())), clinic.maya_h, 404)
    for stranger in (clinic.tomas_h, clinic.elsewhere_doctor):
        clinic.rejected("DELETE", note(workout), stranger, 404)


# -- GET /v1/workouts/{id}: the Session Viewer ------------------------------------------------


def test_the_session_viewer_shows_prescribed_vs_actual_targets_vs_scores_and_every_note(
    clinic: Clinic,
) -> None:
    api = clinic.api
    assigned = api.ok(
        "POST", "/v2/doctor/patients/assign", clinic.tomas_h, json={"patientId": clinic.patient2}
    )
    # A workout of a plan session is the treatment plans' tests' (it needs an enrollment).
    workout = clinic.start(clinic.kim, {"exercises": PLAN})
    api.ok(
        "PUT",
        record(workout),
        clinic.kim,
        json={"actual": {"sets": 2, "reps": 8}, "pain": 8, "exertion": 9, "patientNotes": "Ouch"},
    )
    api.ok("PUT", record(workout, "plank"), clinic.kim, json={"actual": {"durationSeconds": 25}})
    api.ok("POST", f"{WORKOUTS}/{workout}/finalize", clinic.kim)
    api.ok("PUT", note(workout), clinic.maya_h, json={"text": "Ease off the depth."})
    api.ok("PUT", note(workout), clinic.tomas_h, json={"text": "Ice afterwards."})
    api.ok("PUT", note(workout, "plank"), clinic.tomas_h, json={"text": "Good hold."})
    last = api.ok("DELETE", note(workout, "plank"), clinic.tomas_h)
    assert assigned["position"] < last["position"]

    viewers = [
        clinic.kim,
        clinic.maya_h,
        clinic.tomas_h,
        clinic.as_(Role.HOSPITAL_ADMIN, clinic.hospital_admin),
    ]
    views = [
        api.ok("GET", f"{WORKOUTS}/{workout}?minPosition={last['position']}", h) for h in viewers
    ]
    assert all(v == views[0] for v in views)
    view = views[0]
    assert (view["id"], view["tenantId"], view["patientId"]) == (
        workout,
        clinic.tenant,
        clinic.patient2,
    )
    assert (view["enrollmentId"], view["sessionId"]) == (None, None)
    assert view["startedAt"] <= view["finalizedAt"]
    squat, plank = view["exercises"]
    assert {k: squat[k] for k in squat if k != "therapistNotes"} == {
        "exerciseId": "squat",
        "name": "Squat",
        "prescribed": {"sets": 3, "reps": 10},
        "actual": {"sets": 2, "reps": 8},
        "painTarget": 3,
        "pain": 8,
        "exertionTarget": 6,
        "exertion": 9,
        "patientNotes": "Ouch",
    }
    assert [(n["doctorId"], n["doctorName"], n["text"]) for n in squat["therapistNotes"]] == [
        (clinic.maya, "Maya Lind", "Ease off the depth."),
        (clinic.tomas, "Tomas Reyes", "Ice afterwards."),
    ]
    assert all(n["updatedAt"] >= view["finalizedAt"] for n in squat["therapistNotes"])
    assert plank == {
        "exerciseId": "plank",
        "name": "Plank",
        "prescribed": {"holdSeconds": 30},
        "actual": {"durationSeconds": 25},
        "painTarget": None,
        "pain": None,
        "exertionTarget": None,
        "exertion": None,
        "patientNotes": None,
        "therapistNotes": [],
    }


def test_an_unfinalized_workout_shows_no_finalized_time_and_no_scores(clinic: Clinic) -> None:
    workout = clinic.start()
    view = clinic.api.ok("GET", f"{WORKOUTS}/{workout}?minPosition={clinic.head()}", clinic.maya_h)
    assert view["finalizedAt"] is None
    assert [e["actual"] for e in view["exercises"]] == [{}, {}]


def test_the_session_viewer_needs_a_token_401(clinic: Clinic) -> None:
    workout = clinic.start()
    assert_problem(clinic.send("GET", f"{WORKOUTS}/{workout}", {}), 401)


@pytest.mark.parametrize("role", [Role.PX_ADMIN, Role.PLATFORM_ADMIN])
def test_px_and_platform_admins_may_not_view_a_session_403(clinic: Clinic, role: Role) -> None:
    workout = clinic.start()
    assert_problem(
        clinic.send("GET", f"{WORKOUTS}/{workout}", clinic.as_(role, clinic.px_admin)), 403
    )


def test_anyone_else_finds_no_session_404(clinic: Clinic) -> None:
    workout = clinic.start()
    path = f"{WORKOUTS}/{workout}?minPosition={clinic.head()}"
    strangers = [
        clinic.kim,  # another patient of the clinic
        clinic.tomas_h,  # a doctor not connected to the patient
        clinic.elsewhere_patient,
        clinic.elsewhere_doctor,
        clinic.as_(Role.HOSPITAL_ADMIN, clinic.other_hospital_admin, clinic.other_tenant),
    ]
    for headers in strangers:
        problem = assert_problem(clinic.send("GET", path, headers), 404)
        assert problem["detail"] == f"No workout with id {workout}."
    unknown = clinic.send("GET", f"{WORKOUTS}/{uuid.uuid4()}", clinic.sam)
    assert_problem(unknown, 404)


def test_a_doctor_unassigned_from_the_patient_no_longer_sees_the_session(clinic: Clinic) -> None:
    api = clinic.api
    api.ok("POST", "/v2/doctor/patients/assign", clinic.tomas_h, json={"patientId": clinic.patient})
    workout = clinic.start()
    path = f"{WORKOUTS}/{workout}?minPosition={clinic.head()}"
    api.ok("GET", path, clinic.tomas_h)
    gone = api.ok(
        "POST",
        "/v2/doctor/patients/unassign",
        clinic.tomas_h,
        json={"patientId": clinic.patient, "doctorId": clinic.tomas},
    )
    path = f"{WORKOUTS}/{workout}?minPosition={gone['position']}"
    assert_problem(clinic.send("GET", path, clinic.tomas_h), 404)


def test_an_invalid_workout_id_or_min_position_is_422(clinic: Clinic) -> None:
    assert_problem(clinic.send("GET", f"{WORKOUTS}/not-a-uuid", clinic.sam), 422)
    workout = clinic.start()
    assert_problem(clinic.send("GET", f"{WORKOUTS}/{workout}?minPosition=-1", clinic.sam), 422)


def test_a_min_position_beyond_the_head_is_422_at_once(tmp_path: Path) -> None:
    # A read model that is behind a reachable position answers 503 with Retry-After
    # (tests/e2e/test_people_api_contract.py); one beyond the head can never be reached.
    with make_api("sqlite", tmp_path, min_position_timeout_seconds=5) as api:
        tenant = api.tenant()
        _, maya_h = api.doctor(tenant)
        patient = api.invite(maya_h)["patientId"]
        sam = auth(Role.PATIENT, patient, tenant)
        workout = api.ok("POST", WORKOUTS, sam, 201, json={"exercises": PLAN})["workoutId"]
        far = api.runtime.log.head() + 1000
        response = api.client.get(f"{WORKOUTS}/{workout}?minPosition={far}", headers=sam)
        assert "minPosition" in error_fields(assert_problem(response, 422))
