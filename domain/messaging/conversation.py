"""Conversation ids, derived from who they are between.

A patient has one direct conversation with each therapist and, once two or more
therapists are on the care team, one group conversation with all of them. Deriving the ids
lets any writer (a chat message, a feedback card) address a conversation without looking
it up, and lets a reader resolve an id back to its members.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

_NAMESPACE = uuid.UUID("3d0c2b8e-7f0e-4b8e-9a7c-2f5e1c9d4b60")


class ConversationKind(StrEnum):
    DIRECT = "direct"
    GROUP = "group"


def direct_conversation_id(patient_id: uuid.UUID, doctor_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"direct:{patient_id}:{doctor_id}")


def group_conversation_id(patient_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"group:{patient_id}")


def care_team_conversation_id(
    patient_id: uuid.UUID, therapist_ids: list[uuid.UUID]
) -> uuid.UUID | None:
    """Where a message to the whole care team goes: the direct conversation with the one
    therapist, the group conversation for two or more, nowhere for none."""
    if not therapist_ids:
        return None
    if len(therapist_ids) == 1:
        return direct_conversation_id(patient_id, therapist_ids[0])
    return group_conversation_id(patient_id)
