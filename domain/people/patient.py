from __future__ import annotations

import uuid
from datetime import datetime

from eventsourcing.domain import event

from domain.shared.aggregate import CareLoopAggregate


class Patient(CareLoopAggregate):
    """A patient, invited into one tenant by a doctor."""

    class Invited(CareLoopAggregate.Created):
        tenant_id: uuid.UUID
        first_name: str
        last_name: str
        email: str
        timezone: str
        invited_by: uuid.UUID

    class LanguageSet(CareLoopAggregate.Event):
        """The language the patient reads forms in (`en`, `ar`, ...)."""

        language: str

    @event(Invited)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        first_name: str,
        last_name: str,
        email: str,
        timezone: str,
        invited_by: uuid.UUID,
        timestamp: datetime,
    ) -> None:
        self.tenant_id: uuid.UUID | None = tenant_id
        self.first_name = first_name
        self.last_name = last_name
        self.email = email
        self.timezone = timezone
        self.invited_by = invited_by
        self.active = True
        self.language: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def set_language(self, language: str, at: datetime) -> None:
        if language != self.language:
            self._language_set(language=language, timestamp=at)

    @event(LanguageSet)
    def _language_set(self, language: str, timestamp: datetime) -> None:
        self.language = language
