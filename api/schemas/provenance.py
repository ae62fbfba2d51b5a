"""Response body of `GET /v1/provenance/{id}`."""

from __future__ import annotations

import uuid
from datetime import datetime

from api.schemas.people import CamelOut


class ProvenanceStep(CamelOut):
    """One event of the chain: where it is in the log, what it is, who recorded it and why.
    `causationId` names the step before it; on the first step, the request (or system path)
    that set everything off."""

    position: int
    aggregate_id: uuid.UUID
    aggregate_type: str
    type: str
    recorded_at: datetime
    actor_id: str | None = None
    role: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None


class Provenance(CamelOut):
    id: uuid.UUID
    chain: list[ProvenanceStep]
