from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from domain.outbox.delivery import DELIVERY_EVENTS, Delivery
from projections.deliveries.evolve import evolve
from projections.platform.projection import Batch, Projection

DELIVERIES = "delivery"


class DeliveryProjection(Projection):
    """Every outbox delivery, of every channel, listed by status then age."""

    name = "deliveries"
    tables = (DELIVERIES,)
    sorted_by: ClassVar[Mapping[str, str]] = {DELIVERIES: "listingKey"}
    handles = DELIVERY_EVENTS

    def prepare(self, batch: Batch, events: list[Any]) -> None:
        batch.assume_absent(
            DELIVERIES, [str(e.originator_id) for e in events if isinstance(e, Delivery.Queued)]
        )
        batch.prefetch(DELIVERIES, [str(e.originator_id) for e in events])

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        key = str(event.originator_id)
        row = evolve(batch.get(DELIVERIES, key), event)
        if row is not None:
            batch.put(DELIVERIES, key, row["tenantId"], row)
