from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from eventsourcing.domain import event

from domain.shared.aggregate import CareLoopAggregate


class StaffType(StrEnum):
    DOCTOR = "DOCTOR"
    HOSPITAL_ADMIN = "HOSPITAL_ADMIN"
    PX_ADMIN = "PX_ADMIN"


class Staff(CareLoopAggregate):
    """A clinic's staff member. Doctors start unapproved; admins act at once."""

    class Registered(CareLoopAggregate.Created):
        tenant_id: uuid.UUID
        staff_type: str
        first_name: str
        last_name: str
        email: str

    class Approved(CareLoopAggregate.Event):
        pass

    class Deactivated(CareLoopAggregate.Event):
        pass

    @event(Registered)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        staff_type: str,
        first_name: str,
        last_name: str,
        email: str,
        timestamp: datetime,
    ) -> None:
        self.tenant_id: uuid.UUID | None = tenant_id
        self.staff_type = StaffType(staff_type)
        self.first_name = first_name
        self.last_name = last_name
        self.email = email
        self.active = True
        self.approved = self.staff_type is not StaffType.DOCTOR

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def is_practising_doctor(self) -> bool:
        """Active, approved and a DOCTOR: may invite, note and be assigned."""
        return self.staff_type is StaffType.DOCTOR and self.active and self.approved

    def approve(self, at: datetime) -> None:
        if self.approved:
            return
        self._approved(timestamp=at)

    @event(Approved)
    def _approved(self, timestamp: datetime) -> None:
        self.approved = True

    def deactivate(self, at: datetime) -> None:
        if not self.active:
            return
        self._deactivated(timestamp=at)

    @event(Deactivated)
    def _deactivated(self, timestamp: datetime) -> None:
        self.active = False
