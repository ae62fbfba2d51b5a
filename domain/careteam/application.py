"""Care teams: which therapists a patient has. Gated by `therapistPatientAssignment`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from domain.careteam.connection import Connection, connection_id
from domain.careteam.errors import NotAssignableError, NotConnectedError
from domain.people.application import practising_doctor
from domain.people.flags import Flag
from domain.people.patient import Patient
from domain.people.staff import Staff
from domain.people.tenant import Tenant
from domain.shared.context import Actor, Role
from domain.shared.errors import FeatureDisabledError, ForbiddenError
from domain.shared.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class TherapistAssigned:
    patient_id: uuid.UUID
    doctor_id: uuid.UUID
    reactivated: bool
    """True when an archived connection was made active again."""


@dataclass(frozen=True)
class TherapistUnassigned:
    patient_id: uuid.UUID
    doctor_id: uuid.UUID


def require_flag(uow: UnitOfWork, flag: Flag) -> Tenant:
    """The actor's tenant, if `flag` is on for it; checked before any other id is looked up."""
    tenant_id = uow.actor.tenant_id
    tenant = uow.find(Tenant, tenant_id) if tenant_id is not None else None
    if tenant is None or not tenant.is_enabled(flag):
        raise FeatureDisabledError(flag.value)
    return tenant


class CareTeams:
    """Assigning and unassigning therapists."""

    def assign(
        self, uow: UnitOfWork, patient_id: uuid.UUID, target_doctor_id: uuid.UUID | None
    ) -> TherapistAssigned:
        """Connects a doctor (the caller when `target_doctor_id` is None) to a patient.

        Reactivates an archived connection rather than creating a second one; an active
        pair is a no-op. One aggregate per pair makes concurrent calls produce one
        connection: the loser of the race retries and finds it.
        """
        tenant = require_flag(uow, Flag.THERAPIST_PATIENT_ASSIGNMENT)
        actor = uow.actor
        if actor.role is Role.DOCTOR:
            practising_doctor(uow, actor.user_id)
        if target_doctor_id is None:
            if actor.role is not Role.DOCTOR:
                raise NotAssignableError(
                    "Only a doctor can assign themself; name a targetDoctorId.",
                    errors=[{"field": "targetDoctorId", "message": "required for this role"}],
                )
            target_doctor_id = actor.user_id
        patient = uow.get(Patient, patient_id, "patient")
        target = uow.get(Staff, target_doctor_id, "doctor")
        if not target.is_practising_doctor:
            raise NotAssignableError(
                f"{target_doctor_id} is not an active, approved doctor.",
                errors=[
                    {
                        "field": "targetDoctorId",
                        "value": str(target_doctor_id),
                        "message": "not an active, approved doctor",
                    }
                ],
            )
        assert tenant.id == patient.tenant_id == target.tenant_id
        existing = uow.find(Connection, connection_id(patient.id, target.id))
        reactivated = False
        if existing is None:
            uow.add(Connection.assign(tenant.id, patient.id, target.id, actor.user_id, uow.now))
        else:
            uow.add(existing)
            reactivated = existing.reactivate(actor.user_id, uow.now)
        return TherapistAssigned(patient.id, target.id, reactivated)

    def unassign(
        self, uow: UnitOfWork, patient_id: uuid.UUID, doctor_id: uuid.UUID
    ) -> TherapistUnassigned:
        """Archives a connection. A hospital admin may archive any; a doctor only their own.

        Removing the last therapist is allowed: the patient stays active and shows on the
        All Active Patients dashboard with no therapist, ready for "Assign to Me".
        """
        actor = uow.actor
        _may_unassign(actor, doctor_id)
        patient = uow.get(Patient, patient_id, "patient")
        connection = uow.find(Connection, connection_id(patient.id, doctor_id))
        if connection is None:
            raise NotConnectedError(f"Doctor {doctor_id} is not connected to patient {patient_id}.")
        uow.add(connection)
        connection.archive(actor.user_id, uow.now)
        return TherapistUnassigned(patient.id, doctor_id)


def _may_unassign(actor: Actor, doctor_id: uuid.UUID) -> None:
    if actor.role is Role.HOSPITAL_ADMIN:
        return
    if actor.role is Role.DOCTOR and actor.user_id == doctor_id:
        return
    raise ForbiddenError("Only a hospital admin or the doctor themself may unassign.")
