"""Treatment plans (spec: treatment-plans): drafts, immutable published versions (the
versioned-plan read model), clone and promote, the library, assigning and self-assigning.

Who sees a plan: a platform admin every plan; a clinic's staff the global plans and their
clinic's own (custom ones included); a patient, only what was published, of a plan that is
in the library, is theirs (custom), or that they are enrolled in. Anything else is 404.
Exercises stay references in every version; when served, each carries the exercise's
live content.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from api.commands import execute
from api.deps import CommandDep, RuntimeDep, read_model, require
from api.errors import ProblemError
from api.openapi import errors
from api.schemas.plans import (
    EnrollmentSaved,
    LibraryEntry,
    NewAssignment,
    NewClone,
    NewPlan,
    PlanEdit,
    PlanOut,
    PlanPublished,
    PlanSaved,
    VersionOut,
    VersionSnapshot,
)
from bootstrap.runtime import Runtime
from domain.plans.content import (
    ExerciseParams,
    PlanContent,
    PlanExercise,
    sessions_with_ids,
)
from domain.shared.context import Actor, Role
from domain.shared.errors import NotFoundError
from domain.shared.unit_of_work import UnitOfWork
from projections.plans.projection import PlanProjection

router = APIRouter(prefix="/v1/treatment-plans", tags=["treatment plans"])

Reader = Annotated[
    Actor,
    Depends(require(Role.PATIENT, Role.DOCTOR, Role.HOSPITAL_ADMIN, Role.PLATFORM_ADMIN)),
]
Designer = Annotated[Actor, Depends(require(Role.PLATFORM_ADMIN, Role.HOSPITAL_ADMIN, Role.DOCTOR))]
Specialist = Annotated[Actor, Depends(require(Role.HOSPITAL_ADMIN, Role.DOCTOR))]
HospitalAdmin = Annotated[Actor, Depends(require(Role.HOSPITAL_ADMIN))]
PatientActor = Annotated[Actor, Depends(require(Role.PATIENT))]
PlansCurrent = Depends(read_model(PlanProjection.name))
Filter = Annotated[str | None, Query(min_length=1, max_length=100)]
VersionNumber = Annotated[int, Path(ge=1, le=1_000_000)]

_INVALID = (422, "The plan is not valid: `errors` names each field.")


# -- reading --------------------------------------------------------------------------------


def visible_exercise(runtime: Runtime, actor: Actor, exercise_id: uuid.UUID) -> dict[str, Any]:
    """An exercise the caller may see: global, or of the caller's clinic; else 404."""
    row = runtime.views.plans.exercise(str(exercise_id))
    if row is None or not _may_see_tenant(actor, row.get("tenantId")):
        raise NotFoundError(f"No exercise with id {exercise_id}.")
    return dict(row)


def _may_see_tenant(actor: Actor, tenant_id: str | None) -> bool:
    """Global rows are everyone's; a clinic's are its own people's (a platform admin's)."""
    if tenant_id is None:
        return True
    return actor.can_see_tenant(uuid.UUID(tenant_id))


def _enrolled_in(runtime: Runtime, actor: Actor, plan_id: str) -> bool:
    return any(
        e["planId"] == plan_id for e in runtime.views.plans.enrollments_of(str(actor.user_id))
    )


def _in_library(runtime: Runtime, plan: dict[str, Any]) -> bool:
    if plan.get("scope") == "custom" or plan.get("latestVersion") is None:
        return False
    latest = runtime.views.plans.version(plan["id"], plan["latestVersion"])
    return latest is not None and latest["snapshot"]["visibility"] == "library"


def visible_plan(runtime: Runtime, actor: Actor, plan_id: uuid.UUID) -> dict[str, Any]:
    """A plan row the caller may see (see the module's docstring), or 404."""
    row = runtime.views.plans.plan(str(plan_id))
    if row is None or not _may_see_tenant(actor, row.get("tenantId")):
        raise NotFoundError(f"No treatment plan with id {plan_id}.")
    if actor.role is not Role.PATIENT:
        return dict(row)
    own = row.get("scope") == "custom" and row.get("patientId") == str(actor.user_id)
    published = row.get("latestVersion") is not None
    if not published or not (
        own or _in_library(runtime, row) or _enrolled_in(runtime, actor, row["id"])
    ):
        raise NotFoundError(f"No treatment plan with id {plan_id}.")
    return dict(row)


def with_live_exercises(
    runtime: Runtime,
    actor: Actor,
    content: dict[str, Any] | None,
    cache: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The content with each exercise's live content beside its reference (null for an
    exercise the caller may not see: another clinic's never shows)."""
    if content is None:
        return None
    live = {} if cache is None else cache
    sessions = []
    for session in content.get("sessions", []):
        exercises = []
        for item in session.get("exercises", []):
            exercise_id = item["exerciseId"]
            if exercise_id not in live:
                row = runtime.views.plans.exercise(exercise_id)
                live[exercise_id] = (
                    None
                    if row is None or not _may_see_tenant(actor, row.get("tenantId"))
                    else {
                        "name": row["name"],
                        "bodyRegion": row.get("bodyRegion"),
                        "videoUrl": row.get("videoUrl"),
                        "description": row.get("description"),
                    }
                )
            exercises.append({**item, "exercise": live[exercise_id]})
        sessions.append({**session, "exercises": exercises})
    return {**content, "sessions": sessions}


@router.get(
    "/library",
    response_model=list[LibraryEntry],
    dependencies=[PlansCurrent],
    responses=errors((403, "A patient whose service plan has no library access.")),
)
def plan_library(
    actor: Reader,
    runtime: RuntimeDep,
    condition: Filter = None,
    difficulty: Filter = None,
    bodyRegion: Filter = None,
) -> Any:
    """Published library plans the caller may see, by title: global ones and the caller's
    clinic's. A patient needs an active service plan with library access (403)."""
    if actor.role is Role.PATIENT:
        access = runtime.views.plans.service_plan(str(actor.user_id))
        if access is None or not (access["active"] and access["libraryAccess"]):
            raise ProblemError(403, "Your service plan has no library access.", "no-access")
    tenant = None if actor.tenant_id is None else str(actor.tenant_id)
    return runtime.views.plans.library(tenant, condition, difficulty, bodyRegion)


@router.get("/{planId}", response_model=PlanOut, dependencies=[PlansCurrent], responses=errors(404))
def get_plan(planId: uuid.UUID, actor: Reader, runtime: RuntimeDep) -> Any:
    """The plan: its draft under way and what it looks like now, each exercise with its
    live content. A patient sees the latest published version only."""
    row = visible_plan(runtime, actor, planId)
    cache: dict[str, Any] = {}
    if actor.role is Role.PATIENT:
        latest = runtime.views.plans.version(row["id"], row["latestVersion"])
        row["draft"] = None
        row["current"] = None if latest is None else latest["snapshot"]
    row["draft"] = with_live_exercises(runtime, actor, row.get("draft"), cache)
    row["current"] = with_live_exercises(runtime, actor, row.get("current"), cache)
    return row


@router.get(
    "/{planId}/versions",
    response_model=list[VersionOut],
    dependencies=[PlansCurrent],
    responses=errors(404),
)
def list_plan_versions(planId: uuid.UUID, actor: Reader, runtime: RuntimeDep) -> Any:
    """Every published version, oldest first: `[{version, publishedAt}]`."""
    visible_plan(runtime, actor, planId)
    return runtime.views.plans.versions(str(planId))


@router.get(
    "/{planId}/versions/{version}",
    response_model=VersionSnapshot,
    dependencies=[PlansCurrent],
    responses=errors((404, "No such plan the caller may see, or no such version of it.")),
)
def get_plan_version(
    planId: uuid.UUID, version: VersionNumber, actor: Reader, runtime: RuntimeDep
) -> Any:
    """One version as published (it never changes), each exercise with its live content."""
    visible_plan(runtime, actor, planId)
    row = runtime.views.plans.version(str(planId), version)
    if row is None:
        raise NotFoundError(f"No version {version} of treatment plan {planId}.")
    return {**row, "snapshot": with_live_exercises(runtime, actor, row["snapshot"])}


# -- designing ------------------------------------------------------------------------------


def _content(uow: UnitOfWork, body: PlanEdit) -> PlanContent:
    """The body as the domain's content; new sessions get their ids in the unit of work."""
    sessions = sessions_with_ids(
        [
            (
                session.id,
                session.title,
                [
                    PlanExercise(
                        exercise.exercise_id,
                        ExerciseParams(
                            mode=exercise.params.mode,
                            sets=exercise.params.sets,
                            rest_between_sets_seconds=exercise.params.rest_between_sets_seconds,
                            reps=getattr(exercise.params, "reps", None),
                            hold_seconds=getattr(exercise.params, "hold_seconds", None),
                        ),
                    )
                    for exercise in session.exercises
                ],
            )
            for session in body.sessions
        ],
        uow.new_id,
    )
    return PlanContent(
        title=body.title,
        plan_type=body.type,
        frequency_per_week=body.frequency_per_week,
        duration_weeks=body.duration_weeks,
        visibility=body.visibility,
        requires_approval=body.requires_approval,
        sessions=sessions,
        condition=body.condition,
        difficulty=body.difficulty,
        body_region=body.body_region,
        questionnaire=tuple(body.questionnaire),
    )


@router.post(
    "",
    status_code=201,
    response_model=PlanSaved,
    responses=errors(
        (403, "Global plans are the platform admin's; org and custom plans a clinic's."),
        (404, "No such patient (`patientId`)."),
        _INVALID,
    ),
)
def create_plan(body: NewPlan, _: Designer, runtime: RuntimeDep, ctx: CommandDep) -> Any:
    """A draft: global by a platform admin, org or custom by a clinic's specialists (a
    custom plan may be for one patient). Webhook `treatment_plan.created`."""
    return execute(
        runtime,
        ctx,
        lambda uow: runtime.plans.design(uow, body.scope, _content(uow, body), body.patient_id),
        201,
    )


@router.put(
    "/{planId}",
    response_model=PlanSaved,
    responses=errors((404, "No such plan the caller may edit."), _INVALID),
)
def edit_plan(
    planId: uuid.UUID, body: PlanEdit, _: Designer, runtime: RuntimeDep, ctx: CommandDep
) -> Any:
    """Replaces the draft; on a published plan, starts a new draft. Published versions
    never change. A session keeps its id when the body names it."""
    return execute(runtime, ctx, lambda uow: runtime.plans.edit(uow, planId, _content(uow, body)))


@router.post(
    "/{planId}/publish",
    response_model=PlanPublished,
    responses=errors(
        (404, "No such plan the caller may publish."),
        (409, "Nothing new to publish: edit the plan to start a new draft."),
        (422, "No session with at least one exercise."),
    ),
)
def publish_plan(planId: uuid.UUID, _: Designer, runtime: RuntimeDep, ctx: CommandDep) -> Any:
    """Snapshots the draft as the next immutable version."""
    return execute(runtime, ctx, lambda uow: runtime.plans.publish(uow, planId))


@router.post(
    "/{planId}/clone",
    status_code=201,
    response_model=PlanSaved,
    responses=errors((404, "No such plan the caller may see, or no such patient."), _INVALID),
)
def clone_plan(
    planId: uuid.UUID,
    _: Specialist,
    runtime: RuntimeDep,
    ctx: CommandDep,
    body: NewClone | None = None,
) -> Any:
    """A custom draft of the caller's clinic with what the plan looks like now, optionally
    for one patient (`patientId`; the body may be left out)."""
    patient = None if body is None else body.patient_id
    return execute(runtime, ctx, lambda uow: runtime.plans.clone(uow, planId, patient), 201)


@router.post(
    "/{planId}/promote",
    response_model=PlanSaved,
    responses=errors(
        (403, "Only a hospital admin promotes a plan."),
        (404, "No such plan of the caller's clinic."),
        (409, "Not a published custom plan."),
    ),
)
def promote_plan(planId: uuid.UUID, _: HospitalAdmin, runtime: RuntimeDep, ctx: CommandDep) -> Any:
    """A published custom plan joins the clinic's library (org scope)."""
    return execute(runtime, ctx, lambda uow: runtime.plans.promote(uow, planId))


# -- enrolling ------------------------------------------------------------------------------


@router.post(
    "/{planId}/assign",
    status_code=201,
    response_model=EnrollmentSaved,
    responses=errors(
        (403, "A telerehab plan for a patient without telerehab access."),
        (404, "No such plan, patient, or version."),
        (409, "The plan has no published version yet."),
        (422, "A custom plan for another patient."),
    ),
)
def assign_plan(
    planId: uuid.UUID, body: NewAssignment, _: Specialist, runtime: RuntimeDep, ctx: CommandDep
) -> Any:
    """Enrolls the patient in a published version (the latest, or `version`): `active`, or
    `pending_approval` when the version requires approval."""
    return execute(
        runtime,
        ctx,
        lambda uow: runtime.plans.assign(uow, planId, body.patient_id, body.version),
        201,
    )


@router.post(
    "/{planId}/self-assign",
    status_code=201,
    response_model=EnrollmentSaved,
    responses=errors(
        (403, "The patient's service plan has no library access."),
        (404, "No published library plan with this id the patient may see."),
    ),
)
def self_assign_plan(
    planId: uuid.UUID, _: PatientActor, runtime: RuntimeDep, ctx: CommandDep
) -> Any:
    """The spec's three checks in order: library access (403), a published library plan
    (404), then an active, self-assigned enrollment in its latest version."""
    return execute(runtime, ctx, lambda uow: runtime.plans.self_assign(uow, planId), 201)
