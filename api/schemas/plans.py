"""Request and response bodies of the treatment plans endpoints (spec: treatment-plans):
the exercise library, plans and their versions, enrollments, progress, service plans."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StringConstraints, model_validator

from api.schemas.people import CamelModel, CamelOut
from domain.plans.content import (
    DURATION_WEEKS,
    FIELD_MAX,
    FREQUENCY,
    HOLD_SECONDS,
    MAX_EXERCISES,
    MAX_SESSIONS,
    REPS,
    REST_SECONDS,
    SETS,
    TITLE_MAX,
)
from domain.plans.exercise import NAME_MAX, TEXT_MAX

# PostgreSQL cannot store U+0000 in JSONB, so a control character in any stored string
# would stop a read model at that event for good. Free text may keep tabs and newlines.
_NO_CONTROLS = r"^[^\x00-\x1f\x7f]*$"
_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def _bounded(bounds: tuple[int, int]) -> Any:
    low, high = bounds
    return Field(strict=True, ge=low, le=high)


# Blank names and titles are the domain's to judge (422 naming the field); these keep out
# what no stored string may hold, and absurd sizes.
Title = Annotated[str, StringConstraints(min_length=1, max_length=TITLE_MAX, pattern=_NO_CONTROLS)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=FIELD_MAX, pattern=_NO_CONTROLS)]
ExerciseName = Annotated[
    str, StringConstraints(min_length=1, max_length=NAME_MAX, pattern=_NO_CONTROLS)
]
Description = Annotated[str, StringConstraints(max_length=TEXT_MAX, pattern=_TEXT)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=_NO_CONTROLS)]
Question = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=_TEXT)]
Answer = Annotated[str, StringConstraints(max_length=2000, pattern=_TEXT)]

Sets = Annotated[int, _bounded(SETS)]
Reps = Annotated[int, _bounded(REPS)]
HoldSeconds = Annotated[int, _bounded(HOLD_SECONDS)]
RestSeconds = Annotated[int, _bounded(REST_SECONDS)]
Frequency = Annotated[int, _bounded(FREQUENCY)]
DurationWeeks = Annotated[int, _bounded(DURATION_WEEKS)]
Percent = Annotated[float, Field(strict=True, ge=0, le=100)]

ScopeIn = Literal["global", "org", "custom"]
PlanTypeIn = Literal["telerehab", "in_clinic"]
VisibilityIn = Literal["private", "library"]
EnrollmentStatusOut = Literal["pending_approval", "active", "paused", "completed", "expired"]


# -- the exercise library -----------------------------------------------------------------


class NewExercise(CamelModel):
    name: ExerciseName
    body_region: Label | None = None
    description: Description | None = None
    video_url: Url | None = Field(default=None, description="An https URL.")


class ExerciseSaved(CamelOut):
    id: uuid.UUID
    position: int


class ExerciseOut(CamelOut):
    id: uuid.UUID
    tenant_id: uuid.UUID | None = Field(description="null for a global exercise")
    scope: Literal["global", "org"]
    name: str
    body_region: str | None = None
    description: str | None = None
    video_url: str | None = None
    created_at: str
    updated_at: str


# -- plans --------------------------------------------------------------------------------


class RepsParams(CamelModel):
    mode: Literal["reps"]
    sets: Sets
    reps: Reps
    rest_between_sets_seconds: RestSeconds


class DurationParams(CamelModel):
    mode: Literal["duration"]
    sets: Sets
    hold_seconds: HoldSeconds
    rest_between_sets_seconds: RestSeconds


Params = Annotated[RepsParams | DurationParams, Field(discriminator="mode")]


class PlanExerciseIn(CamelModel):
    exercise_id: uuid.UUID
    params: Params


class PlanSessionIn(CamelModel):
    id: uuid.UUID | None = Field(
        default=None,
        description="A session's id, to keep it across edits (workouts name it); a new "
        "session gets one.",
    )
    title: Title
    exercises: list[PlanExerciseIn] = Field(max_length=MAX_EXERCISES)


class PlanEdit(CamelModel):
    """A plan's whole content: what `PUT` replaces the draft with."""

    title: Title
    type: PlanTypeIn
    frequency_per_week: Frequency
    duration_weeks: DurationWeeks
    condition: Label | None = None
    difficulty: Label | None = None
    body_region: Label | None = None
    visibility: VisibilityIn
    requires_approval: StrictBool = False
    questionnaire: list[Question] = Field(
        default_factory=list,
        max_length=50,
        description="The post-session questionnaire: questions a completed session answers.",
    )
    sessions: list[PlanSessionIn] = Field(max_length=MAX_SESSIONS)


class NewPlan(PlanEdit):
    scope: ScopeIn
    patient_id: uuid.UUID | None = Field(
        default=None, description="Only for a custom plan: the one patient it is for."
    )


class PlanSaved(CamelOut):
    id: uuid.UUID
    position: int


class PlanPublished(CamelOut):
    id: uuid.UUID
    version: int
    position: int


class LiveExercise(CamelOut):
    """The exercise's content as it is now: live, never snapshotted."""

    name: str
    body_region: str | None = None
    video_url: str | None = None
    description: str | None = None


class RepsParamsOut(CamelOut):
    mode: Literal["reps"]
    sets: int
    reps: int
    rest_between_sets_seconds: int


class DurationParamsOut(CamelOut):
    mode: Literal["duration"]
    sets: int
    hold_seconds: int
    rest_between_sets_seconds: int


ParamsOut = Annotated[RepsParamsOut | DurationParamsOut, Field(discriminator="mode")]


class PlanExerciseOut(CamelOut):
    exercise_id: uuid.UUID
    params: ParamsOut
    exercise: LiveExercise | None = Field(
        default=None,
        description="The exercise's live content; null if the caller may not see it.",
    )


class PlanSessionOut(CamelOut):
    id: uuid.UUID
    title: str
    exercises: list[PlanExerciseOut]


class PlanContentOut(CamelOut):
    title: str
    type: PlanTypeIn
    frequency_per_week: int
    duration_weeks: int
    condition: str | None = None
    difficulty: str | None = None
    body_region: str | None = None
    visibility: VisibilityIn
    requires_approval: bool
    questionnaire: list[str]
    sessions: list[PlanSessionOut]


class PlanOut(CamelOut):
    id: uuid.UUID
    tenant_id: uuid.UUID | None = Field(description="null for a global plan")
    scope: ScopeIn
    patient_id: uuid.UUID | None = None
    created_by: uuid.UUID | None = None
    cloned_from: uuid.UUID | None = None
    status: Literal["draft", "published", "published_with_draft"]
    latest_version: int | None = None
    draft: PlanContentOut | None = Field(
        default=None, description="The draft under way: null when none, and for patients."
    )
    current: PlanContentOut | None = Field(
        default=None,
        description="What the plan looks like now: the draft, else the latest version. A "
        "patient sees the latest published version only.",
    )
    created_at: str
    updated_at: str | None = None
    promoted_at: str | None = None


class VersionOut(CamelOut):
    version: int
    published_at: str


class VersionSnapshot(VersionOut):
    snapshot: PlanContentOut = Field(
        description="The plan's whole structure as published; each exercise shows its live content."
    )


class LibraryEntry(CamelOut):
    """A published plan in the library: its latest version's summary."""

    id: uuid.UUID
    scope: ScopeIn
    tenant_id: uuid.UUID | None = Field(description="null for a global plan")
    latest_version: int
    title: str
    type: PlanTypeIn
    condition: str | None = None
    difficulty: str | None = None
    body_region: str | None = None
    frequency_per_week: int
    duration_weeks: int


class NewClone(CamelModel):
    patient_id: uuid.UUID | None = None


# -- enrollments --------------------------------------------------------------------------


class NewAssignment(CamelModel):
    patient_id: uuid.UUID
    version: Annotated[int, Field(strict=True, ge=1)] | None = Field(
        default=None, description="The version to pin; the latest published one if absent."
    )


class EnrollmentSaved(CamelOut):
    enrollment_id: uuid.UUID
    status: EnrollmentStatusOut
    version: int
    position: int


class ExerciseResultOut(CamelOut):
    exercise_id: str
    prescribed: dict[str, int | float | str | None]
    actual: dict[str, int | float | str | None]
    pain: int | None = None
    video_watch_percent: float | None = None
    pose_accuracy: float | None = None


class CompletionOut(CamelOut):
    session_id: uuid.UUID
    workout_id: uuid.UUID
    completed_at: str
    pain_before: int | None = None
    pain_after: int | None = None
    questionnaire: dict[str, str | None] = Field(
        default_factory=dict,
        description="Question to the patient's answer; the answers are null (and the "
        "completion `erased: true`) once the patient is erased.",
    )
    exercises: list[ExerciseResultOut] = Field(
        description="Per exercise, prescribed vs actual, video watched and pose accuracy."
    )

    @model_validator(mode="before")
    @classmethod
    def _erased_answers(cls, row: Any) -> Any:
        """An opened row marks the questionnaire mapping itself `erased: true` (it is the
        object that held the answers): the mark belongs to the completion, not among the
        questions. Answers are strings, so only the mark is the boolean True."""
        if isinstance(row, dict):
            answers = row.get("questionnaire")
            if isinstance(answers, dict) and answers.get("erased") is True:
                kept = {q: a for q, a in answers.items() if a is not True}
                return {**row, "questionnaire": kept, "erased": True}
        return row


class EnrollmentOut(CamelOut):
    id: uuid.UUID
    tenant_id: uuid.UUID
    patient_id: uuid.UUID
    plan_id: uuid.UUID
    version: int
    plan_type: PlanTypeIn
    status: EnrollmentStatusOut
    self_assigned: bool
    assigned_by: uuid.UUID | None = None
    approved_by: uuid.UUID | None = None
    enrolled_at: str
    started_at: str | None = None
    ends_at: str | None = None
    paused_at: str | None = None
    frequency_per_week: int
    duration_weeks: int
    completions: list[CompletionOut]


class PainPointOut(CamelOut):
    at: str
    before: int | None = None
    after: int | None = None


class PainTrendOut(CamelOut):
    direction: Literal["improving", "stable", "worsening"] | None = Field(
        description="null with fewer than two sessions that reported pain"
    )
    points: list[PainPointOut]


class ProgressOut(CamelOut):
    completed_this_week: int
    expected_this_week: int = Field(description="The plan's frequency per week.")
    completed_total: int
    completion_rate: float | None = Field(
        description="Sessions done over sessions expected so far (0-1); null before the start."
    )
    current_streak_weeks: int
    pain_trend: PainTrendOut
    timezone: str = Field(description="The patient's timezone, in which weeks start on Monday.")


# -- service plans ------------------------------------------------------------------------


class ServicePlanIn(CamelModel):
    telerehab_access: StrictBool
    library_access: StrictBool
    active: StrictBool


class ServicePlanSet(CamelOut):
    patient_id: uuid.UUID
    telerehab_access: bool
    library_access: bool
    active: bool
    position: int


class ServicePlanOut(CamelOut):
    patient_id: uuid.UUID
    telerehab_access: bool
    library_access: bool
    active: bool
