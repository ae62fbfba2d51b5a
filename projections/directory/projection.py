from __future__ import annotations

from typing import Any

from domain.careteam.connection import Connection
from domain.people.patient import Patient
from domain.people.staff import Staff
from projections.directory.evolve import evolve_patient, evolve_staff
from projections.platform.projection import Batch, Projection

STAFF = "staff_directory"
PATIENTS = "patient_directory"

_STAFF_EVENTS = (Staff.Registered, Staff.Approved, Staff.Deactivated)
_CONNECTION_EVENTS = (Connection.Assigned, Connection.Archived, Connection.Reactivated)


class DirectoryProjection(Projection):
    """Staff and patients of every tenant, with each patient's active therapists."""

    name = "directory"
    tables = (STAFF, PATIENTS)
    handles = (*_STAFF_EVENTS, Patient.Invited, *_CONNECTION_EVENTS)

    def prepare(self, batch: Batch, events: list[Any]) -> None:
        # A registration or an invitation starts its row: nothing to read for it.
        batch.assume_absent(
            STAFF, (str(e.originator_id) for e in events if isinstance(e, Staff.Registered))
        )
        batch.assume_absent(
            PATIENTS, (str(e.originator_id) for e in events if isinstance(e, Patient.Invited))
        )
        batch.prefetch(
            STAFF, (str(e.originator_id) for e in events if isinstance(e, _STAFF_EVENTS))
        )
        batch.prefetch(
            PATIENTS,
            (str(e.patient_id) for e in events if isinstance(e, _CONNECTION_EVENTS)),
        )

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        if isinstance(event, _STAFF_EVENTS):
            key = str(event.originator_id)
            row = evolve_staff(batch.get(STAFF, key), event)
            table = STAFF
        else:
            key = str(
                event.patient_id if isinstance(event, _CONNECTION_EVENTS) else event.originator_id
            )
            row = evolve_patient(batch.get(PATIENTS, key), event)
            table = PATIENTS
        if row is not None:
            batch.put(table, key, row["tenantId"], row)
