"""The outbox, for admins: deliveries of every channel with their attempts, and trying
a dead one again."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from api.commands import execute
from api.deps import CommandDep, RuntimeDep, read_model, require, visible
from api.openapi import errors
from api.schemas.deliveries import DeliveryPage, Redelivered
from domain.shared.context import Actor, Role
from domain.shared.errors import NotFoundError
from projections.deliveries.projection import DeliveryProjection

router = APIRouter(prefix="/v1/admin/deliveries", tags=["operations"])

Admin = Annotated[Actor, Depends(require(Role.PLATFORM_ADMIN, Role.HOSPITAL_ADMIN))]
DeliveriesCurrent = Depends(read_model(DeliveryProjection.name))


@router.get("", response_model=DeliveryPage, dependencies=[DeliveriesCurrent])
def list_deliveries(
    actor: Admin,
    runtime: RuntimeDep,
    status: Literal["pending", "sent", "failed", "dead", "skipped"] | None = None,
    channel: Annotated[str | None, Query(max_length=40)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    """Outbox deliveries by status, oldest first, with every attempt: all tenants for a
    platform admin, the caller's own tenant for a hospital admin."""
    tenant = None if actor.is_platform_admin else str(actor.tenant_id)
    items, next_cursor = runtime.views.deliveries.page(tenant, status, channel, cursor, limit)
    return {"items": items, "nextCursor": next_cursor}


@router.post(
    "/{deliveryId}/redeliver",
    status_code=202,
    response_model=Redelivered,
    responses=errors(404, (409, "The delivery is not dead.")),
)
def redeliver(deliveryId: uuid.UUID, actor: Admin, runtime: RuntimeDep, ctx: CommandDep) -> Any:
    """Tries a dead delivery again, with a fresh set of attempts (202: it is queued)."""
    row = runtime.views.deliveries.get(str(deliveryId))
    if row is None:
        raise NotFoundError(f"No delivery with id {deliveryId}.")
    visible(actor, row, "delivery", deliveryId)
    return execute(runtime, ctx, lambda uow: runtime.outbox.redeliver(uow, deliveryId), 202)
