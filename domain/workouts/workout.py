"""A patient's workout: exercises recorded, finalized, then annotated by therapists.

Free text is the patient's personal text (docs/privacy.md): the patient's notes on an
exercise, the answers of the session's questionnaire and the therapists' notes are
validated as plain text here, then held as `PersonalText` sealed with the patient's key.
Once the patient is erased their `text` is None; nothing here reads it but `save_note`'s
"same text again" check, which an erased note never equals.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import event

from domain.privacy.personal import PersonalText, personal
from domain.shared.aggregate import CareLoopAggregate
from domain.workouts.errors import (
    InvalidWorkoutError,
    NoteNotFoundError,
    UnknownExerciseError,
    WorkoutFinalizedError,
    WorkoutNotFinalizedError,
)

NOTE_MAX = 1000
SCORE_MIN, SCORE_MAX = 0, 10


class Workout(CareLoopAggregate):
    class Started(CareLoopAggregate.Created):
        tenant_id: uuid.UUID
        patient_id: uuid.UUID
        enrollment_id: uuid.UUID | None
        session_id: uuid.UUID | None
        exercises: list[dict[str, Any]]

    class ExerciseRecorded(CareLoopAggregate.Event):
        exercise_id: str
        actual: dict[str, Any]
        pain: int | None
        exertion: int | None
        patient_notes: PersonalText | None

    class Finalized(CareLoopAggregate.Event):
        patient_id: uuid.UUID

    class ExerciseTracked(CareLoopAggregate.Event):
        """What the app measured while the patient followed the video (plan sessions)."""

        exercise_id: str
        video_watch_percent: float | None
        pose_accuracy: float | None

    class SessionReported(CareLoopAggregate.Event):
        """Pain before and after the session (0-10) and the post-session questionnaire:
        question (the plan's text) to the patient's answer (theirs, sealed)."""

        pain_before: int | None
        pain_after: int | None
        questionnaire: dict[str, PersonalText]

    class NoteSaved(CareLoopAggregate.Event):
        patient_id: uuid.UUID
        exercise_id: str
        doctor_id: uuid.UUID
        text: PersonalText

    class NoteDeleted(CareLoopAggregate.Event):
        patient_id: uuid.UUID
        exercise_id: str
        doctor_id: uuid.UUID

    @event(Started)
    def __init__(
        self,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        patient_id: uuid.UUID,
        enrollment_id: uuid.UUID | None,
        session_id: uuid.UUID | None,
        exercises: list[dict[str, Any]],
        timestamp: datetime,
    ) -> None:
        self.tenant_id: uuid.UUID | None = tenant_id
        self.patient_id = patient_id
        self.enrollment_id = enrollment_id
        self.session_id = session_id
        self.started_at = timestamp
        self.exercises: dict[str, dict[str, Any]] = {
            e["exerciseId"]: {
                "exerciseId": e["exerciseId"],
                "name": e["name"],
                "prescribed": dict(e.get("prescribed") or {}),
                "actual": {},
                "pain": None,
                "exertion": None,
                "patientNotes": None,
            }
            for e in exercises
        }
        self.order = [e["exerciseId"] for e in exercises]
        self.finalized_at: datetime | None = None
        # exercise id -> {"videoWatchPercent", "poseAccuracy"}
        self.tracking: dict[str, dict[str, float | None]] = {}
        self.pain_before: int | None = None
        self.pain_after: int | None = None
        self.questionnaire: dict[str, PersonalText] = {}
        # doctor id -> exercise id -> note text
        self.notes: dict[str, dict[str, PersonalText]] = {}

    @classmethod
    def start(
        cls,
        workout_id: uuid.UUID,
        tenant_id: uuid.UUID,
        patient_id: uuid.UUID,
        exercises: list[dict[str, Any]],
        at: datetime,
        enrollment_id: uuid.UUID | None = None,
        session_id: uuid.UUID | None = None,
    ) -> Workout:
        if not exercises:
            raise InvalidWorkoutError(
                "A workout needs at least one exercise.",
                errors=[{"field": "exercises", "message": "at least one exercise"}],
            )
        ids = [e["exerciseId"] for e in exercises]
        if len(set(ids)) != len(ids):
            raise InvalidWorkoutError(
                "Each exercise may appear once in a workout.",
                errors=[{"field": "exercises", "message": "duplicate exerciseId"}],
            )
        return cls(
            id=workout_id,
            tenant_id=tenant_id,
            patient_id=patient_id,
            enrollment_id=enrollment_id,
            session_id=session_id,
            exercises=exercises,
            timestamp=at,
        )

    @property
    def is_finalized(self) -> bool:
        return self.finalized_at is not None

    def exercise(self, exercise_id: str) -> dict[str, Any]:
        try:
            return self.exercises[exercise_id]
        except KeyError:
            raise UnknownExerciseError(f"No exercise {exercise_id} in this workout.") from None

    def record(
        self,
        exercise_id: str,
        actual: dict[str, Any],
        pain: int | None,
        exertion: int | None,
        patient_notes: str | None,
        at: datetime,
    ) -> None:
        if self.is_finalized:
            raise WorkoutFinalizedError("The workout is finalized; its exercises are final.")
        self.exercise(exercise_id)
        for name, score in (("pain", pain), ("exertion", exertion)):
            if score is not None and not SCORE_MIN <= score <= SCORE_MAX:
                raise InvalidWorkoutError(
                    f"{name} must be between 0 and 10.",
                    errors=[{"field": name, "message": "between 0 and 10"}],
                )
        self._recorded(
            exercise_id=exercise_id,
            actual=actual,
            pain=pain,
            exertion=exertion,
            patient_notes=personal(self.patient_id, patient_notes),
            timestamp=at,
        )

    @event(ExerciseRecorded)
    def _recorded(
        self,
        exercise_id: str,
        actual: dict[str, Any],
        pain: int | None,
        exertion: int | None,
        patient_notes: PersonalText | None,
        timestamp: datetime,
    ) -> None:
        self.exercises[exercise_id] = {
            **self.exercises[exercise_id],
            "actual": dict(actual),
            "pain": pain,
            "exertion": exertion,
            "patientNotes": patient_notes,
        }

    def track(
        self,
        exercise_id: str,
        video_watch_percent: float | None,
        pose_accuracy: float | None,
        at: datetime,
    ) -> None:
        """Video watched (0-100 %) and pose accuracy (0-100 %) of one exercise."""
        if self.is_finalized:
            raise WorkoutFinalizedError("The workout is finalized; its exercises are final.")
        self.exercise(exercise_id)
        for name, value in (
            ("videoWatchPercent", video_watch_percent),
            ("poseAccuracy", pose_accuracy),
        ):
            if value is not None and not 0 <= value <= 100:
                raise InvalidWorkoutError(
                    f"{name} must be between 0 and 100.",
                    errors=[{"field": name, "message": "between 0 and 100"}],
                )
        if video_watch_percent is None and pose_accuracy is None:
            return
        self._tracked(
            exercise_id=exercise_id,
            video_watch_percent=video_watch_percent,
            pose_accuracy=pose_accuracy,
            timestamp=at,
        )

    @event(ExerciseTracked)
    def _tracked(
        self,
        exercise_id: str,
        video_watch_percent: float | None,
        pose_accuracy: float | None,
        timestamp: datetime,
    ) -> None:
        self.tracking[exercise_id] = {
            "videoWatchPercent": video_watch_percent,
            "poseAccuracy": pose_accuracy,
        }

    def report(
        self,
        pain_before: int | None,
        pain_after: int | None,
        questionnaire: dict[str, str],
        at: datetime,
    ) -> None:
        """The session's pain before and after (0-10) and questionnaire answers, given
        with the finalize; nothing once finalized."""
        if self.is_finalized:
            return
        for name, score in (("painBefore", pain_before), ("painAfter", pain_after)):
            if score is not None and not SCORE_MIN <= score <= SCORE_MAX:
                raise InvalidWorkoutError(
                    f"{name} must be between 0 and 10.",
                    errors=[{"field": name, "message": "between 0 and 10"}],
                )
        if pain_before is None and pain_after is None and not questionnaire:
            return
        self._reported(
            pain_before=pain_before,
            pain_after=pain_after,
            questionnaire={q: PersonalText(self.patient_id, a) for q, a in questionnaire.items()},
            timestamp=at,
        )

    @event(SessionReported)
    def _reported(
        self,
        pain_before: int | None,
        pain_after: int | None,
        questionnaire: dict[str, PersonalText],
        timestamp: datetime,
    ) -> None:
        self.pain_before = pain_before
        self.pain_after = pain_after
        self.questionnaire = dict(questionnaire)

    def finalize(self, at: datetime) -> bool:
        """True if this finalized the workout; finalizing twice is a no-op."""
        if self.is_finalized:
            return False
        self._finalized(patient_id=self.patient_id, timestamp=at)
        return True

    @event(Finalized)
    def _finalized(self, patient_id: uuid.UUID, timestamp: datetime) -> None:
        self.finalized_at = timestamp

    def note_of(self, doctor_id: uuid.UUID, exercise_id: str) -> PersonalText | None:
        return self.notes.get(str(doctor_id), {}).get(exercise_id)

    def save_note(self, exercise_id: str, doctor_id: uuid.UUID, text: str, at: datetime) -> bool:
        """True if the note changed; saving the same text again records nothing."""
        if not self.is_finalized:
            raise WorkoutNotFinalizedError("Notes can be left on a finalized workout only.")
        self.exercise(exercise_id)
        if not text.strip() or len(text) > NOTE_MAX:
            raise InvalidWorkoutError(
                "A note is 1 to 1000 characters.",
                errors=[{"field": "text", "message": "1 to 1000 characters, not blank"}],
            )
        note = PersonalText(self.patient_id, text)
        if self.note_of(doctor_id, exercise_id) == note:
            return False
        self._note_saved(
            patient_id=self.patient_id,
            exercise_id=exercise_id,
            doctor_id=doctor_id,
            text=note,
            timestamp=at,
        )
        return True

    @event(NoteSaved)
    def _note_saved(
        self,
        patient_id: uuid.UUID,
        exercise_id: str,
        doctor_id: uuid.UUID,
        text: PersonalText,
        timestamp: datetime,
    ) -> None:
        self.notes.setdefault(str(doctor_id), {})[exercise_id] = text

    def delete_note(self, exercise_id: str, doctor_id: uuid.UUID, at: datetime) -> None:
        self.exercise(exercise_id)
        if self.note_of(doctor_id, exercise_id) is None:
            raise NoteNotFoundError(f"There is no note of yours on exercise {exercise_id}.")
        self._note_deleted(
            patient_id=self.patient_id, exercise_id=exercise_id, doctor_id=doctor_id, timestamp=at
        )

    @event(NoteDeleted)
    def _note_deleted(
        self, patient_id: uuid.UUID, exercise_id: str, doctor_id: uuid.UUID, timestamp: datetime
    ) -> None:
        notes = self.notes.get(str(doctor_id), {})
        notes.pop(exercise_id, None)
        if not notes:
            self.notes.pop(str(doctor_id), None)
