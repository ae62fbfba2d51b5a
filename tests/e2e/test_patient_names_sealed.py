"""A patient's name and email, and everything quoting them (the therapists' push "Sam
X reported high pain", the care-team lists, the conversations' participants), over HTTP
on both backends: never on disk in plaintext, null with `erased: true` once the
patient's key is destroyed, and the same after a rebuild of every read model from 0."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import Api, auth, make_api
from tests.support.feedback_http import eventually
from tests.support.http import wait_until_current
from tests.support.sealing import stored_bytes

TAG = uuid.uuid4().hex[:10]
SURNAME = f"Quillby{TAG}"
EMAIL = f"sam.{TAG}@patients.example"
# A therapist's name is not a patient's personal data: stored as it is, it shows that the
# scan reads the stored bytes (a BYTEA event as text would be hex, and find nothing).
THERAPIST = f"Lind{TAG}"
WINDOW = 0.5


@dataclass
class Clinic:
    api: Api
    tenant: str
    patient: str
    doctor_h: dict[str, str]
    admin_h: dict[str, str]
    conversation: str


def given_a_patient_with_a_summary_card_and_a_note_card(api: Api) -> Clinic:
    tenant = api.tenant("Harbour")
    for flag in (
        "feedbackNotifications",
        "therapistPatientAssignment",
        "allActivePatientsDashboard",
    ):
        api.flag(tenant, flag)
    _, doctor_h = api.doctor(tenant, "Maya", THERAPIST)
    admin_h = auth("hospital_admin", api.staff(tenant, "HOSPITAL_ADMIN", "Hal", "Moss"), tenant)
    invited = api.client.post(
        "/v1/patients/invite",
        headers={**doctor_h, "Idempotency-Key": f"invite-{TAG}"},  # its record is scanned too
        json={"firstName": "Sam", "lastName": SURNAME, "email": EMAIL},
    )
    assert invited.status_code == 201, invited.text
    patient = invited.json()["patientId"]
    patient_h = auth("patient", patient, tenant)
    exercises = [{"exerciseId": "squat", "name": "Squat", "prescribed": {"sets": 3}}]
    workout = api.ok("POST", "/v1/workouts", patient_h, 201, json={"exercises": exercises})
    workout_id = workout["workoutId"]
    api.ok(
        "PUT",
        f"/v1/workouts/{workout_id}/exercises/squat",
        patient_h,
        json={"actual": {"sets": 3}, "pain": 9, "exertion": 5},
    )
    api.ok("POST", f"/v1/workouts/{workout_id}/finalize", patient_h)
    eventually(lambda: api.ok("GET", "/v1/me/notifications", doctor_h), what="the summary push")
    api.ok(
        "PUT",
        f"/v1/workouts/{workout_id}/exercises/squat/note",
        doctor_h,
        json={"text": "Ease off the depth"},
    )
    eventually(lambda: api.ok("GET", "/v1/me/notifications", patient_h), what="the note push")
    wait_until_current(api.runtime)
    conversations = api.ok("GET", "/v1/conversations", doctor_h)
    return Clinic(api, tenant, patient, doctor_h, admin_h, conversations[0]["id"])


@pytest.fixture
def clinic(backend: str, tmp_path: Path) -> Iterator[Clinic]:
    with make_api(backend, tmp_path, process_managers=True, feedback_window_seconds=WINDOW) as api:
        yield given_a_patient_with_a_summary_card_and_a_note_card(api)


def gets(clinic: Clinic) -> dict[str, Any]:
    """Every answer that shows the patient's name or email, or quotes it."""
    api, doctor_h = clinic.api, clinic.doctor_h
    return {
        "patient": api.ok("GET", f"/v1/patients/{clinic.patient}", clinic.admin_h),
        "patients": api.ok("GET", f"/v1/tenants/{clinic.tenant}/patients", clinic.admin_h),
        "my patients": api.ok("GET", "/v2/doctor/patients", doctor_h),
        "all patients": api.ok("GET", "/v2/doctor/patients/all", doctor_h),
        "conversations": api.ok("GET", "/v1/conversations", doctor_h),
        "notifications": api.ok("GET", "/v1/me/notifications", doctor_h),
        "cards": api.ok("GET", f"/v1/conversations/{clinic.conversation}/messages", doctor_h),
    }


def the_patient_in(answers: dict[str, Any], clinic: Clinic) -> dict[str, Any]:
    """The object naming the patient in each answer that names them."""

    def one(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return next(r for r in rows if r["id"] == clinic.patient)

    return {
        "patient": answers["patient"],
        "patients": one(answers["patients"]),
        "my patients": one(answers["my patients"]),
        "all patients": one(answers["all patients"]),
        "conversations": one(answers["conversations"][0]["participants"]),
    }


def test_the_patients_name_and_email_are_shown_and_quoted_while_they_are_not_erased(
    clinic: Clinic,
) -> None:
    answers = gets(clinic)
    for where, patient in the_patient_in(answers, clinic).items():
        assert patient["lastName"] == SURNAME, where
        assert "erased" not in patient, where
    assert answers["patient"]["email"] == EMAIL
    [push] = answers["notifications"]
    assert push["title"] == f"Sam {SURNAME} reported high pain"


def test_no_file_or_table_holds_the_patients_surname_or_email(clinic: Clinic) -> None:
    stored = stored_bytes(clinic.api.runtime)
    assert THERAPIST.encode() in stored
    found = [m for m in (SURNAME, EMAIL) if m.encode() in stored]
    assert found == [], f"in plaintext on disk: {found}"


def test_once_the_patient_is_erased_every_answer_shows_null_and_erased_even_after_a_rebuild(
    clinic: Clinic,
) -> None:
    api = clinic.api
    before = gets(clinic)
    api.runtime.keys.destroy(uuid.UUID(clinic.patient))

    after = gets(clinic)
    assert SURNAME not in str(after) and EMAIL not in str(after)
    for where, patient in the_patient_in(after, clinic).items():
        assert (patient["firstName"], patient["lastName"]) == (None, None), where
        assert patient["erased"] is True, where
    assert after["patient"]["email"] is None
    [push] = after["notifications"]
    assert (push["title"], push["erased"]) == (None, True)
    assert push["body"] == before["notifications"][0]["body"], "what is not theirs stays"
    summary = next(m for m in after["cards"] if m["type"] == "PATIENT_FEEDBACK_SUMMARY")
    assert summary == next(m for m in before["cards"] if m["id"] == summary["id"])
    assert summary["card"]["exercises"][0]["pain"] == 9, "numbers stay"

    for projection in api.runtime.projections:
        api.runtime.store.reset(projection.name, projection.tables)
    api.runtime.catch_up()
    assert gets(clinic) == after
