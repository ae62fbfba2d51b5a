from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from domain.careteam.connection import Connection
from domain.people.patient import Patient
from domain.people.staff import Staff
from projections.careteam.evolve import KEY, caseload_changes, evolve_doctor, evolve_patient
from projections.platform.projection import Batch, Projection

PATIENTS = "care_team_patient"
DOCTORS = "care_team_doctor"
# One row per active connection, sorted by doctor: a doctor's patients are one index
# range, not their tenant's patients read and filtered (docs/decisions/0033).
CASELOAD = "care_team_caseload"

STAFF_EVENTS = (Staff.Registered, Staff.Approved, Staff.Deactivated)
CONNECTION_EVENTS = (Connection.Assigned, Connection.Archived, Connection.Reactivated)


class CareTeamProjection(Projection):
    """Patients with their connections, and doctors with their status."""

    name = "care_team"
    tables = (PATIENTS, DOCTORS, CASELOAD)
    sorted_by: ClassVar[Mapping[str, str]] = {CASELOAD: KEY}
    handles = (*STAFF_EVENTS, Patient.Invited, *CONNECTION_EVENTS)

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        if isinstance(event, STAFF_EVENTS):
            key = str(event.originator_id)
            doctor = evolve_doctor(batch.get(DOCTORS, key), event)
            if doctor is not None:
                batch.put(DOCTORS, key, doctor["tenantId"], doctor)
            return
        key = str(getattr(event, "patient_id", None) or event.originator_id)
        before = batch.get(PATIENTS, key)
        row = evolve_patient(before, event)
        if row is None:
            return
        batch.put(PATIENTS, key, row["tenantId"], row)
        gone, added = caseload_changes(before, row)
        for caseload_key in gone:
            batch.delete(CASELOAD, caseload_key)
        for caseload_key, doc in added:
            batch.put(CASELOAD, caseload_key, row["tenantId"], doc)
