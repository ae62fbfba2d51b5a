"""Workouts: the patient records and finalizes; connected therapists leave notes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from domain.careteam.connection import Connection, connection_id
from domain.people.application import practising_doctor
from domain.people.patient import Patient
from domain.privacy.personal import PersonalText
from domain.shared.context import Role
from domain.shared.errors import ForbiddenError, NotFoundError
from domain.shared.unit_of_work import UnitOfWork
from domain.workouts.window import FeedbackWindow, window_id
from domain.workouts.workout import Workout


@dataclass(frozen=True)
class WorkoutStarted:
    workout_id: uuid.UUID


@dataclass(frozen=True)
class ExerciseRecorded:
    workout_id: uuid.UUID
    exercise_id: str


@dataclass(frozen=True)
class WorkoutFinalized:
    workout_id: uuid.UUID
    finalized_at: datetime
    already_finalized: bool


@dataclass(frozen=True)
class NoteSaved:
    workout_id: uuid.UUID
    exercise_id: str
    text: PersonalText
    """Sealed in a stored rendering (Idempotency-Key) like in the event; the response
    opens it."""
    window_closes_at: datetime | None = field(default=None, metadata={"omit_none": True})
    """None (and left out of the response) when the note was saved unchanged: no window
    was touched."""


@dataclass(frozen=True)
class NoteDeleted:
    workout_id: uuid.UUID
    exercise_id: str
    window_closes_at: datetime


class PlanSessions(Protocol):
    def check_session(
        self,
        uow: UnitOfWork,
        patient_id: uuid.UUID,
        enrollment_id: uuid.UUID | None,
        session_id: uuid.UUID | None,
    ) -> None:
        """422 unless the references name the patient's own active enrollment and a
        session of its version (or are both absent)."""
        ...


class Workouts:
    def __init__(self, window_seconds: float, sessions: PlanSessions | None = None) -> None:
        self.window_seconds = window_seconds
        self.sessions = sessions

    def _own_workout(self, uow: UnitOfWork, workout_id: uuid.UUID) -> Workout:
        """The caller's own workout; any other is 404."""
        workout = uow.get(Workout, workout_id, "workout")
        if uow.actor.role is not Role.PATIENT or workout.patient_id != uow.actor.user_id:
            raise NotFoundError(f"No workout with id {workout_id}.")
        return workout

    def start(
        self,
        uow: UnitOfWork,
        exercises: list[dict[str, Any]],
        enrollment_id: uuid.UUID | None,
        session_id: uuid.UUID | None,
    ) -> WorkoutStarted:
        """Starts a workout for the calling patient; the plan references are kept as given."""
        patient = uow.find(Patient, uow.actor.user_id)
        if patient is None or not patient.active or patient.tenant_id is None:
            raise ForbiddenError("Only a registered patient can start a workout.")
        if self.sessions is not None:
            self.sessions.check_session(uow, patient.id, enrollment_id, session_id)
        workout = Workout.start(
            uow.new_id(),
            patient.tenant_id,
            patient.id,
            exercises,
            uow.now,
            enrollment_id=enrollment_id,
            session_id=session_id,
        )
        uow.add(workout)
        return WorkoutStarted(workout.id)

    def record(
        self,
        uow: UnitOfWork,
        workout_id: uuid.UUID,
        exercise_id: str,
        actual: dict[str, Any],
        pain: int | None,
        exertion: int | None,
        patient_notes: str | None,
        video_watch_percent: float | None = None,
        pose_accuracy: float | None = None,
    ) -> ExerciseRecorded:
        """Records one exercise; 409 once the workout is finalized."""
        workout = self._own_workout(uow, workout_id)
        workout.record(exercise_id, actual, pain, exertion, patient_notes, uow.now)
        if video_watch_percent is not None or pose_accuracy is not None:
            workout.track(exercise_id, video_watch_percent, pose_accuracy, uow.now)
        return ExerciseRecorded(workout.id, exercise_id)

    def finalize(
        self,
        uow: UnitOfWork,
        workout_id: uuid.UUID,
        pain_before: int | None = None,
        pain_after: int | None = None,
        questionnaire: dict[str, str] | None = None,
    ) -> WorkoutFinalized:
        """Finalizes the workout, with the session's pain before and after and its
        questionnaire answers when given; a second call changes nothing."""
        workout = self._own_workout(uow, workout_id)
        workout.report(pain_before, pain_after, questionnaire or {}, uow.now)
        changed = workout.finalize(uow.now)
        assert workout.finalized_at is not None
        return WorkoutFinalized(workout.id, workout.finalized_at, already_finalized=not changed)

    def _annotatable(self, uow: UnitOfWork, workout_id: uuid.UUID) -> Workout:
        """A workout the calling doctor may annotate: connected to its patient, else 404."""
        doctor = practising_doctor(uow, uow.actor.user_id)
        workout = uow.get(Workout, workout_id, "workout")
        connection = uow.find(Connection, connection_id(workout.patient_id, doctor.id))
        if connection is None or not connection.active:
            raise NotFoundError(f"No workout with id {workout_id}.")
        return workout

    def _touch_window(self, uow: UnitOfWork, workout: Workout) -> FeedbackWindow:
        doctor_id = uow.actor.user_id
        window = uow.find(FeedbackWindow, window_id(workout.id, doctor_id))
        assert workout.tenant_id is not None
        if window is None:
            window = FeedbackWindow.open(
                workout.tenant_id,
                workout.id,
                doctor_id,
                workout.patient_id,
                uow.now,
                self.window_seconds,
            )
        else:
            window.touch(uow.now, self.window_seconds)
        uow.add(window)
        return window

    def save_note(
        self, uow: UnitOfWork, workout_id: uuid.UUID, exercise_id: str, text: str
    ) -> NoteSaved:
        """Saves or edits the caller's note on one exercise and (re)starts the coalescing
        window: the patient hears nothing until the window has passed with no new note."""
        workout = self._annotatable(uow, workout_id)
        changed = workout.save_note(exercise_id, uow.actor.user_id, text, uow.now)
        note = workout.note_of(uow.actor.user_id, exercise_id)
        assert note is not None
        if not changed:
            return NoteSaved(workout.id, exercise_id, note)
        window = self._touch_window(uow, workout)
        return NoteSaved(workout.id, exercise_id, note, window_closes_at=window.deadline)

    def delete_note(self, uow: UnitOfWork, workout_id: uuid.UUID, exercise_id: str) -> NoteDeleted:
        """Removes the caller's note; the window rules are those of a save."""
        workout = self._annotatable(uow, workout_id)
        workout.delete_note(exercise_id, uow.actor.user_id, uow.now)
        window = self._touch_window(uow, workout)
        return NoteDeleted(workout.id, exercise_id, window.deadline)
