from __future__ import annotations

from typing import Any

from domain.careteam.connection import Connection
from domain.people.patient import Patient
from domain.people.staff import Staff
from projections.careteam.evolve import evolve_doctor, evolve_patient
from projections.platform.projection import Batch, Projection

PATIENTS = "care_team_patient"
DOCTORS = "care_team_doctor"

STAFF_EVENTS = (Staff.Registered, Staff.Approved, Staff.Deactivated)
CONNECTION_EVENTS = (Connection.Assigned, Connection.Archived, Connection.Reactivated)


class CareTeamProjection(Projection):
    """Patients with their connections, and doctors with their status."""

    name = "care_team"
    tables = (PATIENTS, DOCTORS)
    handles = (*STAFF_EVENTS, Patient.Invited, *CONNECTION_EVENTS)

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        if isinstance(event, STAFF_EVENTS):
            table, key = DOCTORS, str(event.originator_id)
            row = evolve_doctor(batch.get(table, key), event)
        else:
            table = PATIENTS
            key = str(getattr(event, "patient_id", None) or event.originator_id)
            row = evolve_patient(batch.get(table, key), event)
        if row is not None:
            batch.put(table, key, row["tenantId"], row)
