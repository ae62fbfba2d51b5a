"""Workouts and the Session Viewer (spec: patient-therapist-feedback)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from api.commands import execute
from api.deps import CommandDep, RuntimeDep, read_model, require, visible
from api.openapi import errors
from api.schemas.workouts import (
    ExerciseRecorded,
    ExerciseResult,
    FinalizeReport,
    NewWorkout,
    Note,
    NoteDeleted,
    NoteSaved,
    WorkoutFinalized,
    WorkoutSession,
    WorkoutStarted,
)
from bootstrap.runtime import Runtime
from domain.shared.context import Actor, Role
from domain.shared.errors import NotFoundError
from projections.careteam.projection import CareTeamProjection
from projections.workouts.projection import WorkoutSessionProjection

router = APIRouter(prefix="/v1/workouts", tags=["workouts"])

PatientActor = Annotated[Actor, Depends(require(Role.PATIENT))]
Doctor = Annotated[Actor, Depends(require(Role.DOCTOR))]
Viewer = Annotated[Actor, Depends(require(Role.PATIENT, Role.DOCTOR, Role.HOSPITAL_ADMIN))]
ExerciseIdPath = Annotated[str, Path(min_length=1, max_length=100)]
# Who may see a session is read from the care team, so a read waits for both read models.
SessionsCurrent = Depends(read_model(WorkoutSessionProjection.name))
CareTeamCurrent = Depends(read_model(CareTeamProjection.name))


@router.post(
    "",
    status_code=201,
    response_model=WorkoutStarted,
    responses=errors(
        (
            422,
            "`enrollmentId` and `sessionId` name no active enrollment of the caller's, or "
            "no session of its version.",
        ),
    ),
)
def start_workout(body: NewWorkout, _: PatientActor, runtime: RuntimeDep, ctx: CommandDep) -> Any:
    """The calling patient starts a workout; a plan session's `enrollmentId` and
    `sessionId` must name the caller's own active enrollment and a session of its pinned
    version (422)."""
    exercises = [e.model_dump(by_alias=True, exclude_none=True) for e in body.exercises]
    return execute(
        runtime,
        ctx,
        lambda uow: runtime.workouts.start(uow, exercises, body.enrollment_id, body.session_id),
        201,
    )


@router.put(
    "/{workoutId}/exercises/{exerciseId}",
    response_model=ExerciseRecorded,
    responses=errors(
        (404, "No such workout of the caller, or no such exercise in it."),
        (409, "The workout is finalized; its exercises are final."),
    ),
)
def record_exercise(
    workoutId: uuid.UUID,
    exerciseId: ExerciseIdPath,
    body: ExerciseResult,
    _: PatientActor,
    runtime: RuntimeDep,
    ctx: CommandDep,
) -> Any:
    """Records one exercise of the caller's own workout; 409 once it is finalized."""
    actual = body.actual.model_dump(by_alias=True, exclude_none=True)
    return execute(
        runtime,
        ctx,
        lambda uow: runtime.workouts.record(
            uow,
            workoutId,
            exerciseId,
            actual,
            body.pain,
            body.exertion,
            body.patient_notes,
            body.video_watch_percent,
            body.pose_accuracy,
        ),
    )


@router.post(
    "/{workoutId}/finalize",
    response_model=WorkoutFinalized,
    responses=errors((404, "No such workout of the caller.")),
)
def finalize_workout(
    workoutId: uuid.UUID,
    _: PatientActor,
    runtime: RuntimeDep,
    ctx: CommandDep,
    body: FinalizeReport | None = None,
) -> Any:
    """Finalizes the caller's own workout, with a plan session's pain before and after
    and questionnaire answers when given (the body may be left out); calling it again
    changes nothing."""
    report = body or FinalizeReport()
    return execute(
        runtime,
        ctx,
        lambda uow: runtime.workouts.finalize(
            uow,
            workoutId,
            report.pain_before,
            report.pain_after,
            None if report.questionnaire is None else dict(report.questionnaire),
        ),
    )


@router.put(
    "/{workoutId}/exercises/{exerciseId}/note",
    response_model=NoteSaved,
    responses=errors(
        (404, "No such workout of a connected patient, or no such exercise in it."),
        (409, "The workout is not finalized yet."),
    ),
)
def save_note(
    workoutId: uuid.UUID,
    exerciseId: ExerciseIdPath,
    body: Note,
    _: Doctor,
    runtime: RuntimeDep,
    ctx: CommandDep,
) -> Any:
    """A connected doctor saves or edits their note on one exercise of a finalized workout."""
    return execute(
        runtime, ctx, lambda uow: runtime.workouts.save_note(uow, workoutId, exerciseId, body.text)
    )


@router.delete(
    "/{workoutId}/exercises/{exerciseId}/note",
    response_model=NoteDeleted,
    responses=errors((404, "No such workout or exercise, or no note of the caller's on it.")),
)
def delete_note(
    workoutId: uuid.UUID,
    exerciseId: ExerciseIdPath,
    _: Doctor,
    runtime: RuntimeDep,
    ctx: CommandDep,
) -> Any:
    """A connected doctor removes their note on one exercise."""
    return execute(
        runtime, ctx, lambda uow: runtime.workouts.delete_note(uow, workoutId, exerciseId)
    )


def _may_view(runtime: Runtime, actor: Actor, row: dict[str, Any]) -> bool:
    """Within the tenant: the patient themself, a connected doctor, a hospital admin."""
    if actor.role is Role.PATIENT:
        return row["patientId"] == str(actor.user_id)
    if actor.role is Role.DOCTOR:
        team = runtime.views.care_team.team_of(row["patientId"])
        return team is not None and any(t["id"] == str(actor.user_id) for t in team[1])
    return actor.role is Role.HOSPITAL_ADMIN


@router.get(
    "/{workoutId}",
    response_model=WorkoutSession,
    dependencies=[SessionsCurrent, CareTeamCurrent],
    responses=errors(404),
)
def get_workout(workoutId: uuid.UUID, actor: Viewer, runtime: RuntimeDep) -> Any:
    """The Session Viewer: per exercise, prescribed vs actual, targets vs recorded pain and
    exertion, patient notes and therapist notes."""
    row = visible(actor, runtime.views.workouts.session(str(workoutId)), "workout", workoutId)
    if not _may_view(runtime, actor, row):
        raise NotFoundError(f"No workout with id {workoutId}.")
    return row
