"""Idempotency keys, recorded in the event log itself.

The record of a request is an aggregate whose id is derived from (actor, key). It is saved
in the same transaction as the events the command produced, so either both exist or neither
does, and two concurrent requests with one key cannot both commit: the store's optimistic
concurrency rejects the second.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import event

from domain.shared.aggregate import CareLoopAggregate

_NAMESPACE = uuid.UUID("6f1d3a52-2b8e-4d6c-9a55-0c1f3e7b9d21")


def idempotency_record_id(actor_id: uuid.UUID, key: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{actor_id}:{key}")


class IdempotencyRecord(CareLoopAggregate):
    """The first response to one (actor, Idempotency-Key)."""

    class Recorded(CareLoopAggregate.Created):
        tenant_id: uuid.UUID | None
        key: str
        fingerprint: str
        status_code: int
        body: dict[str, Any]

    @event(Recorded)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID | None,
        key: str,
        fingerprint: str,
        status_code: int,
        body: dict[str, Any],
        timestamp: datetime,
    ) -> None:
        self.tenant_id = tenant_id
        self.key = key
        self.fingerprint = fingerprint
        self.status_code = status_code
        self.body = body
