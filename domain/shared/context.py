"""Who is acting, for which tenant, and why: the metadata every stored event carries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from enum import StrEnum


class Role(StrEnum):
    PATIENT = "patient"
    DOCTOR = "doctor"
    HOSPITAL_ADMIN = "hospital_admin"
    PX_ADMIN = "px_admin"
    AUDITOR = "auditor"
    PLATFORM_ADMIN = "platform_admin"
    SYSTEM = "system"


STAFF_ROLES = frozenset({Role.DOCTOR, Role.HOSPITAL_ADMIN, Role.PX_ADMIN})


@dataclass(frozen=True)
class Actor:
    """An authenticated caller. `tenant_id` is None only for platform admins and the system."""

    user_id: uuid.UUID
    role: Role
    tenant_id: uuid.UUID | None

    @property
    def is_platform_admin(self) -> bool:
        return self.role is Role.PLATFORM_ADMIN

    def can_see_tenant(self, tenant_id: uuid.UUID | None) -> bool:
        """The tenant-isolation rule, in one place: platform admins and the system see
        every tenant; everyone else sees only their own."""
        if self.role in (Role.PLATFORM_ADMIN, Role.SYSTEM):
            return True
        return tenant_id is not None and tenant_id == self.tenant_id


SYSTEM_ACTOR = Actor(
    user_id=uuid.UUID("00000000-0000-0000-0000-000000000000"), role=Role.SYSTEM, tenant_id=None
)


@dataclass(frozen=True)
class CommandContext:
    """Everything about one command that is not the command itself.

    `correlation_id` ties together everything one request set off; `causation_id` names
    the immediate cause (a request id, or the position of the event a process manager
    reacted to).
    """

    actor: Actor
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    causation_id: str | None = None
    idempotency_key: str | None = None
    request_fingerprint: str | None = None
    # The audit action of the request that issued the command, and the status it answers
    # on success: stamped on its events, so that the request's audit entry can be derived
    # from them (docs/decisions/0026).
    action: str | None = None
    action_status: int | None = None

    def caused_by(self, causation_id: str) -> CommandContext:
        return replace(self, causation_id=causation_id)
