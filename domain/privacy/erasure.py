"""Erasing a patient (GDPR Art. 17): a record of who erased whom, on which ground, and
when. It holds no personal data: the ground is one of Art. 17(1)'s, never free text.
Its id follows from the patient's, so a patient is erased at most once."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from eventsourcing.domain import event

from domain.shared.aggregate import CareLoopAggregate

_NAMESPACE = uuid.UUID("5b0c2a7e-6f47-4a0e-9b1d-8f2f6a1c0e51")


class ErasureGround(StrEnum):
    """GDPR Art. 17(1) (a)-(f)."""

    NO_LONGER_NECESSARY = "no_longer_necessary"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    OBJECTION = "objection"
    UNLAWFULLY_PROCESSED = "unlawfully_processed"
    LEGAL_OBLIGATION = "legal_obligation"
    CHILD_CONSENT = "child_consent"


def erasure_id(patient_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, str(patient_id))


class Erasure(CareLoopAggregate):
    class Recorded(CareLoopAggregate.Created):
        tenant_id: uuid.UUID
        patient_id: uuid.UUID
        erased_by: uuid.UUID
        reason: str

    @event(Recorded)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        patient_id: uuid.UUID,
        erased_by: uuid.UUID,
        reason: str,
        timestamp: datetime,
    ) -> None:
        self.tenant_id: uuid.UUID | None = tenant_id
        self.patient_id = patient_id
        self.erased_by = erased_by
        self.reason = reason
        self.erased_at = timestamp
