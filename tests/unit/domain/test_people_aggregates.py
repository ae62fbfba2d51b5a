"""The people context's aggregates and application rules, given events / when command /
then events, without a database."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from domain.careteam.connection import Connection, connection_id
from domain.people.application import FlagSet, PatientInvited, People
from domain.people.errors import InvalidTimezoneError, StaffNotActiveError, UnknownFlagError
from domain.people.flags import Flag
from domain.people.patient import Patient
from domain.people.staff import Staff, StaffType
from domain.people.tenant import Tenant
from domain.privacy.personal import PersonalText
from domain.shared.aggregate import TimestampRequiredError
from domain.shared.clock import FakeClock, SequentialIds
from domain.shared.context import Actor, CommandContext, Role
from domain.shared.errors import InvalidInputError, NotFoundError
from domain.shared.eventlog import EventLog
from domain.shared.unit_of_work import UnitOfWork
from tests.support.given import given, names, new_events
from tests.support.sealing import sealing

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)
CLINIC = uuid.UUID("00000000-0000-4000-a000-00000000c001")
DOCTOR = uuid.UUID("00000000-0000-4000-a000-00000000d001")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")
ADMIN = uuid.UUID("00000000-0000-4000-a000-00000000a001")


# -- given: aggregates and steps ---------------------------------------------------------


def a_patient(first: str | None = "Sam", email: str | None = "sam@patients.example") -> Patient:
    return Patient(
        id=PATIENT,
        tenant_id=CLINIC,
        first_name=PersonalText(PATIENT, first),
        last_name=PersonalText(PATIENT, "Carter" if first else None),
        email=PersonalText(PATIENT, email),
        timezone="Europe/Oslo",
        invited_by=DOCTOR,
        timestamp=T0,
    )


def a_tenant() -> Tenant:
    return Tenant(id=CLINIC, name="Riverside", timestamp=T0)


def flag_set(flag: Flag, enabled: bool) -> Any:
    return lambda tenant: tenant.set_flag(flag, enabled, T0)


def a_doctor() -> Staff:
    return Staff(
        id=DOCTOR,
        tenant_id=CLINIC,
        staff_type=StaffType.DOCTOR.value,
        first_name="Maya",
        last_name="Lind",
        email="maya@riverside.example",
        timestamp=T0,
    )


def approved() -> Any:
    return lambda staff: staff.approve(T0)


def deactivated() -> Any:
    return lambda staff: staff.deactivate(T0)


def a_connection() -> Connection:
    return Connection.assign(CLINIC, PATIENT, DOCTOR, assigned_by=DOCTOR, at=T0)


def archived() -> Any:
    return lambda connection: connection.archive(by=ADMIN, at=T0)


# -- Tenant ------------------------------------------------------------------------------


def test_a_new_tenant_has_every_feature_flag_off() -> None:
    tenant = given(a_tenant())
    assert all(not tenant.is_enabled(flag) for flag in Flag)
    assert tenant.tenant_id == CLINIC


def test_turning_a_flag_on_records_that_one_flag() -> None:
    tenant = given(a_tenant())
    tenant.set_flag(Flag.FEEDBACK_NOTIFICATIONS, True, T1)
    [changed] = new_events(tenant)
    assert isinstance(changed, Tenant.FeatureFlagChanged)
    assert (changed.flag, changed.enabled, changed.timestamp) == ("feedbackNotifications", True, T1)
    assert tenant.is_enabled(Flag.FEEDBACK_NOTIFICATIONS)
    assert not tenant.is_enabled(Flag.THERAPIST_PATIENT_ASSIGNMENT)


def test_turning_off_a_flag_that_is_off_records_nothing() -> None:
    tenant = given(a_tenant())
    tenant.set_flag(Flag.FEEDBACK_NOTIFICATIONS, False, T1)
    assert new_events(tenant) == []


def test_turning_on_a_flag_that_is_on_records_nothing() -> None:
    tenant = given(a_tenant(), flag_set(Flag.FEEDBACK_NOTIFICATIONS, True))
    tenant.set_flag(Flag.FEEDBACK_NOTIFICATIONS, True, T1)
    assert new_events(tenant) == []
    assert tenant.is_enabled(Flag.FEEDBACK_NOTIFICATIONS)


def test_a_flag_turned_on_then_off_is_off_after_replay() -> None:
    tenant = given(
        a_tenant(),
        flag_set(Flag.ALL_ACTIVE_PATIENTS_DASHBOARD, True),
        flag_set(Flag.ALL_ACTIVE_PATIENTS_DASHBOARD, False),
    )
    assert not tenant.is_enabled(Flag.ALL_ACTIVE_PATIENTS_DASHBOARD)
    assert tenant.version == 3


# -- Staff -------------------------------------------------------------------------------


def test_a_doctor_starts_active_but_unapproved_and_may_not_practise() -> None:
    doctor = given(a_doctor())
    assert doctor.active
    assert not doctor.approved
    assert not doctor.is_practising_doctor


@pytest.mark.parametrize("staff_type", [StaffType.HOSPITAL_ADMIN, StaffType.PX_ADMIN])
def test_an_admin_starts_approved_but_is_not_a_practising_doctor(staff_type: StaffType) -> None:
    admin = given(
        Staff(
            id=ADMIN,
            tenant_id=CLINIC,
            staff_type=staff_type.value,
            first_name="Ada",
            last_name="Ng",
            email="ada@riverside.example",
            timestamp=T0,
        )
    )
    assert admin.approved
    assert not admin.is_practising_doctor


def test_approving_a_doctor_lets_them_practise() -> None:
    doctor = given(a_doctor())
    doctor.approve(T1)
    assert names(new_events(doctor)) == ["Staff.Approved"]
    assert doctor.is_practising_doctor


def test_approving_a_doctor_twice_records_one_approval() -> None:
    doctor = given(a_doctor(), approved())
    doctor.approve(T1)
    assert new_events(doctor) == []
    assert doctor.approved


def test_a_deactivated_doctor_may_not_practise_and_deactivating_again_records_nothing() -> None:
    doctor = given(a_doctor(), approved(), deactivated())
    assert not doctor.is_practising_doctor
    doctor.deactivate(T1)
    assert new_events(doctor) == []


# -- Patient -----------------------------------------------------------------------------


def test_an_invited_patient_is_active_in_the_inviters_tenant() -> None:
    patient = given(a_patient())
    assert (patient.tenant_id, patient.invited_by, patient.active) == (CLINIC, DOCTOR, True)
    assert patient.name == PersonalText(PATIENT, "Sam Carter")


def test_a_patients_name_is_personal_text_sealed_with_their_own_key() -> None:
    name = given(a_patient()).name
    assert name.subject == PATIENT and name.text == "Sam Carter"


def test_an_erased_patients_name_reads_as_none_and_nothing_crashes() -> None:
    # As a replay reads them once the key is destroyed: every personal value None.
    patient = given(a_patient(first=None, email=None))
    assert patient.erased
    assert patient.name == PersonalText(PATIENT, None) and patient.name.erased


def test_inviting_a_patient_stores_no_plaintext_name_or_email(clinic: Clinic) -> None:
    tenant = clinic.tenant()
    doctor = clinic.staff(tenant)
    invited = clinic.invite(doctor, tenant)
    [event] = [e for e in clinic.log.stream(invited.patient_id) if isinstance(e, Patient.Invited)]
    assert event.first_name == PersonalText(invited.patient_id, "Sam")
    assert event.email == PersonalText(invited.patient_id, "sam@patients.example")
    stored = b"".join(
        n.state for n in clinic.log.recorder.select_notifications(start=1, limit=1000)
    )
    assert b"Carter" not in stored and b"patients.example" not in stored


# -- Connection --------------------------------------------------------------------------


def test_a_connections_id_derives_from_the_patient_and_doctor_pair() -> None:
    first = Connection.assign(CLINIC, PATIENT, DOCTOR, assigned_by=DOCTOR, at=T0)
    second = Connection.assign(CLINIC, PATIENT, DOCTOR, assigned_by=ADMIN, at=T1)
    assert first.id == second.id == connection_id(PATIENT, DOCTOR)
    assert connection_id(PATIENT, DOCTOR) != connection_id(DOCTOR, PATIENT)
    assert connection_id(PATIENT, DOCTOR) != connection_id(PATIENT, ADMIN)


def test_a_new_connection_is_active() -> None:
    connection = given(a_connection())
    assert connection.active
    assert (connection.patient_id, connection.doctor_id) == (PATIENT, DOCTOR)


def test_archiving_an_active_connection_records_who_archived_it() -> None:
    connection = given(a_connection())
    connection.archive(by=ADMIN, at=T1)
    [event] = new_events(connection)
    assert isinstance(event, Connection.Archived)
    assert (event.patient_id, event.doctor_id, event.archived_by) == (PATIENT, DOCTOR, ADMIN)
    assert not connection.active


def test_archiving_an_archived_connection_records_nothing() -> None:
    connection = given(a_connection(), archived())
    connection.archive(by=ADMIN, at=T1)
    assert new_events(connection) == []


def test_reactivating_an_archived_connection_returns_true_and_records_it() -> None:
    connection = given(a_connection(), archived())
    assert connection.reactivate(by=DOCTOR, at=T1) is True
    [event] = new_events(connection)
    assert isinstance(event, Connection.Reactivated)
    assert (event.patient_id, event.doctor_id, event.reactivated_by) == (PATIENT, DOCTOR, DOCTOR)
    assert connection.active


def test_reactivating_an_active_connection_returns_false_and_records_nothing() -> None:
    connection = given(a_connection())
    assert connection.reactivate(by=DOCTOR, at=T1) is False
    assert new_events(connection) == []


# -- Time comes from outside -------------------------------------------------------------


def test_creating_an_aggregate_event_without_a_timestamp_raises() -> None:
    with pytest.raises(TimestampRequiredError):
        Tenant._create(Tenant.Created, id=CLINIC, name="Riverside")
    with pytest.raises(TimestampRequiredError):
        Connection._create(
            Connection.Assigned,
            id=connection_id(PATIENT, DOCTOR),
            tenant_id=CLINIC,
            patient_id=PATIENT,
            doctor_id=DOCTOR,
            assigned_by=DOCTOR,
        )


@pytest.mark.parametrize(
    ("aggregate", "event_cls", "fields"),
    [
        (a_tenant, Tenant.FeatureFlagChanged, {"flag": "feedbackNotifications", "enabled": True}),
        (a_doctor, Staff.Approved, {}),
        (a_doctor, Staff.Deactivated, {}),
        (
            a_connection,
            Connection.Archived,
            {"patient_id": PATIENT, "doctor_id": DOCTOR, "archived_by": ADMIN},
        ),
    ],
)
def test_triggering_an_event_without_a_timestamp_raises_and_records_nothing(
    aggregate: Any, event_cls: type[Any], fields: dict[str, Any]
) -> None:
    subject = given(aggregate())
    with pytest.raises(TimestampRequiredError):
        subject.trigger_event(event_cls, **fields)
    assert new_events(subject) == []


def test_every_event_carries_the_time_it_was_given() -> None:
    doctor = given(a_doctor())
    doctor.approve(T1)
    doctor.deactivate(T1 + timedelta(days=1))
    assert [e.timestamp for e in new_events(doctor)] == [T1, T1 + timedelta(days=1)]
    assert doctor.created_on == T0


# -- People application rules, through a unit of work ------------------------------------

PLATFORM_ADMIN = Actor(uuid.UUID(int=0xAA), Role.PLATFORM_ADMIN, None)
R = TypeVar("R")


class Clinic:
    """A People application over an in-memory event log, a fake clock and predictable ids."""

    def __init__(self) -> None:
        self.log = EventLog()  # no PERSISTENCE_MODULE: the library's in-memory recorder
        self.keys = sealing(self.log)
        self.clock = FakeClock(T0)
        self.ids = SequentialIds()
        self.people = People()

    def run(self, actor: Actor, command: Callable[[UnitOfWork], R]) -> R:
        uow = UnitOfWork(self.log, CommandContext(actor), self.clock, self.ids)
        result = command(uow)
        uow.commit()
        return result

    def admin(self, call: Callable[[UnitOfWork], R]) -> R:
        return self.run(PLATFORM_ADMIN, call)

    def tenant(self) -> uuid.UUID:
        return self.admin(lambda uow: self.people.create_tenant(uow, "Riverside")).id

    def staff(
        self, tenant: uuid.UUID, staff_type: StaffType = StaffType.DOCTOR, approve: bool = True
    ) -> uuid.UUID:
        staff_id = self.admin(
            lambda uow: self.people.register_staff(
                uow, tenant, staff_type, "Maya", "Lind", "maya@riverside.example"
            )
        ).id
        if approve:
            self.admin(lambda uow: self.people.approve_staff(uow, staff_id))
        return staff_id

    def invite(
        self,
        doctor: uuid.UUID,
        tenant: uuid.UUID,
        extra: list[uuid.UUID] | None = None,
        timezone: str = "Europe/Oslo",
    ) -> PatientInvited:
        actor = Actor(doctor, Role.DOCTOR, tenant)
        return self.run(
            actor,
            lambda uow: self.people.invite_patient(
                uow, "Sam", "Carter", "sam@patients.example", timezone, extra or []
            ),
        )


@pytest.fixture
def clinic() -> Iterator[Clinic]:
    c = Clinic()
    yield c
    c.log.close()


def test_a_tenant_is_created_with_the_next_id_and_the_clocks_time(clinic: Clinic) -> None:
    tenant_id = clinic.tenant()
    assert tenant_id == uuid.UUID("00000000-0000-4000-8000-000000000001")
    tenant: Tenant = clinic.log.repository.get(tenant_id)
    assert tenant.created_on == T0
    assert all(not tenant.is_enabled(flag) for flag in Flag)


def test_setting_an_unknown_flag_is_rejected(clinic: Clinic) -> None:
    tenant = clinic.tenant()
    with pytest.raises(UnknownFlagError):
        clinic.admin(lambda uow: clinic.people.set_flag(uow, tenant, "darkMode", True))


def test_setting_a_flag_to_its_value_writes_nothing(clinic: Clinic) -> None:
    tenant = clinic.tenant()
    head = clinic.log.head()
    flag_set = clinic.admin(
        lambda uow: clinic.people.set_flag(uow, tenant, "feedbackNotifications", False)
    )
    assert flag_set == FlagSet(tenant, Flag.FEEDBACK_NOTIFICATIONS, enabled=False)
    assert clinic.log.head() == head


def test_a_hospital_admin_cannot_approve_staff_of_another_tenant(clinic: Clinic) -> None:
    mine, theirs = clinic.tenant(), clinic.tenant()
    doctor = clinic.staff(theirs, approve=False)
    admin = Actor(uuid.uuid4(), Role.HOSPITAL_ADMIN, mine)
    with pytest.raises(NotFoundError):
        clinic.run(admin, lambda uow: clinic.people.approve_staff(uow, doctor))
    assert not clinic.log.repository.get(doctor).approved


def test_an_approved_doctor_invites_a_patient_connected_to_them(clinic: Clinic) -> None:
    tenant = clinic.tenant()
    doctor = clinic.staff(tenant)
    invited = clinic.invite(doctor, tenant)

    patient_id = invited.patient_id
    assert invited.therapist_ids == (doctor,)
    patient: Patient = clinic.log.repository.get(patient_id)
    assert (patient.tenant_id, patient.invited_by, patient.timezone) == (
        tenant,
        doctor,
        "Europe/Oslo",
    )
    connection: Connection = clinic.log.repository.get(connection_id(patient_id, doctor))
    assert connection.active
    assert connection.tenant_id == tenant


def test_an_unapproved_doctor_may_not_invite(clinic: Clinic) -> None:
    tenant = clinic.tenant()
    doctor = clinic.staff(tenant, approve=False)
    head = clinic.log.head()
    with pytest.raises(StaffNotActiveError):
        clinic.invite(doctor, tenant)
    assert clinic.log.head() == head


def test_a_hospital_admin_may_not_invite(clinic: Clinic) -> None:
    tenant = clinic.tenant()
    admin = clinic.staff(tenant, StaffType.HOSPITAL_ADMIN)
    with pytest.raises(StaffNotActiveError):
        clinic.invite(admin, tenant)


def test_an_unknown_timezone_is_rejected_naming_the_field(clinic: Clinic) -> None:
    tenant = clinic.tenant()
    doctor = clinic.staff(tenant)
    with pytest.raises(InvalidTimezoneError) as raised:
        clinic.invite(doctor, tenant, timezone="Mars/Olympus_Mons")
    assert [e["field"] for e in raised.value.errors] == ["timezone"]


def test_each_additional_therapist_is_connected_once_and_the_inviter_is_not_repeated(
    clinic: Clinic,
) -> None:
    tenant = clinic.tenant()
    inviter, other = clinic.staff(tenant), clinic.staff(tenant)
    invited = clinic.invite(inviter, tenant, extra=[other, inviter, other])

    assert invited.therapist_ids == (inviter, other)
    patient_id = invited.patient_id
    for doctor in (inviter, other):
        assert clinic.log.stream(connection_id(patient_id, doctor))[0].originator_version == 1
    connections = [
        n
        for n in clinic.log.read(0, 100)
        if n.topic == "domain.careteam.connection:Connection.Assigned"
    ]
    assert len(connections) == 2


def test_an_invite_naming_any_unfit_therapist_is_rejected_whole_naming_each(
    clinic: Clinic,
) -> None:
    tenant, elsewhere = clinic.tenant(), clinic.tenant()
    inviter = clinic.staff(tenant)
    fit = clinic.staff(tenant)
    unapproved = clinic.staff(tenant, approve=False)
    admin = clinic.staff(tenant, StaffType.HOSPITAL_ADMIN)
    foreign = clinic.staff(elsewhere)
    unknown = uuid.uuid4()
    head = clinic.log.head()

    with pytest.raises(InvalidInputError) as raised:
        clinic.invite(inviter, tenant, extra=[fit, unapproved, admin, foreign, unknown])

    assert [(e["index"], e["value"]) for e in raised.value.errors] == [
        (1, str(unapproved)),
        (2, str(admin)),
        (3, str(foreign)),
        (4, str(unknown)),
    ]
    for bad in (unapproved, admin, foreign, unknown):
        assert str(bad) in raised.value.detail
    assert clinic.log.head() == head  # not even the patient or the fit doctor's connection


def test_invited_events_take_their_time_from_the_clock(clinic: Clinic) -> None:
    tenant = clinic.tenant()
    doctor = clinic.staff(tenant)
    at = clinic.clock.advance(3600)
    [invited] = clinic.log.stream(clinic.invite(doctor, tenant).patient_id)
    assert isinstance(invited, Patient.Invited)
    assert invited.timestamp == at
