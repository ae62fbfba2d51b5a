from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from domain.careteam.connection import Connection
from domain.messaging.message import Message
from domain.people.patient import Patient
from domain.people.staff import Staff
from projections.conversations.evolve import (
    KEY,
    conversations_of,
    evolve_message,
    inbox_changes,
    possible_conversation_ids,
)
from projections.platform.projection import Batch, Projection
from projections.platform.store import Doc

TEAMS = "conversation_team"
DOCTORS = "conversation_doctor"
CONVERSATIONS = "conversation"
# Sorted by conversation, then log position: one conversation's messages, oldest first,
# are one index range (docs/decisions/0033-indexed-reads.md).
MESSAGES = "conversation_message"
# One row per (participant, conversation), sorted by participant, then most recent
# message: a user's conversations are one index range, not their tenant's read and
# filtered.
INBOX = "conversation_inbox"

CONNECTION_EVENTS = (Connection.Assigned, Connection.Archived, Connection.Reactivated)


class ConversationProjection(Projection):
    """Conversations with their current participants, and their messages."""

    name = "conversations"
    tables = (TEAMS, DOCTORS, CONVERSATIONS, MESSAGES, INBOX)
    sorted_by: ClassVar[Mapping[str, str]] = {MESSAGES: KEY, INBOX: KEY}
    handles = (
        Staff.Registered,
        Staff.Deactivated,
        Patient.Invited,
        *CONNECTION_EVENTS,
        Message.Posted,
        Message.Revised,
    )

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        if isinstance(event, Staff.Registered):
            if event.staff_type == "DOCTOR":
                key = str(event.originator_id)
                doc: Doc = {
                    "id": key,
                    "tenantId": str(event.tenant_id),
                    "active": True,
                    "patients": [],
                }
                batch.put(DOCTORS, key, doc["tenantId"], doc)
        elif isinstance(event, Staff.Deactivated):
            doctor = batch.get(DOCTORS, str(event.originator_id))
            if doctor is not None:
                batch.put(DOCTORS, doctor["id"], doctor["tenantId"], {**doctor, "active": False})
                for patient in doctor["patients"]:
                    self._refresh(batch, patient)
        elif isinstance(event, Patient.Invited):
            key = str(event.originator_id)
            team: Doc = {"id": key, "tenantId": str(event.tenant_id), "connections": {}}
            batch.put(TEAMS, key, team["tenantId"], team)
        elif isinstance(event, CONNECTION_EVENTS):
            self._connection(batch, event)
        elif isinstance(event, Message.Posted | Message.Revised):
            self._message(batch, event, position)

    def _connection(self, batch: Batch, event: Any) -> None:
        patient, doctor_id = str(event.patient_id), str(event.doctor_id)
        team = batch.get(TEAMS, patient)
        if team is None:
            return
        active = not isinstance(event, Connection.Archived)
        team = {**team, "connections": {**team["connections"], doctor_id: active}}
        batch.put(TEAMS, patient, team["tenantId"], team)
        doctor = batch.get(DOCTORS, doctor_id)
        if doctor is not None and patient not in doctor["patients"]:
            doctor = {**doctor, "patients": [*doctor["patients"], patient]}
            batch.put(DOCTORS, doctor_id, doctor["tenantId"], doctor)
        self._refresh(batch, patient)

    def _refresh(self, batch: Batch, patient: str) -> None:
        team = batch.get(TEAMS, patient)
        if team is None:
            return
        doctors_active = {}
        for d in team["connections"]:
            row = batch.get(DOCTORS, d)
            doctors_active[d] = bool(row and row["active"])
        existing = {}
        for conv_id in possible_conversation_ids(team):
            row = batch.get(CONVERSATIONS, conv_id)
            if row is not None:
                existing[conv_id] = row
        for row in conversations_of(team, doctors_active, existing):
            if existing.get(row["id"]) != row:
                self._put_conversation(batch, existing.get(row["id"]), row)

    @staticmethod
    def _put_conversation(batch: Batch, before: Doc | None, row: Doc) -> None:
        batch.put(CONVERSATIONS, row["id"], row["tenantId"], row)
        gone, inbox = inbox_changes(before, row)
        for key in gone:
            batch.delete(INBOX, key)
        for key, doc in inbox:
            batch.put(INBOX, key, row["tenantId"], doc)

    def _message(self, batch: Batch, event: Any, position: int) -> None:
        key = str(event.originator_id)
        row = evolve_message(batch.get(MESSAGES, key), event, position)
        if row is None:
            return
        batch.put(MESSAGES, key, row["tenantId"], row)
        conversation = batch.get(CONVERSATIONS, row["conversationId"])
        if conversation is not None:
            stamp = event.timestamp.isoformat()
            self._put_conversation(batch, conversation, {**conversation, "lastMessageAt": stamp})
