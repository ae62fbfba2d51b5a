"""Pure folds: the staff directory row and the patient directory row."""

from __future__ import annotations

from typing import Any

from domain.careteam.connection import Connection
from domain.people.patient import Patient
from domain.people.staff import Staff
from projections.platform.store import Doc


def evolve_staff(row: Doc | None, event: Any) -> Doc | None:
    if isinstance(event, Staff.Registered):
        return {
            "id": str(event.originator_id),
            "tenantId": str(event.tenant_id),
            "type": event.staff_type,
            "firstName": event.first_name,
            "lastName": event.last_name,
            "email": event.email,
            "active": True,
            "approved": event.staff_type != "DOCTOR",
            "createdAt": event.timestamp.isoformat(),
        }
    if row is None:
        return None
    if isinstance(event, Staff.Approved):
        return {**row, "approved": True}
    if isinstance(event, Staff.Deactivated):
        return {**row, "active": False}
    return row


def evolve_patient(row: Doc | None, event: Any) -> Doc | None:
    if isinstance(event, Patient.Invited):
        return {
            "id": str(event.originator_id),
            "tenantId": str(event.tenant_id),
            "firstName": event.first_name,
            "lastName": event.last_name,
            "email": event.email,
            "timezone": event.timezone,
            "invitedBy": str(event.invited_by),
            "active": True,
            "therapistIds": [],
            "createdAt": event.timestamp.isoformat(),
        }
    if row is None:
        return None
    if isinstance(event, Connection.Assigned | Connection.Reactivated):
        doctor = str(event.doctor_id)
        if doctor not in row["therapistIds"]:
            return {**row, "therapistIds": [*row["therapistIds"], doctor]}
    if isinstance(event, Connection.Archived):
        doctor = str(event.doctor_id)
        return {**row, "therapistIds": [t for t in row["therapistIds"] if t != doctor]}
    return row
