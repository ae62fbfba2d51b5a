"""The webhooks read model: subscriptions, their trigger index, and the deliveries of the
outbox's `webhook` channel with their attempts (see evolve.py for rows and keys)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from domain.outbox.delivery import DELIVERY_EVENTS, Delivery
from domain.webhooks.subscription import Subscription
from projections.platform.projection import Batch, Projection
from projections.webhooks.evolve import (
    KEY,
    evolve_delivery,
    evolve_subscription,
    trigger_rows,
)

SUBSCRIPTIONS = "webhook_subscription"  # by id; sorted: `<tenant>|<created>|<id>`
TRIGGERS = "webhook_trigger"  # by and sorted by `<tenant>|<trigger>|<subscriptionId>`
DELIVERIES = "webhook_delivery"  # by id; sorted: `<subscriptionId>|<newest first>|<id>`

SUBSCRIPTION_EVENTS = (Subscription.Created, Subscription.Deactivated)


class WebhookProjection(Projection):
    name = "webhooks"
    tables = (SUBSCRIPTIONS, TRIGGERS, DELIVERIES)
    sorted_by: ClassVar[Mapping[str, str]] = {SUBSCRIPTIONS: KEY, TRIGGERS: KEY, DELIVERIES: KEY}
    handles = (*SUBSCRIPTION_EVENTS, *DELIVERY_EVENTS)

    def prepare(self, batch: Batch, events: list[Any]) -> None:
        def ids(*types: type[Any]) -> list[str]:
            return [str(e.originator_id) for e in events if isinstance(e, types)]

        batch.assume_absent(SUBSCRIPTIONS, ids(Subscription.Created))
        batch.assume_absent(DELIVERIES, ids(Delivery.Queued))
        batch.prefetch(SUBSCRIPTIONS, ids(*SUBSCRIPTION_EVENTS))
        # Every channel's delivery events come here; only webhook ones have a row.
        batch.prefetch(DELIVERIES, ids(*DELIVERY_EVENTS))

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        key = str(event.originator_id)
        if isinstance(event, SUBSCRIPTION_EVENTS):
            before = batch.get(SUBSCRIPTIONS, key)
            after = evolve_subscription(before, event)
            if after is None:
                return
            batch.put(SUBSCRIPTIONS, key, after["tenantId"], after)
            wanted = trigger_rows(after)
            had = trigger_rows(before) if before is not None else {}
            for gone in had.keys() - wanted.keys():
                batch.delete(TRIGGERS, gone)
            for trigger_key, row in wanted.items():
                batch.put(TRIGGERS, trigger_key, row["tenantId"], row)
            return
        delivery = evolve_delivery(batch.get(DELIVERIES, key), event)
        if delivery is not None:
            batch.put(DELIVERIES, key, delivery["tenantId"], delivery)
