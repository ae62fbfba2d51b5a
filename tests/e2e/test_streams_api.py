"""The history endpoints (`/v1/streams/...`), every status code, on SQLite and PostgreSQL:
the events of a workout driven over HTTP with their metadata, a plan's payload dataclasses
rendered as JSON, `version` and `asOf` semantics, 404/422, and who may read."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from domain.shared.context import Role
from tests.support.app import PLATFORM, Api, auth, make_api
from tests.support.http import assert_problem

Headers = dict[str, str]
EXERCISES = [{"exerciseId": e, "name": f"Exercise {e}"} for e in ("e1", "e2")]


@dataclass(frozen=True)
class Clinic:
    api: Api
    tenant: str
    doctor: str
    patient: str
    hospital_admin: str
    other_tenant: str

    def as_(self, role: Role, user: str | None = None, tenant: str | None = None) -> Headers:
        if role is Role.PLATFORM_ADMIN:
            return auth(role, PLATFORM)
        return auth(role, user or str(uuid.uuid4()), tenant or self.tenant)

    @property
    def patient_h(self) -> Headers:
        return self.as_(Role.PATIENT, self.patient)

    @property
    def doctor_h(self) -> Headers:
        return self.as_(Role.DOCTOR, self.doctor)

    @property
    def auditor(self) -> Headers:
        return self.as_(Role.AUDITOR)

    @property
    def admin(self) -> Headers:
        return self.as_(Role.HOSPITAL_ADMIN, self.hospital_admin)

    def get(self, path: str, headers: Headers, **params: Any) -> Any:
        response = self.api.client.get(path, headers=headers, params=params)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()

    def status(self, path: str, headers: Headers, **params: Any) -> int:
        return self.api.client.get(path, headers=headers, params=params).status_code

    def workout(self) -> str:
        """A workout of the patient: started, one exercise recorded, finalized, noted."""
        started = self.api.ok(
            "POST", "/v1/workouts", self.patient_h, 201, json={"exercises": EXERCISES}
        )
        workout = str(started["workoutId"])
        result = {"actual": {"sets": 3, "reps": 10}, "pain": 2, "exertion": 5}
        self.api.ok("PUT", f"/v1/workouts/{workout}/exercises/e1", self.patient_h, json=result)
        self.api.ok("POST", f"/v1/workouts/{workout}/finalize", self.patient_h)
        self.api.ok(
            "PUT",
            f"/v1/workouts/{workout}/exercises/e1/note",
            {**self.doctor_h, "X-Correlation-Id": "corr-note-1"},
            json={"text": "Slower on the way down."},
        )
        return workout


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def clinic(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Clinic]:
    with make_api(request.param, tmp_path_factory.mktemp("streams")) as api:
        tenant, other = api.tenant("Riverside"), api.tenant("Lakeside")
        doctor, doctor_h = api.doctor(tenant)
        patient = api.invite(doctor_h)["patientId"]
        yield Clinic(
            api=api,
            tenant=tenant,
            doctor=doctor,
            patient=patient,
            hospital_admin=api.staff(tenant, "HOSPITAL_ADMIN", "Hal", "Moss"),
            other_tenant=other,
        )


def events(workout: str) -> str:
    return f"/v1/streams/{workout}/events"


def stream(workout: str) -> str:
    return f"/v1/streams/{workout}"


def test_the_events_of_a_workout_come_with_their_positions_metadata_and_data(
    clinic: Clinic,
) -> None:
    workout = clinic.workout()
    body = clinic.get(events(workout), clinic.auditor)
    assert body["aggregateId"] == workout
    assert body["aggregateType"] == "Workout"
    listed = body["events"]
    assert [e["version"] for e in listed] == list(range(1, len(listed) + 1))
    positions = [e["position"] for e in listed]
    assert positions == sorted(positions) and positions[-1] <= clinic.api.runtime.log.head()
    types = [e["type"] for e in listed]
    assert types[0].startswith("Workout.") and "Workout.Finalized" in types
    first, last = listed[0], listed[-1]
    assert first["metadata"]["actorId"] == clinic.patient
    assert first["metadata"]["role"] == "patient"
    assert first["metadata"]["tenantId"] == clinic.tenant
    assert last["metadata"]["actorId"] == clinic.doctor
    assert last["metadata"]["role"] == "doctor"
    assert last["metadata"]["correlationId"] == "corr-note-1"
    # The request's audit action, from which its audit entry can be derived.
    assert (first["metadata"]["action"], first["metadata"]["actionStatus"]) == (
        "workout_started",
        201,
    )
    assert last["metadata"]["action"] == "note_saved"
    for event in listed:
        assert set(event["metadata"]) == {
            "actorId",
            "role",
            "tenantId",
            "correlationId",
            "causationId",
            "recordedAt",
            "action",
            "actionStatus",
        }
        assert not {"metadata", "originatorId", "originatorVersion", "timestamp"} & set(
            event["data"]
        )
        datetime.fromisoformat(event["recordedAt"])
    # Each position is the event's place in the one log.
    log = clinic.api.runtime.log
    assert positions[0] == log.position_of(uuid.UUID(workout), 1)


def test_the_state_at_each_version_is_the_workout_as_it_was(clinic: Clinic) -> None:
    workout = clinic.workout()
    listed = clinic.get(events(workout), clinic.admin)["events"]
    current = clinic.get(stream(workout), clinic.admin)
    assert current["version"] == len(listed)
    assert current["aggregateType"] == "Workout"
    assert current["state"]["tenantId"] == clinic.tenant
    assert current["state"]["finalizedAt"] is not None
    first = clinic.get(stream(workout), clinic.admin, version=1)
    assert first["version"] == 1 and first["state"]["finalizedAt"] is None
    assert first["recordedAt"] == listed[0]["recordedAt"]
    assert not any(key.startswith("_") for key in current["state"])
    for event in listed:
        at = clinic.get(stream(workout), clinic.admin, version=event["version"])
        assert at["version"] == event["version"]
        assert at["recordedAt"] == event["recordedAt"]


def test_as_of_a_time_is_the_state_after_the_last_event_at_or_before_it(clinic: Clinic) -> None:
    workout = clinic.workout()
    listed = clinic.get(events(workout), clinic.auditor)["events"]
    for event in listed:
        at = clinic.get(stream(workout), clinic.auditor, asOf=event["recordedAt"])
        # Events recorded at the same instant: the last of them.
        same = [e["version"] for e in listed if e["recordedAt"] == event["recordedAt"]]
        assert at["version"] == max(same)
    later = datetime.fromisoformat(listed[-1]["recordedAt"]) + timedelta(days=365)
    assert clinic.get(stream(workout), clinic.auditor, asOf=later.isoformat())["version"] == len(
        listed
    )
    before = datetime.fromisoformat(listed[0]["recordedAt"]) - timedelta(microseconds=1)
    assert_problem(
        clinic.api.client.get(
            stream(workout), headers=clinic.auditor, params={"asOf": before.isoformat()}
        ),
        404,
    )


def test_a_version_beyond_the_last_is_404_and_below_one_is_422(clinic: Clinic) -> None:
    workout = clinic.workout()
    last = clinic.get(stream(workout), clinic.auditor)["version"]
    assert clinic.status(stream(workout), clinic.auditor, version=last + 1) == 404
    assert clinic.status(stream(workout), clinic.auditor, version=0) == 422
    assert clinic.status(stream(workout), clinic.auditor, version=-3) == 422
    assert clinic.status(stream(workout), clinic.auditor, asOf="yesterday") == 422


def test_version_and_as_of_together_are_422(clinic: Clinic) -> None:
    workout = clinic.workout()
    response = clinic.api.client.get(
        stream(workout),
        headers=clinic.auditor,
        params={"version": 1, "asOf": "2030-01-01T00:00:00+00:00"},
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "asOf"


def test_unknown_ids_and_another_tenants_ids_are_404(clinic: Clinic) -> None:
    workout = clinic.workout()
    elsewhere_admin = clinic.as_(Role.HOSPITAL_ADMIN, tenant=clinic.other_tenant)
    elsewhere_auditor = clinic.as_(Role.AUDITOR, tenant=clinic.other_tenant)
    unknown = str(uuid.uuid4())
    for headers in (elsewhere_admin, elsewhere_auditor):
        for path in (events(workout), stream(workout), f"{stream(workout)}?version=1"):
            assert_problem(clinic.api.client.get(path, headers=headers), 404)
    for path in (events(unknown), stream(unknown), f"{stream(unknown)}?version=1"):
        assert_problem(clinic.api.client.get(path, headers=clinic.auditor), 404)
    assert clinic.status("/v1/streams/not-a-uuid/events", clinic.auditor) == 422


@pytest.mark.parametrize("role", [Role.PATIENT, Role.DOCTOR, Role.PX_ADMIN])
def test_other_roles_are_403(clinic: Clinic, role: Role) -> None:
    workout = clinic.workout()
    user = {Role.PATIENT: clinic.patient, Role.DOCTOR: clinic.doctor}.get(role)
    headers = clinic.as_(role, user)
    for path in (events(workout), stream(workout), events(str(uuid.uuid4()))):
        assert_problem(clinic.api.client.get(path, headers=headers), 403)


def test_without_a_token_it_is_401(clinic: Clinic) -> None:
    assert_problem(clinic.api.client.get(events(str(uuid.uuid4()))), 401)


def test_a_platform_admin_reads_any_tenants_streams(clinic: Clinic) -> None:
    workout = clinic.workout()
    platform = clinic.as_(Role.PLATFORM_ADMIN)
    assert clinic.get(events(workout), platform)["aggregateType"] == "Workout"
    assert clinic.get(stream(workout), platform, version=1)["version"] == 1


def test_a_platform_level_exercise_is_the_platform_admins_alone(clinic: Clinic) -> None:
    platform = clinic.as_(Role.PLATFORM_ADMIN)
    exercise = clinic.api.ok("POST", "/v1/exercises", platform, 201, json={"name": "Lunge"})["id"]
    assert clinic.get(stream(exercise), platform)["state"]["tenantId"] is None
    for headers in (clinic.admin, clinic.auditor):
        assert_problem(clinic.api.client.get(events(exercise), headers=headers), 404)
        assert_problem(clinic.api.client.get(stream(exercise), headers=headers), 404)


def test_a_plans_payload_dataclasses_are_rendered_as_json(clinic: Clinic) -> None:
    exercise = clinic.api.ok("POST", "/v1/exercises", clinic.doctor_h, 201, json={"name": "Squat"})[
        "id"
    ]
    params = {"mode": "reps", "sets": 3, "reps": 10, "restBetweenSetsSeconds": 30}
    content = {
        "scope": "org",
        "title": "Knee rehab",
        "type": "in_clinic",
        "frequencyPerWeek": 2,
        "durationWeeks": 4,
        "visibility": "library",
        "sessions": [{"title": "Day 1", "exercises": [{"exerciseId": exercise, "params": params}]}],
    }
    plan = clinic.api.ok("POST", "/v1/treatment-plans", clinic.doctor_h, 201, json=content)["id"]
    clinic.api.ok("POST", f"/v1/treatment-plans/{plan}/publish", clinic.doctor_h)
    listed = clinic.get(events(plan), clinic.auditor)
    assert listed["aggregateType"] == "TreatmentPlan"
    assert listed["events"][-1]["type"] == "TreatmentPlan.Published"
    text = str(listed) + str(clinic.get(stream(plan), clinic.auditor))
    # The payload dataclasses are plain JSON objects with camelCase keys, not reprs.
    assert "Knee rehab" in text and "Day 1" in text
    assert "restBetweenSetsSeconds" in text and "_type_" not in text and "(" not in text
