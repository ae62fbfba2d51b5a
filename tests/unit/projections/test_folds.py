"""The read models' logic as pure folds: (row, event) -> row, without a database."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

import pytest

from domain.careteam.connection import Connection
from domain.people.flags import DEFAULT_FLAGS, Flag
from domain.people.patient import Patient
from domain.people.staff import Staff, StaffType
from domain.people.tenant import Tenant
from domain.privacy.personal import PersonalText
from projections.directory.evolve import evolve_patient, evolve_staff
from projections.platform.store import Doc
from projections.tenants.evolve import evolve

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
CLINIC = uuid.UUID("00000000-0000-4000-a000-00000000c001")
DOCTOR = uuid.UUID("00000000-0000-4000-a000-00000000d001")
OTHER_DOCTOR = uuid.UUID("00000000-0000-4000-a000-00000000d002")
PATIENT = uuid.UUID("00000000-0000-4000-a000-00000000e001")

Fold = Callable[[Doc | None, Any], Doc | None]


def fold(evolve_fn: Fold, events: Iterable[Any], row: Doc | None = None) -> Doc | None:
    return reduce(evolve_fn, events, row)


def pure(evolve_fn: Fold, row: Doc | None, event: Any) -> Doc | None:
    """Apply one event and check the fold left its input row untouched."""
    before = copy.deepcopy(row)
    after = evolve_fn(row, event)
    assert row == before, "a fold must not change the row it was given"
    return after


# -- events, made by the aggregates themselves -------------------------------------------


def tenant_events(*flags: tuple[Flag, bool]) -> list[Any]:
    tenant = Tenant(id=CLINIC, name="Riverside", timestamp=T0)
    for flag, enabled in flags:
        tenant.set_flag(flag, enabled, T1)
    return list(tenant.collect_events())


def staff_events(staff_type: StaffType, *then: str) -> list[Any]:
    staff = Staff(
        id=DOCTOR,
        tenant_id=CLINIC,
        staff_type=staff_type.value,
        first_name="Maya",
        last_name="Lind",
        email="maya@riverside.example",
        timestamp=T0,
    )
    for command in then:
        getattr(staff, command)(T1)
    return list(staff.collect_events())


def invited() -> Any:
    patient = Patient(
        id=PATIENT,
        tenant_id=CLINIC,
        first_name=PersonalText(PATIENT, "Sam"),
        last_name=PersonalText(PATIENT, "Carter"),
        email=PersonalText(PATIENT, "sam@patients.example"),
        timezone="Europe/Oslo",
        invited_by=DOCTOR,
        timestamp=T0,
    )
    [event] = patient.collect_events()
    return event


def connection_events(doctor: uuid.UUID, *then: str) -> list[Any]:
    connection = Connection.assign(CLINIC, PATIENT, doctor, assigned_by=DOCTOR, at=T0)
    for command in then:
        getattr(connection, command)(by=DOCTOR, at=T1)
    return list(connection.collect_events())


# -- tenants -----------------------------------------------------------------------------


def test_a_created_tenant_row_has_every_flag_off() -> None:
    [created] = tenant_events()
    assert pure(evolve, None, created) == {
        "id": str(CLINIC),
        "name": "Riverside",
        "flags": DEFAULT_FLAGS,
        "createdAt": T0.isoformat(),
    }


def test_a_flag_change_changes_only_that_flag() -> None:
    events = tenant_events((Flag.FEEDBACK_NOTIFICATIONS, True))
    row = pure(evolve, pure(evolve, None, events[0]), events[1])
    assert row is not None
    assert row["flags"] == {**DEFAULT_FLAGS, "feedbackNotifications": True}


def test_flags_fold_to_their_last_value() -> None:
    events = tenant_events(
        (Flag.FEEDBACK_NOTIFICATIONS, True),
        (Flag.ALL_ACTIVE_PATIENTS_DASHBOARD, True),
        (Flag.FEEDBACK_NOTIFICATIONS, False),
    )
    row = fold(evolve, events)
    assert row is not None
    assert row["flags"] == {**DEFAULT_FLAGS, "allActivePatientsDashboard": True}


def test_a_flag_change_for_a_tenant_without_a_row_makes_no_row() -> None:
    _, changed = tenant_events((Flag.FEEDBACK_NOTIFICATIONS, True))
    assert pure(evolve, None, changed) is None


def test_the_tenant_fold_leaves_a_row_alone_on_an_event_it_does_not_know() -> None:
    row = fold(evolve, tenant_events())
    assert pure(evolve, row, invited()) == row


def test_the_flag_defaults_in_a_new_row_are_a_copy() -> None:
    [created] = tenant_events()
    row = evolve(None, created)
    assert row is not None
    row["flags"]["feedbackNotifications"] = True
    assert DEFAULT_FLAGS["feedbackNotifications"] is False


# -- staff directory ---------------------------------------------------------------------


def test_a_registered_doctor_row_is_active_and_unapproved() -> None:
    [registered] = staff_events(StaffType.DOCTOR)
    assert pure(evolve_staff, None, registered) == {
        "id": str(DOCTOR),
        "tenantId": str(CLINIC),
        "type": "DOCTOR",
        "firstName": "Maya",
        "lastName": "Lind",
        "email": "maya@riverside.example",
        "active": True,
        "approved": False,
        "createdAt": T0.isoformat(),
    }


@pytest.mark.parametrize("staff_type", [StaffType.HOSPITAL_ADMIN, StaffType.PX_ADMIN])
def test_a_registered_admin_row_is_approved(staff_type: StaffType) -> None:
    row = fold(evolve_staff, staff_events(staff_type))
    assert row is not None
    assert (row["type"], row["approved"]) == (staff_type.value, True)


def test_approval_and_deactivation_fold_into_the_staff_row() -> None:
    events = staff_events(StaffType.DOCTOR, "approve", "deactivate")
    rows = [r for r in _scan(evolve_staff, events) if r is not None]
    assert [(r["approved"], r["active"]) for r in rows] == [
        (False, True),
        (True, True),
        (True, False),
    ]


def test_a_staff_event_without_a_registered_row_makes_no_row() -> None:
    _, approved = staff_events(StaffType.DOCTOR, "approve")
    assert pure(evolve_staff, None, approved) is None


# -- patient directory -------------------------------------------------------------------


def test_an_invited_patient_row_has_no_therapists_until_connected() -> None:
    row = pure(evolve_patient, None, invited())
    assert row == {
        "id": str(PATIENT),
        "tenantId": str(CLINIC),
        "firstName": PersonalText(PATIENT, "Sam"),
        "lastName": PersonalText(PATIENT, "Carter"),
        "email": PersonalText(PATIENT, "sam@patients.example"),
        "timezone": "Europe/Oslo",
        "invitedBy": str(DOCTOR),
        "active": True,
        "therapistIds": [],
        "createdAt": T0.isoformat(),
    }


def test_assigned_connections_add_therapists_in_order() -> None:
    row = fold(
        evolve_patient,
        [invited(), *connection_events(DOCTOR), *connection_events(OTHER_DOCTOR)],
    )
    assert row is not None
    assert row["therapistIds"] == [str(DOCTOR), str(OTHER_DOCTOR)]


def test_an_archived_connection_removes_only_that_therapist() -> None:
    row = fold(
        evolve_patient,
        [invited(), *connection_events(DOCTOR), *connection_events(OTHER_DOCTOR, "archive")],
    )
    assert row is not None
    assert row["therapistIds"] == [str(DOCTOR)]


def test_a_reactivated_connection_adds_the_therapist_back_once() -> None:
    assigned, archived, reactivated = connection_events(DOCTOR, "archive", "reactivate")
    row = fold(evolve_patient, [invited(), assigned, archived, reactivated])
    assert row is not None
    assert row["therapistIds"] == [str(DOCTOR)]
    # Seen twice (a replayed batch, say), the therapist still appears once.
    assert pure(evolve_patient, row, reactivated) == row
    assert pure(evolve_patient, row, assigned) == row


def test_a_connection_event_for_a_patient_without_a_row_makes_no_row() -> None:
    [assigned] = connection_events(DOCTOR)
    assert pure(evolve_patient, None, assigned) is None


def test_the_patient_fold_leaves_a_row_alone_on_a_staff_event() -> None:
    row = fold(evolve_patient, [invited()])
    [registered] = staff_events(StaffType.DOCTOR)
    assert pure(evolve_patient, row, registered) == row


def _scan(evolve_fn: Fold, events: list[Any]) -> list[Doc | None]:
    rows: list[Doc | None] = []
    row: Doc | None = None
    for event in events:
        row = pure(evolve_fn, row, event)
        rows.append(row)
    return rows
