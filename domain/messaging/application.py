"""Conversations: free-form chat between a patient and their care team."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from domain.careteam.connection import Connection, connection_id
from domain.messaging.conversation import (
    ConversationKind,
    direct_conversation_id,
    group_conversation_id,
)
from domain.messaging.message import Message, MessageType
from domain.people.patient import Patient
from domain.people.staff import Staff
from domain.privacy.personal import PersonalText
from domain.shared.errors import NotFoundError
from domain.shared.unit_of_work import UnitOfWork


def active_therapists(
    uow: UnitOfWork, patient_id: uuid.UUID, doctor_ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    """Those of `doctor_ids` with an active connection to the patient who are practising."""
    team = []
    for doctor_id in doctor_ids:
        connection = uow.find(Connection, connection_id(patient_id, doctor_id))
        staff = uow.find(Staff, doctor_id)
        if connection and connection.active and staff and staff.active:
            team.append(doctor_id)
    return team


@dataclass(frozen=True)
class MessagePosted:
    id: uuid.UUID
    conversation_id: uuid.UUID


class Conversations:
    def post_text(
        self,
        uow: UnitOfWork,
        conversation_id: uuid.UUID,
        kind: ConversationKind,
        patient_id: uuid.UUID,
        candidate_doctor_ids: list[uuid.UUID],
        text: str,
    ) -> MessagePosted:
        """Posts a chat message by a current participant; anyone else gets 404.

        `kind`, `patient_id` and the candidate doctors come from resolving the id through
        the conversation read model (an id's identity never changes); whether the sender
        is a participant *now* is decided here, from the aggregates. The text is the
        conversation's patient's personal text, whoever sends it.
        """
        patient = uow.get(Patient, patient_id, "conversation")
        sender = uow.actor.user_id
        team = active_therapists(uow, patient.id, candidate_doctor_ids)
        if kind is ConversationKind.DIRECT:
            expected = direct_conversation_id(patient.id, candidate_doctor_ids[0])
        else:
            expected = group_conversation_id(patient.id)
        if expected != conversation_id or (sender != patient.id and sender not in team):
            raise NotFoundError(f"No conversation with id {conversation_id}.")
        assert patient.tenant_id is not None
        message = Message(
            id=uow.new_id(),
            tenant_id=patient.tenant_id,
            conversation_id=conversation_id,
            patient_id=patient.id,
            sender_id=sender,
            message_type=MessageType.TEXT.value,
            text=PersonalText(patient.id, text),
            card=None,
            timestamp=uow.now,
        )
        uow.add(message)
        return MessagePosted(message.id, conversation_id)
