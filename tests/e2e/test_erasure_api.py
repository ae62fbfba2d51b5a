"""Erasing a patient over HTTP (POST /v1/patients/{id}/erase) and exporting one (GET
/v1/patients/{id}/export): who may, what is recorded, and what changes for the patient."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from domain.careteam.connection import connection_id
from domain.privacy.erasure import erasure_id
from domain.shared.context import Role
from tests.support.app import Api, auth, make_api
from tests.support.http import assert_problem

GROUND = {"reason": "consent_withdrawn"}


class Clinic:
    def __init__(self, api: Api, name: str = "Clinic") -> None:
        self.api = api
        self.tenant = api.tenant(name)
        api.flag(self.tenant, "therapistPatientAssignment")
        self.doctor, self.doctor_h = api.doctor(self.tenant)
        self.colleague = api.staff(self.tenant, "DOCTOR", "Cole", "Berg")
        self.patient = str(api.invite(self.doctor_h, "Sam", extra=[self.colleague])["patientId"])
        self.patient_h = auth(Role.PATIENT, self.patient, self.tenant)
        admin = api.staff(self.tenant, "HOSPITAL_ADMIN", "Hal", "Moss")
        self.admin_h = auth(Role.HOSPITAL_ADMIN, admin, self.tenant)

    def erase(self, patient: str | None = None, headers: dict[str, str] | None = None) -> Any:
        return self.api.client.post(
            f"/v1/patients/{patient or self.patient}/erase",
            headers=headers or self.admin_h,
            json=GROUND,
        )


def test_a_hospital_admin_erases_a_patient_once_and_the_record_names_no_personal_data(
    api: Api,
) -> None:
    clinic = Clinic(api)
    first = clinic.erase()
    assert first.status_code == 202, first.text
    body = first.json()
    assert body["patientId"] == clinic.patient and body["already"] is False
    again = clinic.erase()
    assert again.status_code == 202 and again.json()["already"] is True
    assert again.json()["erasedAt"] == body["erasedAt"]
    history = api.client.get(
        f"/v1/streams/{erasure_id(uuid.UUID(clinic.patient))}/events",
        headers=clinic.admin_h,
    )
    assert history.status_code == 200, history.text
    [recorded] = history.json()["events"]
    assert recorded["type"] == "Erasure.Recorded"
    assert set(recorded["data"]) - {"originatorTopic"} == {
        "tenantId",
        "patientId",
        "erasedBy",
        "reason",
    }
    assert recorded["data"]["reason"] == "consent_withdrawn"


def test_an_erased_patients_token_is_refused_from_then_on(api: Api) -> None:
    clinic = Clinic(api)
    assert api.client.get("/v1/me/notifications", headers=clinic.patient_h).status_code == 200
    clinic.erase()
    refused = api.client.get("/v1/me/notifications", headers=clinic.patient_h)
    assert_problem(refused, 401)


def test_an_erased_patient_leaves_every_care_team(backend: str, tmp_path: Path) -> None:
    with make_api(backend, tmp_path, process_managers=True) as api:
        clinic = Clinic(api)
        clinic.erase()

        def connections() -> list[Any]:
            return [
                api.runtime.log.find(connection_id(uuid.UUID(clinic.patient), uuid.UUID(d)))
                for d in (clinic.doctor, clinic.colleague)
            ]

        deadline = time.monotonic() + 15
        while any(c is None or c.active for c in connections()):
            assert time.monotonic() < deadline, "the erasure policy did not end the care team"
            time.sleep(0.05)


def test_only_a_hospital_admin_of_the_patients_clinic_may_erase(api: Api) -> None:
    clinic, other = Clinic(api, "Mine"), Clinic(api, "Theirs")
    assert_problem(clinic.erase(headers=clinic.doctor_h), 403)
    assert_problem(clinic.erase(headers=auth(Role.PLATFORM_ADMIN, uuid.uuid4())), 403)
    assert_problem(clinic.erase(patient=other.patient), 404)
    assert_problem(clinic.erase(patient=str(uuid.uuid4())), 404)
    bad = api.client.post(
        f"/v1/patients/{clinic.patient}/erase", headers=clinic.admin_h, json={"reason": "x"}
    )
    assert_problem(bad, 422)
    assert api.client.get("/v1/me/notifications", headers=other.patient_h).status_code == 200


def test_an_export_holds_every_aggregate_that_names_the_patient(api: Api) -> None:
    clinic = Clinic(api)
    api.ok("PUT", "/v1/me/language", clinic.patient_h, json={"language": "ar"})
    exported = api.ok("GET", f"/v1/patients/{clinic.patient}/export", clinic.admin_h)
    assert exported["patientId"] == clinic.patient
    types = {a["aggregateType"] for a in exported["aggregates"]}
    assert {"Patient", "Connection"} <= types
    [patient] = [a for a in exported["aggregates"] if a["aggregateType"] == "Patient"]
    assert [e["type"] for e in patient["events"]] == ["Patient.Invited", "Patient.LanguageSet"]
    assert patient["state"]["language"] == "ar"
    other = Clinic(api, "Theirs")
    assert_problem(
        api.client.get(f"/v1/patients/{other.patient}/export", headers=clinic.admin_h), 404
    )
