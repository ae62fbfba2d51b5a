"""People, tenants and flags: the commands of the people context."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.careteam.connection import Connection
from domain.people.errors import InvalidTimezoneError, StaffNotActiveError, UnknownFlagError
from domain.people.flags import Flag
from domain.people.patient import Patient
from domain.people.staff import Staff, StaffType
from domain.people.tenant import Tenant
from domain.privacy.personal import PersonalText
from domain.shared.errors import InvalidInputError
from domain.shared.languages import LANGUAGE
from domain.shared.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class TenantCreated:
    id: uuid.UUID


@dataclass(frozen=True)
class FlagSet:
    tenant_id: uuid.UUID
    flag: Flag
    enabled: bool


@dataclass(frozen=True)
class StaffRegistered:
    id: uuid.UUID


@dataclass(frozen=True)
class StaffStatus:
    """A staff member's standing after an approval or a deactivation."""

    id: uuid.UUID
    approved: bool
    active: bool


@dataclass(frozen=True)
class PatientInvited:
    """The new patient and its care team: the inviting doctor first, then each additional
    therapist once."""

    patient_id: uuid.UUID
    therapist_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class LanguageSet:
    patient_id: uuid.UUID
    language: str


def parse_flag(name: str) -> Flag:
    try:
        return Flag(name)
    except ValueError:
        raise UnknownFlagError(f"There is no feature flag named '{name}'.") from None


def practising_doctor(uow: UnitOfWork, doctor_id: uuid.UUID) -> Staff:
    """The acting doctor, who must be active and approved to invite, note or be assigned."""
    staff = uow.find(Staff, doctor_id)
    if staff is None or not staff.is_practising_doctor:
        raise StaffNotActiveError("Only an active, approved doctor of this clinic may do this.")
    return staff


class People:
    """Tenants, staff, patients and feature flags."""

    def create_tenant(self, uow: UnitOfWork, name: str) -> TenantCreated:
        """Creates a tenant with every feature flag off."""
        tenant = Tenant(id=uow.new_id(), name=name, timestamp=uow.now)
        uow.add(tenant)
        return TenantCreated(tenant.id)

    def set_flag(
        self, uow: UnitOfWork, tenant_id: uuid.UUID, flag_name: str, enabled: bool
    ) -> FlagSet:
        """Turns a flag on or off; setting it to its current value records nothing."""
        tenant = uow.get(Tenant, tenant_id, "tenant")
        flag = parse_flag(flag_name)
        tenant.set_flag(flag, enabled, uow.now)
        return FlagSet(tenant.id, flag, enabled)

    def register_staff(
        self,
        uow: UnitOfWork,
        tenant_id: uuid.UUID,
        staff_type: StaffType,
        first_name: str,
        last_name: str,
        email: str,
    ) -> StaffRegistered:
        """Registers an active staff member; a doctor starts unapproved."""
        tenant = uow.get(Tenant, tenant_id, "tenant")
        staff = Staff(
            id=uow.new_id(),
            tenant_id=tenant.id,
            staff_type=staff_type.value,
            first_name=first_name,
            last_name=last_name,
            email=email,
            timestamp=uow.now,
        )
        uow.add(staff)
        return StaffRegistered(staff.id)

    def approve_staff(self, uow: UnitOfWork, staff_id: uuid.UUID) -> StaffStatus:
        staff = uow.get(Staff, staff_id, "staff member")
        staff.approve(uow.now)
        return StaffStatus(staff.id, staff.approved, staff.active)

    def deactivate_staff(self, uow: UnitOfWork, staff_id: uuid.UUID) -> StaffStatus:
        staff = uow.get(Staff, staff_id, "staff member")
        staff.deactivate(uow.now)
        return StaffStatus(staff.id, staff.approved, staff.active)

    def invite_patient(
        self,
        uow: UnitOfWork,
        first_name: str,
        last_name: str,
        email: str,
        timezone: str,
        additional_therapist_ids: list[uuid.UUID],
    ) -> PatientInvited:
        """Creates the patient, the inviting doctor's connection, then one connection per
        additional therapist, all or nothing. The name and email are sealed with the new
        patient's own key as they are stored (they are never written in plaintext).

        Duplicates in `additional_therapist_ids` and the caller's own id are dropped, so
        each therapist is connected once. Any id that is not an active, approved DOCTOR of
        the caller's tenant rejects the whole invite, naming every such id.
        """
        inviter = practising_doctor(uow, uow.actor.user_id)
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidTimezoneError(
                f"'{timezone}' is not an IANA time zone.",
                errors=[{"field": "timezone", "message": "unknown time zone"}],
            ) from None

        additional: list[uuid.UUID] = []
        for therapist_id in additional_therapist_ids:
            if therapist_id != inviter.id and therapist_id not in additional:
                additional.append(therapist_id)
        invalid = [
            t
            for t in additional
            if (s := uow.find(Staff, t)) is None
            or s.tenant_id != inviter.tenant_id
            or not s.is_practising_doctor
        ]
        if invalid:
            raise InvalidInputError(
                "Every additional therapist must be an active, approved doctor of this "
                f"clinic; these are not: {', '.join(map(str, invalid))}.",
                errors=[
                    {
                        "field": "additionalTherapistIds",
                        "index": additional_therapist_ids.index(t),
                        "value": str(t),
                        "message": "not an active, approved doctor of this clinic",
                    }
                    for t in invalid
                ],
            )

        assert inviter.tenant_id is not None
        patient_id = uow.new_id()
        patient = Patient(
            id=patient_id,
            tenant_id=inviter.tenant_id,
            first_name=PersonalText(patient_id, first_name),
            last_name=PersonalText(patient_id, last_name),
            email=PersonalText(patient_id, email),
            timezone=timezone,
            invited_by=inviter.id,
            timestamp=uow.now,
        )
        uow.add(patient)
        therapist_ids = [inviter.id, *additional]
        for therapist_id in therapist_ids:
            uow.add(
                Connection.assign(inviter.tenant_id, patient.id, therapist_id, inviter.id, uow.now)
            )
        return PatientInvited(patient.id, tuple(therapist_ids))

    def set_language(self, uow: UnitOfWork, patient_id: uuid.UUID, language: str) -> LanguageSet:
        """The language the patient reads forms in (a code such as `en` or `ar`); forms
        fall back to their default where they have no text in it."""
        if not LANGUAGE.match(language):
            raise InvalidInputError(
                f"'{language}' is not a language code.",
                errors=[{"field": "language", "message": "a language code such as en or ar"}],
            )
        patient = uow.get(Patient, patient_id, "patient")
        patient.set_language(language, uow.now)
        return LanguageSet(patient.id, language)
