"""What a plan prescribes: its fields and its ordered sessions of exercises with their
parameters. A published version snapshots all of it (`PlanContent`); exercises are
referenced by id, never copied, so their content stays live."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from domain.plans.errors import InvalidPlanError
from domain.shared.payloads import payload

TITLE_MAX = 200
FIELD_MAX = 100
MAX_SESSIONS = 200
MAX_EXERCISES = 50


class Scope(StrEnum):
    GLOBAL = "global"
    ORG = "org"
    CUSTOM = "custom"


class PlanType(StrEnum):
    TELEREHAB = "telerehab"
    IN_CLINIC = "in_clinic"


class Visibility(StrEnum):
    PRIVATE = "private"
    LIBRARY = "library"


class Mode(StrEnum):
    REPS = "reps"
    DURATION = "duration"


# Bounds of the parameters (docs/decisions/0022-treatment-plans.md).
SETS = (1, 20)
REPS = (1, 100)
HOLD_SECONDS = (1, 3600)
REST_SECONDS = (0, 600)
FREQUENCY = (1, 14)
DURATION_WEEKS = (1, 104)


@payload("plan_exercise_params")
@dataclass(frozen=True)
class ExerciseParams:
    """`{mode: reps, sets, reps, restBetweenSetsSeconds}` or
    `{mode: duration, sets, holdSeconds, restBetweenSetsSeconds}`."""

    mode: str
    sets: int
    rest_between_sets_seconds: int
    reps: int | None = None
    hold_seconds: int | None = None


@payload("plan_exercise")
@dataclass(frozen=True)
class PlanExercise:
    exercise_id: uuid.UUID
    params: ExerciseParams


@payload("plan_session")
@dataclass(frozen=True)
class PlanSession:
    id: uuid.UUID
    title: str
    exercises: tuple[PlanExercise, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "exercises", tuple(self.exercises))


@payload("plan_content")
@dataclass(frozen=True)
class PlanContent:
    title: str
    plan_type: str
    frequency_per_week: int
    duration_weeks: int
    visibility: str
    requires_approval: bool
    sessions: tuple[PlanSession, ...]
    condition: str | None = None
    difficulty: str | None = None
    body_region: str | None = None
    # The post-session questionnaire: question texts a completed session may answer.
    questionnaire: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "sessions", tuple(self.sessions))
        object.__setattr__(self, "questionnaire", tuple(self.questionnaire))

    @property
    def is_publishable(self) -> bool:
        return any(session.exercises for session in self.sessions)

    def session(self, session_id: uuid.UUID) -> PlanSession | None:
        return next((s for s in self.sessions if s.id == session_id), None)

    def exercise_ids(self) -> set[uuid.UUID]:
        return {e.exercise_id for s in self.sessions for e in s.exercises}


def _within(
    errors: list[dict[str, Any]], field: str, value: object, bounds: tuple[int, int]
) -> None:
    low, high = bounds
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        errors.append({"field": field, "message": f"an integer {low}-{high}"})


def _text(
    errors: list[dict[str, Any]], field: str, value: str | None, limit: int, required: bool
) -> None:
    if value is None:
        if required:
            errors.append({"field": field, "message": "required"})
        return
    if not value.strip() or len(value) > limit:
        errors.append({"field": field, "message": f"1-{limit} characters, not blank"})


def validate_params(errors: list[dict[str, Any]], where: str, params: ExerciseParams) -> None:
    if params.mode == Mode.REPS:
        _within(errors, f"{where}.reps", params.reps, REPS)
        if params.hold_seconds is not None:
            errors.append({"field": f"{where}.holdSeconds", "message": "not in reps mode"})
    elif params.mode == Mode.DURATION:
        _within(errors, f"{where}.holdSeconds", params.hold_seconds, HOLD_SECONDS)
        if params.reps is not None:
            errors.append({"field": f"{where}.reps", "message": "not in duration mode"})
    else:
        errors.append({"field": f"{where}.mode", "message": "reps or duration"})
    _within(errors, f"{where}.sets", params.sets, SETS)
    _within(
        errors, f"{where}.restBetweenSetsSeconds", params.rest_between_sets_seconds, REST_SECONDS
    )


def validate(content: PlanContent) -> None:
    """422 naming every field that is not acceptable."""
    errors: list[dict[str, Any]] = []
    _text(errors, "title", content.title, TITLE_MAX, required=True)
    if content.plan_type not in {t.value for t in PlanType}:
        errors.append({"field": "type", "message": "telerehab or in_clinic"})
    if content.visibility not in {v.value for v in Visibility}:
        errors.append({"field": "visibility", "message": "private or library"})
    _within(errors, "frequencyPerWeek", content.frequency_per_week, FREQUENCY)
    _within(errors, "durationWeeks", content.duration_weeks, DURATION_WEEKS)
    for name, value in (
        ("condition", content.condition),
        ("difficulty", content.difficulty),
        ("bodyRegion", content.body_region),
    ):
        _text(errors, name, value, FIELD_MAX, required=False)
    for i, question in enumerate(content.questionnaire):
        _text(errors, f"questionnaire[{i}]", question, 500, required=True)
    if len(content.sessions) > MAX_SESSIONS:
        errors.append({"field": "sessions", "message": f"at most {MAX_SESSIONS}"})
    for i, session in enumerate(content.sessions):
        _text(errors, f"sessions[{i}].title", session.title, TITLE_MAX, required=True)
        if len(session.exercises) > MAX_EXERCISES:
            errors.append(
                {"field": f"sessions[{i}].exercises", "message": f"at most {MAX_EXERCISES}"}
            )
        for j, exercise in enumerate(session.exercises):
            validate_params(errors, f"sessions[{i}].exercises[{j}].params", exercise.params)
    if len({s.id for s in content.sessions}) != len(content.sessions):
        errors.append({"field": "sessions", "message": "duplicate session id"})
    if errors:
        raise InvalidPlanError("The treatment plan is not valid.", errors=errors)


def sessions_with_ids(
    sessions: Sequence[tuple[uuid.UUID | None, str, Sequence[PlanExercise]]],
    new_id: Any,
) -> tuple[PlanSession, ...]:
    """Sessions as given, each keeping the id it was given or getting a new one (so a
    workout naming a session keeps naming it across edits)."""
    return tuple(
        PlanSession(session_id or new_id(), title, tuple(exercises))
        for session_id, title, exercises in sessions
    )
