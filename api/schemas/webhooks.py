"""Request and response bodies of the webhook subscriptions and their delivery log. A
subscription's secret goes in once and never comes out."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field, StringConstraints

from api.schemas.deliveries import AttemptOut, DeliveryStatusOut
from api.schemas.people import CamelModel, CamelOut
from domain.webhooks.subscription import SECRET_MAX, URL_MAX, Trigger

_NO_CONTROLS = r"^[^\x00-\x1f\x7f]*$"

Url = Annotated[str, StringConstraints(min_length=1, max_length=URL_MAX, pattern=_NO_CONTROLS)]
# Too short a secret is the domain's to refuse (422 naming `secret`).
Secret = Annotated[str, StringConstraints(min_length=1, max_length=SECRET_MAX)]


class NewSubscription(CamelModel):
    url: Url = Field(
        description="http(s); refused (422) when it resolves to a private, loopback or "
        "link-local address, unless CARELOOP_WEBHOOK_ALLOW_PRIVATE=true."
    )
    events: list[Trigger] = Field(min_length=1, max_length=len(Trigger))
    secret: Secret = Field(
        description="Signs every delivery (HMAC-SHA256); never returned after creation."
    )


class SubscriptionCreated(CamelOut):
    id: uuid.UUID
    url: str
    events: list[str]
    position: int


class SubscriptionOut(CamelOut):
    id: uuid.UUID
    tenant_id: uuid.UUID
    url: str
    events: list[str]
    active: bool
    created_at: str


class WebhookDeliveryOut(CamelOut):
    id: uuid.UUID = Field(description="The `X-CareLoop-Delivery` id, the same on every retry.")
    event: str = Field(description="The trigger, e.g. `treatment_plan.assigned`.")
    status: DeliveryStatusOut = Field(
        description="pending, sent, failed (a retry is scheduled), dead (no attempt left: "
        "`POST /v1/admin/deliveries/{id}/redeliver` tries again), skipped."
    )
    attempts: list[AttemptOut]
    next_attempt_at: str | None = None
    created_at: str


class WebhookDeliveryPage(CamelOut):
    items: list[WebhookDeliveryOut] = Field(
        description="Deliveries with every attempt, newest first."
    )
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; absent on the last."
    )
