"""Pure fold of the deadlines read model: one row per pending deadline."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from domain.shared.deadlines import Deadline, SetsDeadline, deadline_key
from domain.shared.eventlog import metadata_of
from projections.platform.store import Doc


def sort_key(at: datetime) -> str:
    """A due time as text that sorts in time order: UTC, fixed width."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def key_of(event: SetsDeadline) -> str:
    return deadline_key(event.deadline_kind, event.originator_id)  # type: ignore[attr-defined]


def evolve(row: Doc | None, event: Any) -> Doc | None:
    """The row the event leaves: the deadline it sets (keeping the tenant and payload the
    row had when the event names none), or None when it clears it."""
    deadline: Deadline | None = event.next_deadline()
    if deadline is None:
        return None
    tenant = deadline.tenant_id or (row or {}).get("tenantId")
    payload = dict(deadline.payload) or dict((row or {}).get("payload", {}))
    # Firing continues the request that set the deadline.
    correlation = metadata_of(event).get("correlationId")
    if correlation:
        payload["correlationId"] = correlation
    return {
        "id": deadline.key,
        "kind": deadline.kind,
        "aggregateId": str(deadline.id),
        "tenantId": str(tenant) if tenant else None,
        "dueAt": deadline.due_at.isoformat(),
        "sortKey": sort_key(deadline.due_at),
        "payload": payload,
    }


def to_deadline(row: Doc) -> Deadline:
    return Deadline(
        kind=row["kind"],
        id=uuid.UUID(row["aggregateId"]),
        due_at=datetime.fromisoformat(row["dueAt"]),
        tenant_id=uuid.UUID(row["tenantId"]) if row.get("tenantId") else None,
        payload=row.get("payload", {}),
    )
