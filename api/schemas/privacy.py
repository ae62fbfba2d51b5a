"""Bodies of erasure and export (`/v1/patients/{id}/erase`, `/export`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from api.schemas.people import CamelModel, CamelOut
from domain.privacy.erasure import ErasureGround


class EraseRequest(CamelModel):
    reason: ErasureGround = Field(
        description="The ground of GDPR Art. 17(1): never free text, so the erasure's own "
        "record holds no personal data."
    )


class PatientErasedOut(CamelOut):
    patient_id: uuid.UUID
    erased_at: datetime
    already: bool = Field(description="True when the patient was erased before")
    position: int


class ExportedAggregate(CamelOut):
    aggregate_id: uuid.UUID
    aggregate_type: str
    version: int
    state: dict[str, Any]
    events: list[dict[str, Any]]


class PatientExport(CamelOut):
    patient_id: uuid.UUID
    exported_at: datetime
    erased: bool | None = None
    aggregates: list[ExportedAggregate]
