"""A patient-doctor connection: one aggregate per pair.

Every event names the patient and the doctor, so readers need no lookup to place it.

Its id is derived from the pair, so two concurrent "Assign to Me" calls both try to create
version 1 of the same aggregate and the store's optimistic concurrency lets only one win.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from eventsourcing.domain import event

from domain.shared.aggregate import CareLoopAggregate

_NAMESPACE = uuid.UUID("0b6f5f0e-5a0c-4e52-8f0a-6c2d7e1b9a43")


def connection_id(patient_id: uuid.UUID, doctor_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{patient_id}:{doctor_id}")


class Connection(CareLoopAggregate):
    class Assigned(CareLoopAggregate.Created):
        tenant_id: uuid.UUID
        patient_id: uuid.UUID
        doctor_id: uuid.UUID
        assigned_by: uuid.UUID

    class Archived(CareLoopAggregate.Event):
        patient_id: uuid.UUID
        doctor_id: uuid.UUID
        archived_by: uuid.UUID

    class Reactivated(CareLoopAggregate.Event):
        patient_id: uuid.UUID
        doctor_id: uuid.UUID
        reactivated_by: uuid.UUID

    @event(Assigned)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        patient_id: uuid.UUID,
        doctor_id: uuid.UUID,
        assigned_by: uuid.UUID,
        timestamp: datetime,
    ) -> None:
        self.tenant_id: uuid.UUID | None = tenant_id
        self.patient_id = patient_id
        self.doctor_id = doctor_id
        self.active = True

    @classmethod
    def assign(
        cls,
        tenant_id: uuid.UUID,
        patient_id: uuid.UUID,
        doctor_id: uuid.UUID,
        assigned_by: uuid.UUID,
        at: datetime,
    ) -> Connection:
        return cls(
            id=connection_id(patient_id, doctor_id),
            tenant_id=tenant_id,
            patient_id=patient_id,
            doctor_id=doctor_id,
            assigned_by=assigned_by,
            timestamp=at,
        )

    def archive(self, by: uuid.UUID, at: datetime) -> None:
        if not self.active:
            return
        self._archived(
            patient_id=self.patient_id, doctor_id=self.doctor_id, archived_by=by, timestamp=at
        )

    @event(Archived)
    def _archived(
        self,
        patient_id: uuid.UUID,
        doctor_id: uuid.UUID,
        archived_by: uuid.UUID,
        timestamp: datetime,
    ) -> None:
        self.active = False

    def reactivate(self, by: uuid.UUID, at: datetime) -> bool:
        """True if this reactivated an archived connection; False if it was active."""
        if self.active:
            return False
        self._reactivated(
            patient_id=self.patient_id, doctor_id=self.doctor_id, reactivated_by=by, timestamp=at
        )
        return True

    @event(Reactivated)
    def _reactivated(
        self,
        patient_id: uuid.UUID,
        doctor_id: uuid.UUID,
        reactivated_by: uuid.UUID,
        timestamp: datetime,
    ) -> None:
        self.active = True
