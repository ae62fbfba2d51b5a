"""Pure folds of the care-team read model: each patient's connections, each doctor's status.

Who is *connected* (an active connection to a doctor who is still active) is worked out
when the rows are read, so deactivating a doctor changes one row, not one per patient.
"""

from __future__ import annotations

from typing import Any

from domain.careteam.connection import Connection
from domain.people.patient import Patient
from domain.people.staff import Staff
from projections.platform.store import Doc


def evolve_patient(row: Doc | None, event: Any) -> Doc | None:
    if isinstance(event, Patient.Invited):
        return {
            "id": str(event.originator_id),
            "tenantId": str(event.tenant_id),
            "firstName": event.first_name,
            "lastName": event.last_name,
            "email": event.email,
            "timezone": event.timezone,
            "active": True,
            "connections": {},
        }
    if row is None:
        return None
    if isinstance(event, Connection.Assigned | Connection.Reactivated):
        return {**row, "connections": {**row["connections"], str(event.doctor_id): True}}
    if isinstance(event, Connection.Archived):
        return {**row, "connections": {**row["connections"], str(event.doctor_id): False}}
    return row


def evolve_doctor(row: Doc | None, event: Any) -> Doc | None:
    if isinstance(event, Staff.Registered):
        if event.staff_type != "DOCTOR":
            return None
        return {
            "id": str(event.originator_id),
            "tenantId": str(event.tenant_id),
            "firstName": event.first_name,
            "lastName": event.last_name,
            "active": True,
            "approved": False,
        }
    if row is None:
        return None
    if isinstance(event, Staff.Approved):
        return {**row, "approved": True}
    if isinstance(event, Staff.Deactivated):
        return {**row, "active": False}
    return row


def connected_therapists(patient: Doc, doctors: dict[str, Doc]) -> list[Doc]:
    """The patient's care team: active connections to active doctors, by name."""
    team = [
        doctors[d]
        for d, active in patient["connections"].items()
        if active and d in doctors and doctors[d]["active"]
    ]
    team.sort(key=lambda d: (d["lastName"], d["firstName"], d["id"]))
    return [{"id": d["id"], "firstName": d["firstName"], "lastName": d["lastName"]} for d in team]
