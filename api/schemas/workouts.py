"""Request and response bodies of the workouts and Session Viewer endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field, StringConstraints

from api.schemas.people import CamelModel, CamelOut

# PostgreSQL cannot store U+0000 in JSONB, so a control character in any stored string
# would stop a read model at that event for good. Free text may keep tabs and newlines.
_NO_CONTROLS = r"^[^\x00-\x1f\x7f]*$"
_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

ExerciseId = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=_NO_CONTROLS)]
ExerciseName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_NO_CONTROLS),
]
# Strict: `true` or "3" is not a count. The upper bound keeps absurd numbers out of the
# log; no exercise has 100,000 sets.
Count = Annotated[int, Field(strict=True, ge=0, le=100_000)]
Score = Annotated[int, Field(strict=True, ge=0, le=10)]
PatientNotes = Annotated[str, StringConstraints(max_length=2000, pattern=_TEXT)]
# Blank notes are the domain's to reject (422 too), so the text is kept exactly as typed.
NoteText = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=_TEXT)]
Percent = Annotated[float, Field(strict=True, ge=0, le=100)]
Question = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=_TEXT)]
Answer = Annotated[str, StringConstraints(max_length=2000, pattern=_TEXT)]


class Prescribed(CamelModel):
    sets: Count | None = None
    reps: Count | None = None
    hold_seconds: Count | None = None
    pain_target: Score | None = None
    exertion_target: Score | None = None


class PlannedExercise(CamelModel):
    exercise_id: ExerciseId
    name: ExerciseName
    prescribed: Prescribed = Field(default_factory=Prescribed)


class NewWorkout(CamelModel):
    enrollment_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    exercises: list[PlannedExercise] = Field(min_length=1, max_length=100)


class WorkoutStarted(CamelOut):
    workout_id: uuid.UUID
    position: int


class Actual(CamelModel):
    sets: Count | None = None
    reps: Count | None = None
    duration_seconds: Count | None = None


class ExerciseResult(CamelModel):
    actual: Actual = Field(default_factory=Actual)
    pain: Score | None = None
    exertion: Score | None = None
    patient_notes: PatientNotes | None = None
    video_watch_percent: Percent | None = Field(
        default=None, description="How much of the exercise's video was watched, 0-100."
    )
    pose_accuracy: Percent | None = Field(
        default=None, description="The app's pose-tracking accuracy, 0-100."
    )


class FinalizeReport(CamelModel):
    """What a plan session reports when it is finalized (every field optional)."""

    pain_before: Score | None = None
    pain_after: Score | None = None
    questionnaire: dict[Question, Answer] | None = Field(
        default=None,
        max_length=50,
        description="The post-session questionnaire: question to answer.",
    )


class ExerciseRecorded(CamelOut):
    workout_id: uuid.UUID
    exercise_id: str
    position: int


class WorkoutFinalized(CamelOut):
    workout_id: uuid.UUID
    finalized_at: str
    already_finalized: bool
    position: int


class Note(CamelModel):
    text: NoteText


class NoteSaved(CamelOut):
    workout_id: uuid.UUID
    exercise_id: str
    text: str | None = Field(description="null (and `erased: true`) once the patient is erased")
    window_closes_at: str | None = Field(
        default=None, description="absent when the text was unchanged and nothing was recorded"
    )
    position: int


class NoteDeleted(CamelOut):
    workout_id: uuid.UUID
    exercise_id: str
    window_closes_at: str
    position: int


class TherapistNote(CamelOut):
    doctor_id: uuid.UUID
    doctor_name: str | None
    text: str | None = Field(description="null (and `erased: true`) once the patient is erased")
    updated_at: str


class SessionExercise(CamelOut):
    exercise_id: str
    name: str
    prescribed: dict[str, int] = Field(description="sets, reps, holdSeconds, as prescribed")
    actual: dict[str, int] = Field(description="sets, reps, durationSeconds, as recorded")
    pain_target: int | None
    pain: int | None
    exertion_target: int | None
    exertion: int | None
    patient_notes: str | None = Field(
        description="null when none was left, or (with `erased: true`) once the patient is erased"
    )
    therapist_notes: list[TherapistNote]


class WorkoutSession(CamelOut):
    """The Session Viewer: per exercise, prescribed vs actual, targets vs recorded pain and
    exertion, the patient's notes and every therapist's note."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    patient_id: uuid.UUID
    enrollment_id: uuid.UUID | None
    session_id: uuid.UUID | None
    started_at: str
    finalized_at: str | None
    exercises: list[SessionExercise]
