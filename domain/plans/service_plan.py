"""A patient's service plan: what their subscription unlocks (spec: Service plan
integration). One per patient, its id derived from the patient's."""

from __future__ import annotations

import uuid
from datetime import datetime

from eventsourcing.domain import event

from domain.shared.aggregate import CareLoopAggregate

_NAMESPACE = uuid.UUID("0b8f6d2e-41c7-4a95-8e3d-6f2a1c9b7e54")


def service_plan_id(patient_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, str(patient_id))


class ServicePlan(CareLoopAggregate):
    class Started(CareLoopAggregate.Created):
        tenant_id: uuid.UUID
        patient_id: uuid.UUID

    class Set(CareLoopAggregate.Event):
        telerehab_access: bool
        library_access: bool
        active: bool

    @event(Started)
    def __init__(
        self, id: uuid.UUID, tenant_id: uuid.UUID, patient_id: uuid.UUID, timestamp: datetime
    ) -> None:
        self.tenant_id: uuid.UUID | None = tenant_id
        self.patient_id = patient_id
        self.telerehab_access = False
        self.library_access = False
        self.active = False

    @classmethod
    def for_patient(cls, tenant_id: uuid.UUID, patient_id: uuid.UUID, at: datetime) -> ServicePlan:
        return cls(
            id=service_plan_id(patient_id), tenant_id=tenant_id, patient_id=patient_id, timestamp=at
        )

    @property
    def grants_telerehab(self) -> bool:
        return self.active and self.telerehab_access

    @property
    def grants_library(self) -> bool:
        return self.active and self.library_access

    def set(self, telerehab_access: bool, library_access: bool, active: bool, at: datetime) -> None:
        if (telerehab_access, library_access, active) == (
            self.telerehab_access,
            self.library_access,
            self.active,
        ):
            return
        self._set(
            telerehab_access=telerehab_access,
            library_access=library_access,
            active=active,
            timestamp=at,
        )

    @event(Set)
    def _set(
        self, telerehab_access: bool, library_access: bool, active: bool, timestamp: datetime
    ) -> None:
        self.telerehab_access = telerehab_access
        self.library_access = library_access
        self.active = active
