"""Response bodies of the history endpoints (`/v1/streams/...`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from api.schemas.people import CamelOut


class EventMetadata(CamelOut):
    """Who recorded the event, for which tenant, and why. Events written before metadata
    was stamped, or by the system, may leave fields null."""

    actor_id: str | None = None
    role: str | None = None
    tenant_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    recorded_at: str | None = None
    # The audit action of the request that wrote the event, and its success status.
    action: str | None = None
    action_status: int | None = None


class StoredEventOut(CamelOut):
    position: int
    version: int
    type: str
    recorded_at: datetime
    metadata: EventMetadata
    data: dict[str, Any]


class StreamEvents(CamelOut):
    aggregate_id: uuid.UUID
    aggregate_type: str
    events: list[StoredEventOut]


class StreamState(CamelOut):
    aggregate_id: uuid.UUID
    aggregate_type: str
    version: int
    recorded_at: datetime
    state: dict[str, Any]
