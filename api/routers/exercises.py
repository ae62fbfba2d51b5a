"""The exercise library (spec: treatment-plans): global exercises by a platform admin, a
clinic's own by its staff. Plans reference exercises by id, so an edit is live in every
plan version that names the exercise."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.commands import execute
from api.deps import CommandDep, RuntimeDep, read_model, require
from api.openapi import errors
from api.routers.treatment_plans import Reader, visible_exercise
from api.schemas.plans import ExerciseOut, ExerciseSaved, NewExercise
from domain.shared.context import Actor, Role
from projections.plans.projection import PlanProjection

router = APIRouter(prefix="/v1/exercises", tags=["treatment plans"])

Author = Annotated[Actor, Depends(require(Role.PLATFORM_ADMIN, Role.HOSPITAL_ADMIN, Role.DOCTOR))]
PlansCurrent = Depends(read_model(PlanProjection.name))


@router.post(
    "",
    status_code=201,
    response_model=ExerciseSaved,
    responses=errors((422, "The exercise is not valid: `errors` names each field.")),
)
def create_exercise(body: NewExercise, _: Author, runtime: RuntimeDep, ctx: CommandDep) -> Any:
    """A global exercise when a platform admin creates it; the caller's clinic's otherwise."""
    return execute(
        runtime,
        ctx,
        lambda uow: runtime.plans.create_exercise(
            uow, body.name, body.body_region, body.description, body.video_url
        ),
        201,
    )


@router.get("", response_model=list[ExerciseOut], dependencies=[PlansCurrent])
def list_exercises(actor: Reader, runtime: RuntimeDep) -> Any:
    """The exercises the caller can use, by name: the global ones and the caller's
    clinic's own."""
    return runtime.views.plans.exercises(None if actor.tenant_id is None else str(actor.tenant_id))


@router.get(
    "/{exerciseId}",
    response_model=ExerciseOut,
    dependencies=[PlansCurrent],
    responses=errors(404),
)
def get_exercise(exerciseId: uuid.UUID, actor: Reader, runtime: RuntimeDep) -> Any:
    """One exercise as it is now."""
    return visible_exercise(runtime, actor, exerciseId)


@router.put(
    "/{exerciseId}",
    response_model=ExerciseSaved,
    responses=errors(
        (404, "No such exercise the caller may edit (a global one is the platform admin's)."),
        (422, "The exercise is not valid: `errors` names each field."),
    ),
)
def edit_exercise(
    exerciseId: uuid.UUID, body: NewExercise, _: Author, runtime: RuntimeDep, ctx: CommandDep
) -> Any:
    """Edits the exercise's live content: every plan version naming it shows the edit."""
    return execute(
        runtime,
        ctx,
        lambda uow: runtime.plans.edit_exercise(
            uow, exerciseId, body.name, body.body_region, body.description, body.video_url
        ),
    )
