"""Tenants and their feature flags."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.commands import execute
from api.deps import CommandDep, RuntimeDep, read_model, require, tenant_scope, visible
from api.openapi import errors
from api.schemas.people import Created, FlagChange, FlagChanged, NewTenant, TenantFlags, TenantOut
from domain.shared.context import Actor, Role
from projections.tenants.projection import TenantProjection

router = APIRouter(tags=["tenants"])

PlatformAdmin = Annotated[Actor, Depends(require(Role.PLATFORM_ADMIN))]
TenantReader = Annotated[Actor, Depends(require(Role.PLATFORM_ADMIN, Role.HOSPITAL_ADMIN))]
TenantsCurrent = Depends(read_model(TenantProjection.name))


@router.post("/v1/tenants", status_code=201, response_model=Created)
def create_tenant(body: NewTenant, _: PlatformAdmin, runtime: RuntimeDep, ctx: CommandDep) -> Any:
    return execute(runtime, ctx, lambda uow: runtime.people.create_tenant(uow, body.name), 201)


@router.get("/v1/tenants", response_model=list[TenantOut], dependencies=[TenantsCurrent])
def list_tenants(_: PlatformAdmin, runtime: RuntimeDep) -> Any:
    return runtime.views.tenants.all()


@router.get(
    "/v1/tenants/{tenantId}",
    response_model=TenantOut,
    dependencies=[TenantsCurrent],
    responses=errors(404),
)
def get_tenant(tenantId: uuid.UUID, actor: TenantReader, runtime: RuntimeDep) -> Any:
    tenant_scope(runtime, actor, tenantId)
    return visible(
        actor, _with_tenant(runtime.views.tenants.get(str(tenantId))), "tenant", tenantId
    )


@router.get(
    "/v1/tenants/{tenantId}/feature-flags",
    response_model=TenantFlags,
    dependencies=[TenantsCurrent],
    responses=errors(404),
)
def get_feature_flags(tenantId: uuid.UUID, actor: TenantReader, runtime: RuntimeDep) -> Any:
    tenant_scope(runtime, actor, tenantId)
    row = visible(actor, _with_tenant(runtime.views.tenants.get(str(tenantId))), "tenant", tenantId)
    return {"flags": row["flags"]}


@router.put(
    "/v1/tenants/{tenantId}/feature-flags/{flag}",
    response_model=FlagChanged,
    responses=errors((404, "No such tenant, or no such flag.")),
)
def set_feature_flag(
    tenantId: uuid.UUID,
    flag: str,
    body: FlagChange,
    _: PlatformAdmin,
    runtime: RuntimeDep,
    ctx: CommandDep,
) -> Any:
    return execute(
        runtime, ctx, lambda uow: runtime.people.set_flag(uow, tenantId, flag, body.enabled)
    )


def _with_tenant(row: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if row is None else {**row, "tenantId": row["id"]}
