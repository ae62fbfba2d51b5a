from __future__ import annotations

import uuid
from datetime import datetime

from eventsourcing.domain import event

from domain.privacy.personal import PersonalText
from domain.shared.aggregate import CareLoopAggregate


class Patient(CareLoopAggregate):
    """A patient, invited into one tenant by a doctor. Their name and email are personal
    text sealed with their own key (docs/privacy.md): `text` None once they are erased."""

    class Invited(CareLoopAggregate.Created):
        tenant_id: uuid.UUID
        first_name: PersonalText
        last_name: PersonalText
        email: PersonalText
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
        first_name: PersonalText,
        last_name: PersonalText,
        email: PersonalText,
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
    def erased(self) -> bool:
        """The patient's key is destroyed: their name and email read as None."""
        return self.first_name.erased or self.last_name.erased

    @property
    def name(self) -> PersonalText:
        """`firstName lastName`, sealed with the patient's key wherever it is stored (a
        push or a card quoting it belongs to a therapist but stays the patient's data);
        `text` None once the patient is erased. Never store an erased one: there is
        nothing to seal."""
        if self.first_name.text is None or self.last_name.text is None:
            return PersonalText(self.id, None)
        return PersonalText(self.id, f"{self.first_name.text} {self.last_name.text}")

    def set_language(self, language: str, at: datetime) -> None:
        if language != self.language:
            self._language_set(language=language, timestamp=at)

    @event(LanguageSet)
    def _language_set(self, language: str, timestamp: datetime) -> None:
        self.language = language
