"""Pure folds of the conversations read model.

Membership is derived, never stored by hand: a direct conversation holds the patient and
the therapist while their connection is active and the therapist is active; the group
conversation, once the care team has reached two therapists, holds the patient and every
active therapist. So membership always equals the active care team.

A message's text (and whatever a card quotes) is copied from the event as it is: the
patient's personal text, stored as the event's ciphertext.
"""

from __future__ import annotations

import uuid
from typing import Any

from domain.messaging.conversation import (
    ConversationKind,
    direct_conversation_id,
    group_conversation_id,
)
from domain.messaging.message import Message
from projections.platform.store import Doc


def active_team(team: Doc, doctors_active: dict[str, bool]) -> list[str]:
    return sorted(d for d, on in team["connections"].items() if on and doctors_active.get(d, False))


def possible_conversation_ids(team: Doc) -> list[str]:
    patient = uuid.UUID(team["id"])
    ids = [str(direct_conversation_id(patient, uuid.UUID(d))) for d in team["connections"]]
    return [*ids, str(group_conversation_id(patient))]


def conversations_of(
    team: Doc, doctors_active: dict[str, bool], existing: dict[str, Doc]
) -> list[Doc]:
    """Every conversation of one patient, given their connections and who is active.

    `existing` holds the current rows by id, whose `lastMessageAt` is kept.
    """
    patient = team["id"]
    members = active_team(team, doctors_active)
    rows: list[Doc] = []
    for doctor in sorted(team["connections"]):
        conv_id = str(direct_conversation_id(uuid.UUID(patient), uuid.UUID(doctor)))
        rows.append(
            _row(
                conv_id,
                team,
                ConversationKind.DIRECT,
                [doctor],
                [patient, doctor] if doctor in members else [patient],
                existing,
            )
        )
    group_id = str(group_conversation_id(uuid.UUID(patient)))
    if len(members) >= 2 or group_id in existing:
        rows.append(
            _row(
                group_id,
                team,
                ConversationKind.GROUP,
                sorted(team["connections"]),
                [patient, *members],
                existing,
            )
        )
    return rows


def _row(
    conv_id: str,
    team: Doc,
    kind: ConversationKind,
    doctor_ids: list[str],
    participants: list[str],
    existing: dict[str, Doc],
) -> Doc:
    previous = existing.get(conv_id, {})
    return {
        "id": conv_id,
        "tenantId": team["tenantId"],
        "patientId": team["id"],
        "kind": kind.value,
        "doctorIds": doctor_ids,
        "participants": participants,
        "lastMessageAt": previous.get("lastMessageAt"),
    }


def evolve_message(row: Doc | None, event: Any, position: int) -> Doc | None:
    if isinstance(event, Message.Posted):
        return {
            "id": str(event.originator_id),
            "tenantId": str(event.tenant_id),
            "conversationId": str(event.conversation_id),
            "type": event.message_type,
            "sentAt": event.timestamp.isoformat(),
            "senderId": str(event.sender_id),
            "text": event.text,
            "card": event.card,
            "revision": 1,
            "seq": position,
        }
    if row is None:
        return None
    if isinstance(event, Message.Revised):
        return {**row, "card": event.card, "revision": event.revision}
    return row
