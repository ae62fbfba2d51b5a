"""What an audit entry holds, and how an HTTP status becomes its outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"  # 403, 404: the caller may not, or may not know it exists
    REJECTED = "rejected"  # 409, 422 and every other refusal of the request itself
    FAILED = "failed"  # 5xx


def outcome_of(status: int) -> Outcome:
    if status < 400:
        return Outcome.SUCCESS
    if status in (403, 404):
        return Outcome.DENIED
    if status < 500:
        return Outcome.REJECTED
    return Outcome.FAILED


# The platform's own chain: requests of platform admins that name no tenant.
PLATFORM = ""


@dataclass(frozen=True)
class Draft:
    """An entry before it is chained: everything but its place and its hash. Never a
    request or response body."""

    tenant: str  # a tenant id, or PLATFORM
    actor_id: str
    role: str
    action: str
    subject_type: str
    subject_id: str | None
    outcome: Outcome
    status: int
    correlation_id: str | None
    request_id: str
    position: int | None = None


@dataclass(frozen=True)
class AuditEntry:
    """A chained entry: `seq` is its place in its tenant's chain (1, 2, ...), `hash` the
    HMAC of the previous entry's hash and this entry's canonical encoding."""

    tenant: str
    seq: int
    recorded_at: datetime
    actor_id: str
    role: str
    action: str
    subject_type: str
    subject_id: str | None
    outcome: str
    status: int
    correlation_id: str | None
    request_id: str
    position: int | None
    hash: str

    def to_json(self) -> dict[str, Any]:
        """The API's rendering (docs/api.md): camelCase, `tenantId` null for the platform."""
        body: dict[str, Any] = {
            "seq": self.seq,
            "recordedAt": self.recorded_at.isoformat(),
            "actorId": self.actor_id,
            "role": self.role,
            "tenantId": self.tenant or None,
            "action": self.action,
            "subjectType": self.subject_type,
            "subjectId": self.subject_id,
            "outcome": self.outcome,
            "status": self.status,
            "correlationId": self.correlation_id,
            "requestId": self.request_id,
            "hash": self.hash,
        }
        if self.position is not None:
            body["position"] = self.position
        return body
