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
from datetime import datetime
from typing import Any

from domain.messaging.conversation import (
    ConversationKind,
    direct_conversation_id,
    group_conversation_id,
)
from domain.messaging.message import Message
from projections.deadlines.evolve import sort_key
from projections.platform.store import Doc

KEY = "_key"  # the sorted tables' indexed field
_SEP = "|"
_NEWEST_FIRST = str.maketrans("0123456789abcdef", "fedcba9876543210")
# After every complemented time: conversations without a message list last.
_NEVER = "~"


def partition(prefix: str) -> tuple[str, str]:
    """The (after, below) bounds of every key of one partition: `}` is the character
    after `|`, so no key of another partition sorts inside."""
    return f"{prefix}{_SEP}", f"{prefix}}}"


def message_key(conversation_id: str, position: int) -> str:
    """A message's place: its conversation, then its position in the log. The position,
    not the clock, orders a conversation: it never ties, and a message committed later
    always sorts after every message already visible, so paging on with `after` never
    misses one (a timestamp taken before the commit could sort before it)."""
    return f"{conversation_id}{_SEP}{position:020d}"


def inbox_id(participant: str, conversation_id: str) -> str:
    return f"{participant}:{conversation_id}"


def inbox_key(participant: str, conversation: Doc) -> str:
    """A participant's listing order: the most recently active conversation first, those
    without a message last, ties by id (descending, as before)."""
    last = conversation["lastMessageAt"]
    recency = (
        _NEVER if last is None else sort_key(datetime.fromisoformat(last)).translate(_NEWEST_FIRST)
    )
    return _SEP.join((participant, recency, conversation["id"].translate(_NEWEST_FIRST)))


def inbox_changes(before: Doc | None, after: Doc) -> tuple[list[str], list[tuple[str, Doc]]]:
    """The inbox rows (one per participant of a conversation, a copy of it under the
    participant's listing key) that a conversation's change removes and writes."""
    now = set(after["participants"])
    gone = [
        inbox_id(p, after["id"]) for p in (before or {}).get("participants", []) if p not in now
    ]
    rows = [
        (
            inbox_id(p, after["id"]),
            {
                "id": inbox_id(p, after["id"]),
                "participantId": p,
                "conversation": after,
                KEY: inbox_key(p, after),
            },
        )
        for p in after["participants"]
    ]
    return gone, rows


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
            KEY: message_key(str(event.conversation_id), position),
        }
    if row is None:
        return None
    if isinstance(event, Message.Revised):
        return {**row, "card": event.card, "revision": event.revision}
    return row
