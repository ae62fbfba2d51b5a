from __future__ import annotations

import uuid

from api.schemas.people import CamelModel, CamelOut, omitted_if_none


class AssignRequest(CamelModel):
    patient_id: uuid.UUID
    target_doctor_id: uuid.UUID | None = None


class Assigned(CamelOut):
    patient_id: uuid.UUID
    doctor_id: uuid.UUID
    reactivated: bool
    position: int


class UnassignRequest(CamelModel):
    patient_id: uuid.UUID
    doctor_id: uuid.UUID


class Unassigned(CamelOut):
    patient_id: uuid.UUID
    doctor_id: uuid.UUID
    position: int


class TherapistInfo(CamelOut):
    id: uuid.UUID
    first_name: str
    last_name: str


class PatientSummary(CamelOut):
    """A patient's name and email are null once they are erased (`erased: true`)."""

    id: uuid.UUID
    first_name: str | None
    last_name: str | None
    email: str | None
    timezone: str
    connected_therapists: list[TherapistInfo] | None = omitted_if_none()
    is_connected_to_me: bool | None = omitted_if_none()
