"""The feedback loop's two process-manager decisions, as commands.

Both are idempotent by construction: every message and notification they create has an id
derived from what it is about, so a retry, a replay or a racing worker can only collide
with the first decision (the store's optimistic concurrency rejects the copy, the command
bus retries on fresh state, and the retry finds the work done).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from domain.careteam.connection import Connection, connection_id
from domain.messaging.application import active_therapists
from domain.messaging.conversation import care_team_conversation_id
from domain.messaging.message import Message, MessageType
from domain.notifications.notification import Notification
from domain.people.flags import Flag
from domain.people.patient import Patient
from domain.people.staff import Staff
from domain.people.tenant import Tenant
from domain.shared.unit_of_work import UnitOfWork
from domain.workouts.feedback import (
    doctor_note_card,
    doctor_note_push,
    flagged_exercises,
    note_card_id,
    notification_id,
    summary_card,
    summary_card_id,
    summary_push,
)
from domain.workouts.window import FeedbackWindow
from domain.workouts.workout import Workout


def _notify(
    uow: UnitOfWork,
    message: Message,
    recipient: uuid.UUID,
    title: str,
    body: str,
    workout_id: uuid.UUID,
) -> None:
    assert message.tenant_id is not None
    uow.add(
        Notification(
            id=notification_id(message.id, recipient),
            tenant_id=message.tenant_id,
            recipient_id=recipient,
            title=title,
            body=body,
            data={
                "type": message.message_type.value,
                "workoutId": str(workout_id),
                "conversationId": str(message.conversation_id),
                "messageId": str(message.id),
            },
            timestamp=uow.now,
        )
    )


class FeedbackLoop:
    def summarize(
        self, uow: UnitOfWork, workout_id: uuid.UUID, candidate_doctor_ids: list[uuid.UUID]
    ) -> dict[str, Any]:
        """Posts the workout's one PATIENT_FEEDBACK_SUMMARY card to the care team's
        conversation and queues one push per connected therapist, if the workout is
        finalized, has a flagged exercise, and the tenant has feedbackNotifications on.

        `candidate_doctor_ids` are the therapists the care-team read model knows; each is
        checked against its connection aggregate here. A patient with no therapist gets no
        card: there is no conversation to post it in (docs/decisions).
        """
        card_id = summary_card_id(workout_id)
        if uow.find(Message, card_id) is not None:
            return {"outcome": "already_posted", "messageId": str(card_id)}
        workout = uow.get(Workout, workout_id, "workout")
        if not workout.is_finalized:
            return {"outcome": "not_finalized"}
        flagged = flagged_exercises(workout)
        if not flagged:
            return {"outcome": "not_flagged"}
        tenant = uow.get(Tenant, workout.tenant_id or uuid.UUID(int=0), "tenant")
        if not tenant.is_enabled(Flag.FEEDBACK_NOTIFICATIONS):
            return {"outcome": "flag_off"}
        patient = uow.get(Patient, workout.patient_id, "patient")
        team = active_therapists(uow, patient.id, candidate_doctor_ids)
        conversation = care_team_conversation_id(patient.id, team)
        if conversation is None:
            return {"outcome": "no_therapist"}
        assert patient.tenant_id is not None
        message = Message(
            id=card_id,
            tenant_id=patient.tenant_id,
            conversation_id=conversation,
            patient_id=patient.id,
            sender_id=patient.id,
            message_type=MessageType.PATIENT_FEEDBACK_SUMMARY.value,
            text=None,
            card=summary_card(workout, patient.timezone),
            timestamp=uow.now,
        )
        uow.add(message)
        title, body = summary_push(patient.full_name, flagged)
        for therapist in team:
            _notify(uow, message, therapist, title, body, workout.id)
        return {
            "outcome": "posted",
            "messageId": str(card_id),
            "notified": [str(t) for t in team],
        }

    def fire_window(
        self,
        uow: UnitOfWork,
        window: uuid.UUID,
        scheduled_for: datetime,
        candidate_doctor_ids: list[uuid.UUID],
    ) -> dict[str, Any]:
        """Closes a coalescing window whose deadline has passed and is still the one this
        wake-up was scheduled for, bundling the therapist's notes into their
        DOCTOR_FEEDBACK_NOTE card: posted the first time (with one push to the patient),
        replaced in place (same id, next revision, no new push) after later edits,
        withdrawn when every note was deleted. A stale or early wake-up does nothing.
        """
        fb_window = uow.find(FeedbackWindow, window)
        if fb_window is None or not fb_window.is_due(scheduled_for, uow.now):
            return {"outcome": "not_due"}
        uow.add(fb_window)
        workout = uow.get(Workout, fb_window.workout_id, "workout")
        tenant = uow.get(Tenant, workout.tenant_id or uuid.UUID(int=0), "tenant")
        if not tenant.is_enabled(Flag.FEEDBACK_NOTIFICATIONS):
            fb_window.close("flag_off", uow.now)
            return {"outcome": "flag_off"}
        patient = uow.get(Patient, workout.patient_id, "patient")
        doctor = uow.get(Staff, fb_window.doctor_id, "doctor")
        connection = uow.find(Connection, connection_id(patient.id, doctor.id))
        if connection is None or not connection.active or not doctor.active:
            fb_window.close("not_on_care_team", uow.now)
            return {"outcome": "not_on_care_team"}

        card = doctor_note_card(workout, doctor.id, doctor.full_name, patient.timezone)
        card_id = note_card_id(workout.id, doctor.id)
        existing = uow.find(Message, card_id)
        if existing is not None:
            uow.add(existing)
            outcome = "revised" if card["exercises"] else "withdrawn"
            if not card["exercises"]:
                card = {**card, "withdrawn": True}
            if card == existing.card:
                outcome = "unchanged"  # edited and changed back within the window
            existing.revise(card, uow.now)
            fb_window.close(outcome, uow.now)
            return {"outcome": outcome, "messageId": str(card_id), "revision": existing.revision}
        if not card["exercises"]:
            fb_window.close("no_notes", uow.now)
            return {"outcome": "no_notes"}

        team = active_therapists(uow, patient.id, sorted({*candidate_doctor_ids, doctor.id}))
        conversation = care_team_conversation_id(patient.id, team)
        assert conversation is not None and patient.tenant_id is not None
        message = Message(
            id=card_id,
            tenant_id=patient.tenant_id,
            conversation_id=conversation,
            patient_id=patient.id,
            sender_id=doctor.id,
            message_type=MessageType.DOCTOR_FEEDBACK_NOTE.value,
            text=None,
            card=card,
            timestamp=uow.now,
        )
        uow.add(message)
        title, body = doctor_note_push(doctor.full_name, len(card["exercises"]))
        _notify(uow, message, patient.id, title, body, workout.id)
        fb_window.close("posted", uow.now)
        return {"outcome": "posted", "messageId": str(card_id), "revision": 1}
