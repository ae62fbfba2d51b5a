"""Webhook subscriptions of a clinic (spec: treatment-plans, automations) and the log of
their deliveries. Hospital admins only. A subscription's secret is taken once and never
returned: not by the create, not by any read, not by an Idempotency-Key replay."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.commands import execute
from api.deps import CommandDep, RuntimeDep, read_model, require, visible
from api.openapi import errors
from api.schemas.webhooks import (
    NewSubscription,
    SubscriptionCreated,
    SubscriptionOut,
    WebhookDeliveryPage,
)
from bootstrap.runtime import Runtime
from domain.shared.context import Actor, Role
from projections.webhooks.projection import WebhookProjection

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

HospitalAdmin = Annotated[Actor, Depends(require(Role.HOSPITAL_ADMIN))]
WebhooksCurrent = Depends(read_model(WebhookProjection.name))


def _subscription(runtime: Runtime, actor: Actor, subscription_id: uuid.UUID) -> dict[str, Any]:
    row = runtime.views.webhooks.subscription(str(subscription_id))
    return visible(actor, row, "webhook subscription", subscription_id)


@router.post(
    "",
    status_code=201,
    response_model=SubscriptionCreated,
    responses=errors(
        (
            422,
            "An invalid URL, event or secret, or a URL resolving to a private, loopback or "
            "link-local address (unless CARELOOP_WEBHOOK_ALLOW_PRIVATE=true).",
        )
    ),
)
def create_webhook(
    body: NewSubscription, _: HospitalAdmin, runtime: RuntimeDep, ctx: CommandDep
) -> Any:
    """Subscribes a URL to automation triggers of the caller's clinic. Every event after
    the response's `position` is delivered, signed with the secret."""
    events = [event.value for event in body.events]
    return execute(
        runtime,
        ctx,
        lambda uow: runtime.webhooks.subscribe(uow, body.url, events, body.secret),
        201,
    )


@router.get("", response_model=list[SubscriptionOut], dependencies=[WebhooksCurrent])
def list_webhooks(actor: HospitalAdmin, runtime: RuntimeDep) -> Any:
    """The clinic's subscriptions (never their secrets)."""
    return runtime.views.webhooks.subscriptions(str(actor.tenant_id))


@router.get(
    "/{webhookId}",
    response_model=SubscriptionOut,
    dependencies=[WebhooksCurrent],
    responses=errors(404),
)
def get_webhook(webhookId: uuid.UUID, actor: HospitalAdmin, runtime: RuntimeDep) -> Any:
    """One subscription (never its secret)."""
    return _subscription(runtime, actor, webhookId)


@router.get(
    "/{webhookId}/deliveries",
    response_model=WebhookDeliveryPage,
    dependencies=[WebhooksCurrent],
    responses=errors(404),
)
def list_webhook_deliveries(
    webhookId: uuid.UUID,
    actor: HospitalAdmin,
    runtime: RuntimeDep,
    cursor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    """The subscription's deliveries, newest first, each with every attempt (a dead one
    can be redelivered at `POST /v1/admin/deliveries/{id}/redeliver`)."""
    _subscription(runtime, actor, webhookId)
    items, next_cursor = runtime.views.webhooks.deliveries(str(webhookId), cursor, limit)
    return {"items": items, "nextCursor": next_cursor}
