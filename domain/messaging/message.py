"""A message in a conversation: a chat text or a feedback card.

A card's id is derived from what it is about (for example the workout), so a process
manager that decides twice, replays, or races another worker can only ever create it once.
A card is replaced by revising it: same id, higher revision.

A chat text is the patient's personal text whoever wrote it (every conversation is about
one patient): sealed with the patient's key, `text` None once they are erased. A card
carries what it quotes (notes) as the personal text it was copied from.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from eventsourcing.domain import event

from domain.privacy.personal import PersonalText
from domain.shared.aggregate import CareLoopAggregate


class MessageType(StrEnum):
    TEXT = "TEXT"
    PATIENT_FEEDBACK_SUMMARY = "PATIENT_FEEDBACK_SUMMARY"
    DOCTOR_FEEDBACK_NOTE = "DOCTOR_FEEDBACK_NOTE"


class Message(CareLoopAggregate):
    class Posted(CareLoopAggregate.Created):
        tenant_id: uuid.UUID
        conversation_id: uuid.UUID
        patient_id: uuid.UUID
        sender_id: uuid.UUID
        message_type: str
        text: PersonalText | None
        card: dict[str, Any] | None

    class Revised(CareLoopAggregate.Event):
        conversation_id: uuid.UUID
        card: dict[str, Any]
        revision: int

    @event(Posted)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        patient_id: uuid.UUID,
        sender_id: uuid.UUID,
        message_type: str,
        text: PersonalText | None,
        card: dict[str, Any] | None,
        timestamp: datetime,
    ) -> None:
        self.tenant_id: uuid.UUID | None = tenant_id
        self.conversation_id = conversation_id
        self.patient_id = patient_id
        self.sender_id = sender_id
        self.message_type = MessageType(message_type)
        self.text = text
        self.card = card
        self.revision = 1
        self.sent_at = timestamp

    def revise(self, card: dict[str, Any], at: datetime) -> None:
        if card == self.card:
            return
        self._revised(
            conversation_id=self.conversation_id,
            card=card,
            revision=self.revision + 1,
            timestamp=at,
        )

    @event(Revised)
    def _revised(
        self, conversation_id: uuid.UUID, card: dict[str, Any], revision: int, timestamp: datetime
    ) -> None:
        self.card = card
        self.revision = revision
