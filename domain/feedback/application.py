"""The commands behind the feedback loop's two process managers (policies.py).

Both are idempotent by construction: every message and push they create has an id
derived from what it is about, so a retry, a replay or a racing worker can only collide
with the first decision (the store's optimistic concurrency rejects the copy, the command
bus retries on fresh state, and the retry finds the work done).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.careteam.connection import Connection, connection_id
from domain.feedback.policies import PostNoteCard, SummarizeWorkout
from domain.messaging.application import active_therapists
from domain.messaging.conversation import care_team_conversation_id
from domain.messaging.message import Message, MessageType
from domain.notifications.application import queue_push
from domain.people.flags import Flag
from domain.people.patient import Patient
from domain.people.staff import Staff
from domain.people.tenant import Tenant
from domain.privacy.personal import PersonalText
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


class TeamDirectory(Protocol):
    def therapists_of(self, patient_id: uuid.UUID) -> list[uuid.UUID]:
        """The therapists a read model lists for the patient: candidates, each of which a
        command checks against its connection aggregate."""
        ...


@dataclass(frozen=True)
class FeedbackOutcome:
    outcome: str
    message_id: uuid.UUID | None = None
    notified: tuple[uuid.UUID, ...] = ()
    revision: int | None = None


def _notify(
    uow: UnitOfWork,
    message: Message,
    recipient: uuid.UUID,
    title: str | PersonalText,
    body: str | PersonalText,
    workout_id: uuid.UUID,
) -> None:
    assert message.tenant_id is not None
    queue_push(
        uow,
        notification_id(message.id, recipient),
        message.tenant_id,
        recipient,
        title,
        body,
        {
            "type": message.message_type.value,
            "workoutId": str(workout_id),
            "conversationId": str(message.conversation_id),
            "messageId": str(message.id),
        },
    )


class FeedbackLoop:
    def __init__(self, team: TeamDirectory) -> None:
        self.team = team

    def prefetch(
        self, uow: UnitOfWork, commands: Sequence[SummarizeWorkout | PostNoteCard]
    ) -> None:
        """Load what a run of these commands will read, in two reads rather than a few per
        command: the windows and workouts they name, then everything those name."""
        windows = [c.window_id for c in commands if isinstance(c, PostNoteCard)]
        workouts = [c.workout_id for c in commands if isinstance(c, SummarizeWorkout)]
        uow.preload([*windows, *workouts, *(summary_card_id(w) for w in workouts)])
        named: list[uuid.UUID] = []
        for window_id in windows:
            window = uow.find(FeedbackWindow, window_id)
            if window is None:
                continue
            workouts.append(window.workout_id)
            named += [
                window.workout_id,
                window.doctor_id,
                connection_id(window.patient_id, window.doctor_id),
                note_card_id(window.workout_id, window.doctor_id),
            ]
        uow.preload(named)
        for workout_id in workouts:
            workout = uow.find(Workout, workout_id)
            if workout is not None:
                named += [workout.patient_id, workout.tenant_id or uuid.UUID(int=0)]
        uow.preload(named)

    def handle(self, uow: UnitOfWork, command: SummarizeWorkout | PostNoteCard) -> FeedbackOutcome:
        """Runs a command the feedback loop's process managers decided on."""
        if isinstance(command, SummarizeWorkout):
            workout = uow.find(Workout, command.workout_id)
            candidates = self.team.therapists_of(workout.patient_id) if workout else []
            return self.summarize(uow, command.workout_id, candidates)
        window = uow.find(FeedbackWindow, command.window_id)
        candidates = self.team.therapists_of(window.patient_id) if window else []
        return self.post_note_card(uow, command.window_id, command.deadline, candidates)

    def summarize(
        self, uow: UnitOfWork, workout_id: uuid.UUID, candidate_doctor_ids: Sequence[uuid.UUID]
    ) -> FeedbackOutcome:
        """Posts the workout's one PATIENT_FEEDBACK_SUMMARY card to the care team's
        conversation and queues one push per connected therapist, if the workout is
        finalized, has a flagged exercise, and the tenant has feedbackNotifications on.

        `candidate_doctor_ids` are the therapists the care-team read model knows; each is
        checked against its connection aggregate here. A patient with no therapist gets no
        card: there is no conversation to post it in (docs/decisions). An erased patient
        gets none either.
        """
        card_id = summary_card_id(workout_id)
        if uow.find(Message, card_id) is not None:
            return FeedbackOutcome("already_posted", card_id)
        workout = uow.get(Workout, workout_id, "workout")
        if not workout.is_finalized:
            return FeedbackOutcome("not_finalized")
        flagged = flagged_exercises(workout)
        if not flagged:
            return FeedbackOutcome("not_flagged")
        tenant = uow.get(Tenant, workout.tenant_id or uuid.UUID(int=0), "tenant")
        if not tenant.is_enabled(Flag.FEEDBACK_NOTIFICATIONS):
            return FeedbackOutcome("flag_off")
        patient = uow.get(Patient, workout.patient_id, "patient")
        name = patient.name
        if name.text is None:
            # Erased: nothing new is said about them (and nothing could be sealed).
            return FeedbackOutcome("erased")
        team = active_therapists(uow, patient.id, list(candidate_doctor_ids))
        conversation = care_team_conversation_id(patient.id, team)
        if conversation is None:
            return FeedbackOutcome("no_therapist")
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
        # The push quotes the patient's name: built here, in plaintext, and sealed with
        # the patient's key although it goes to a therapist.
        plain_title, body = summary_push(name.text, flagged)
        title = PersonalText(patient.id, plain_title)
        for therapist in team:
            _notify(uow, message, therapist, title, body, workout.id)
        return FeedbackOutcome("posted", card_id, tuple(team))

    def post_note_card(
        self,
        uow: UnitOfWork,
        window: uuid.UUID,
        elapsed_at: datetime,
        candidate_doctor_ids: Sequence[uuid.UUID],
    ) -> FeedbackOutcome:
        """Closes a coalescing window that elapsed at `elapsed_at` and has not been
        touched since, bundling the therapist's notes into their DOCTOR_FEEDBACK_NOTE
        card: posted the first time (with one push to the patient), replaced in place
        (same id, next revision, no new push) after later edits, withdrawn when every
        note was deleted. A window touched since it elapsed waits for its new deadline.
        """
        fb_window = uow.find(FeedbackWindow, window)
        if fb_window is None or not fb_window.is_elapsed_at(elapsed_at):
            return FeedbackOutcome("not_due")
        uow.add(fb_window)
        workout = uow.get(Workout, fb_window.workout_id, "workout")
        tenant = uow.get(Tenant, workout.tenant_id or uuid.UUID(int=0), "tenant")
        if not tenant.is_enabled(Flag.FEEDBACK_NOTIFICATIONS):
            fb_window.close("flag_off", uow.now)
            return FeedbackOutcome("flag_off")
        patient = uow.get(Patient, workout.patient_id, "patient")
        doctor = uow.get(Staff, fb_window.doctor_id, "doctor")
        connection = uow.find(Connection, connection_id(patient.id, doctor.id))
        if connection is None or not connection.active or not doctor.active:
            fb_window.close("not_on_care_team", uow.now)
            return FeedbackOutcome("not_on_care_team")

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
            return FeedbackOutcome(outcome, card_id, revision=existing.revision)
        if not card["exercises"]:
            fb_window.close("no_notes", uow.now)
            return FeedbackOutcome("no_notes")

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
        return FeedbackOutcome("posted", card_id, (patient.id,), revision=1)
