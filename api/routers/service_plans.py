"""A patient's service plan (spec: treatment-plans, service plan integration): what their
subscription unlocks, telerehab plans and the plan library. Set by a hospital admin."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.commands import execute
from api.deps import CommandDep, RuntimeDep, read_model, require, visible
from api.openapi import errors
from api.schemas.plans import ServicePlanIn, ServicePlanOut, ServicePlanSet
from domain.shared.context import Actor, Role
from domain.shared.errors import NotFoundError
from projections.directory.projection import DirectoryProjection
from projections.plans.projection import PlanProjection

router = APIRouter(prefix="/v1/patients/{patientId}/service-plan", tags=["treatment plans"])

HospitalAdmin = Annotated[Actor, Depends(require(Role.HOSPITAL_ADMIN))]
Reader = Annotated[Actor, Depends(require(Role.PATIENT, Role.DOCTOR, Role.HOSPITAL_ADMIN))]
PlansCurrent = Depends(read_model(PlanProjection.name))
DirectoryCurrent = Depends(read_model(DirectoryProjection.name))


@router.put("", response_model=ServicePlanSet, responses=errors((404, "No such patient.")))
def set_service_plan(
    patientId: uuid.UUID,
    body: ServicePlanIn,
    _: HospitalAdmin,
    runtime: RuntimeDep,
    ctx: CommandDep,
) -> Any:
    """Sets what the patient's subscription unlocks. Losing access stops new assignments
    and self-assignments; enrollments already running go on."""
    return execute(
        runtime,
        ctx,
        lambda uow: runtime.plans.set_service_plan(
            uow, patientId, body.telerehab_access, body.library_access, body.active
        ),
    )


@router.get(
    "",
    response_model=ServicePlanOut,
    dependencies=[PlansCurrent, DirectoryCurrent],
    responses=errors((404, "No such patient the caller may reach.")),
)
def get_service_plan(patientId: uuid.UUID, actor: Reader, runtime: RuntimeDep) -> Any:
    """The patient's service plan; nothing unlocked until one is set. A patient reads
    their own."""
    visible(actor, runtime.views.directory.patient(str(patientId)), "patient", patientId)
    if actor.role is Role.PATIENT and patientId != actor.user_id:
        raise NotFoundError(f"No patient with id {patientId}.")
    row = runtime.views.plans.service_plan(str(patientId))
    if row is None:
        return {
            "patientId": patientId,
            "telerehabAccess": False,
            "libraryAccess": False,
            "active": False,
        }
    return row
