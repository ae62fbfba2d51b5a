"""Clinic staff: registration, approval, deactivation, and the staff directory."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.commands import execute
from api.deps import CommandDep, RuntimeDep, read_model, require, tenant_scope, visible
from api.openapi import errors
from api.schemas.people import Created, NewStaff, StaffOut, StaffState
from domain.shared.context import Actor, Role
from projections.directory.projection import DirectoryProjection

router = APIRouter(tags=["staff"])

StaffManager = Annotated[Actor, Depends(require(Role.PLATFORM_ADMIN, Role.HOSPITAL_ADMIN))]
StaffReader = Annotated[
    Actor,
    Depends(require(Role.PLATFORM_ADMIN, Role.HOSPITAL_ADMIN, Role.PX_ADMIN, Role.DOCTOR)),
]
DirectoryCurrent = Depends(read_model(DirectoryProjection.name))


@router.post(
    "/v1/tenants/{tenantId}/staff",
    status_code=201,
    response_model=Created,
    responses=errors((404, "No such tenant.")),
)
def register_staff(
    tenantId: uuid.UUID, body: NewStaff, _: StaffManager, runtime: RuntimeDep, ctx: CommandDep
) -> Any:
    return execute(
        runtime,
        ctx,
        lambda uow: runtime.people.register_staff(
            uow, tenantId, body.type, body.first_name, body.last_name, str(body.email)
        ),
        201,
    )


@router.post("/v1/staff/{staffId}/approve", response_model=StaffState, responses=errors(404))
def approve_staff(staffId: uuid.UUID, _: StaffManager, runtime: RuntimeDep, ctx: CommandDep) -> Any:
    return execute(runtime, ctx, lambda uow: runtime.people.approve_staff(uow, staffId))


@router.post("/v1/staff/{staffId}/deactivate", response_model=StaffState, responses=errors(404))
def deactivate_staff(
    staffId: uuid.UUID, _: StaffManager, runtime: RuntimeDep, ctx: CommandDep
) -> Any:
    return execute(runtime, ctx, lambda uow: runtime.people.deactivate_staff(uow, staffId))


@router.get(
    "/v1/tenants/{tenantId}/staff",
    response_model=list[StaffOut],
    dependencies=[DirectoryCurrent],
    responses=errors((404, "No such tenant.")),
)
def list_staff(tenantId: uuid.UUID, actor: StaffReader, runtime: RuntimeDep) -> Any:
    return runtime.views.directory.staff(tenant_scope(runtime, actor, tenantId))


@router.get(
    "/v1/staff/{staffId}",
    response_model=StaffOut,
    dependencies=[DirectoryCurrent],
    responses=errors(404),
)
def get_staff(staffId: uuid.UUID, actor: StaffReader, runtime: RuntimeDep) -> Any:
    row = runtime.views.directory.staff_member(str(staffId))
    return visible(actor, row, "staff member", staffId)
