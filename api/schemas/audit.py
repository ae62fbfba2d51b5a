"""Response bodies of the audit trail (`/v1/audit`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from api.schemas.people import CamelOut


class OutcomeOut(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    REJECTED = "rejected"
    FAILED = "failed"


class AuditEntryOut(CamelOut):
    seq: int = Field(description="The entry's place in its tenant's chain: 1, 2, 3, ...")
    recorded_at: datetime
    actor_id: uuid.UUID
    role: str
    tenant_id: uuid.UUID | None = Field(
        description="null for the platform's own chain (platform admins naming no tenant)"
    )
    action: str = Field(description="Stable names, listed in docs/audit-actions.md")
    subject_type: str
    subject_id: str | None
    outcome: OutcomeOut
    status: int = Field(description="The HTTP status the request was answered with")
    correlation_id: str | None
    request_id: str = Field(
        description="The request's id; its events' causationId is `request:<requestId>`"
    )
    position: int | None = Field(
        default=None, description="The log position the request wrote, when it wrote"
    )
    hash: str = Field(description="HMAC-SHA256 (hex) of the previous entry's hash and this entry")


class AuditPage(CamelOut):
    items: list[AuditEntryOut]
    next_cursor: str | None


class AuditVerification(CamelOut):
    verified: bool
    entries: int
    head_hash: str | None
    first_broken_seq: int | None
