from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from domain.outbox.delivery import DELIVERY_EVENTS, Delivery
from projections.notifications.evolve import KEY, evolve
from projections.platform.projection import Batch, Projection

# Sorted by recipient, then newest first: one user's notifications are one index range
# (docs/decisions/0033-indexed-reads.md).
NOTIFICATIONS = "notification"


class NotificationProjection(Projection):
    """Every push with its delivery status, per recipient (other channels' deliveries
    leave no row here)."""

    name = "notifications"
    tables = (NOTIFICATIONS,)
    sorted_by: ClassVar[Mapping[str, str]] = {NOTIFICATIONS: KEY}
    handles = DELIVERY_EVENTS

    def prepare(self, batch: Batch, events: list[Any]) -> None:
        later = [str(e.originator_id) for e in events if not isinstance(e, Delivery.Queued)]
        batch.assume_absent(
            NOTIFICATIONS, [str(e.originator_id) for e in events if isinstance(e, Delivery.Queued)]
        )
        batch.prefetch(NOTIFICATIONS, later)

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        key = str(event.originator_id)
        row = evolve(batch.get(NOTIFICATIONS, key), event)
        if row is not None:
            batch.put(NOTIFICATIONS, key, row["tenantId"], row)
