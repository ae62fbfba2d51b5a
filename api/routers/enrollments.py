"""Enrollments in a treatment plan's version (spec: treatment-plans): approval by another
specialist, pause and resume, the enrollment with its completed sessions, and progress in
the patient's timezone. A patient reaches only their own; staff their clinic's."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.commands import execute
from api.deps import CommandDep, RuntimeDep, read_model, require, visible
from api.openapi import errors
from api.schemas.plans import EnrollmentOut, EnrollmentSaved, ProgressOut
from bootstrap.runtime import Runtime
from domain.plans.progress import Done, progress
from domain.shared.context import Actor, Role
from domain.shared.errors import NotFoundError
from projections.directory.projection import DirectoryProjection
from projections.plans.projection import PlanProjection

router = APIRouter(tags=["treatment plans"])

Specialist = Annotated[Actor, Depends(require(Role.HOSPITAL_ADMIN, Role.DOCTOR))]
Participant = Annotated[Actor, Depends(require(Role.PATIENT, Role.HOSPITAL_ADMIN, Role.DOCTOR))]
PlansCurrent = Depends(read_model(PlanProjection.name))
DirectoryCurrent = Depends(read_model(DirectoryProjection.name))

_NOT_FOUND = (404, "No such enrollment the caller may reach.")


def visible_enrollment(runtime: Runtime, actor: Actor, enrollment_id: uuid.UUID) -> dict[str, Any]:
    """An enrollment of the caller's clinic; a patient's own only. Else 404."""
    row = visible(
        actor, runtime.views.plans.enrollment(str(enrollment_id)), "enrollment", enrollment_id
    )
    if actor.role is Role.PATIENT and row["patientId"] != str(actor.user_id):
        raise NotFoundError(f"No enrollment with id {enrollment_id}.")
    return row


@router.post(
    "/v1/enrollments/{enrollmentId}/approve",
    response_model=EnrollmentSaved,
    responses=errors(
        (403, "The caller assigned it (four eyes), or is not a practising doctor."),
        _NOT_FOUND,
        (409, "The enrollment is not pending approval."),
    ),
)
def approve_enrollment(
    enrollmentId: uuid.UUID, _: Specialist, runtime: RuntimeDep, ctx: CommandDep
) -> Any:
    """A specialist other than the one who assigned it approves a pending enrollment: it
    becomes active and its end date is set."""
    return execute(runtime, ctx, lambda uow: runtime.plans.approve(uow, enrollmentId))


@router.post(
    "/v1/enrollments/{enrollmentId}/pause",
    response_model=EnrollmentSaved,
    responses=errors(_NOT_FOUND, (409, "Only an active enrollment pauses.")),
)
def pause_enrollment(
    enrollmentId: uuid.UUID, _: Participant, runtime: RuntimeDep, ctx: CommandDep
) -> Any:
    """Pauses an active enrollment (pausing a paused one changes nothing); paused time
    does not count towards the plan's weeks."""
    return execute(runtime, ctx, lambda uow: runtime.plans.pause(uow, enrollmentId))


@router.post(
    "/v1/enrollments/{enrollmentId}/resume",
    response_model=EnrollmentSaved,
    responses=errors(_NOT_FOUND, (409, "Only a paused enrollment resumes.")),
)
def resume_enrollment(
    enrollmentId: uuid.UUID, _: Participant, runtime: RuntimeDep, ctx: CommandDep
) -> Any:
    """Resumes a paused enrollment, its end date pushed back by the time it was paused
    (resuming an active one changes nothing)."""
    return execute(runtime, ctx, lambda uow: runtime.plans.resume(uow, enrollmentId))


@router.get(
    "/v1/enrollments/{enrollmentId}",
    response_model=EnrollmentOut,
    dependencies=[PlansCurrent],
    responses=errors(_NOT_FOUND),
)
def get_enrollment(enrollmentId: uuid.UUID, actor: Participant, runtime: RuntimeDep) -> Any:
    """The enrollment and its completed sessions: per exercise prescribed vs actual,
    video watched, pose accuracy; pain before and after; questionnaire answers."""
    return visible_enrollment(runtime, actor, enrollmentId)


def _done(completion: dict[str, Any]) -> Done:
    return Done(
        at=datetime.fromisoformat(completion["completedAt"]),
        pain_before=completion.get("painBefore"),
        pain_after=completion.get("painAfter"),
    )


def _as_of(row: dict[str, Any], now: datetime) -> datetime:
    """Progress of an enrollment that ended stops at its end: a finished plan viewed
    weeks later keeps its rate and streak (docs/decisions/0022-treatment-plans.md)."""
    if row["status"] == "completed" and row["completions"]:
        return min(now, datetime.fromisoformat(row["completions"][-1]["completedAt"]))
    if row["status"] == "expired" and row.get("endsAt"):
        return min(now, datetime.fromisoformat(row["endsAt"]))
    return now


@router.get(
    "/v1/enrollments/{enrollmentId}/progress",
    response_model=ProgressOut,
    dependencies=[PlansCurrent, DirectoryCurrent],
    responses=errors(_NOT_FOUND),
)
def enrollment_progress(enrollmentId: uuid.UUID, actor: Participant, runtime: RuntimeDep) -> Any:
    """Progress in the patient's timezone, weeks starting on Monday: completed vs expected
    this week (`expectedThisWeek` is the plan's frequency, the first week included), the
    completion rate, the streak of weeks that met the frequency, and the pain trend."""
    row = visible_enrollment(runtime, actor, enrollmentId)
    patient = runtime.views.directory.patient(row["patientId"])
    timezone = (patient or {}).get("timezone") or "UTC"
    started = row.get("startedAt")
    result = progress(
        [_done(c) for c in row["completions"]],
        timezone,
        row["frequencyPerWeek"],
        None if started is None else datetime.fromisoformat(started),
        _as_of(row, runtime.clock.now()),
    )
    return {
        "completedThisWeek": result.completed_this_week,
        "expectedThisWeek": result.expected_this_week,
        "completedTotal": result.completed_total,
        "completionRate": result.completion_rate,
        "currentStreakWeeks": result.current_streak_weeks,
        "painTrend": {
            "direction": result.pain_trend.direction,
            "points": [
                {"at": p.at.isoformat(), "before": p.before, "after": p.after}
                for p in result.pain_trend.points
            ],
        },
        "timezone": timezone,
    }


@router.get(
    "/v1/patients/{patientId}/enrollments",
    response_model=list[EnrollmentOut],
    dependencies=[PlansCurrent, DirectoryCurrent],
    responses=errors((404, "No such patient the caller may reach.")),
)
def list_patient_enrollments(patientId: uuid.UUID, actor: Participant, runtime: RuntimeDep) -> Any:
    """A patient's enrollments, oldest first: a patient their own; staff their clinic's
    patients'."""
    visible(actor, runtime.views.directory.patient(str(patientId)), "patient", patientId)
    if actor.role is Role.PATIENT and patientId != actor.user_id:
        raise NotFoundError(f"No patient with id {patientId}.")
    return runtime.views.plans.enrollments_of(str(patientId))
