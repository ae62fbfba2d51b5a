from __future__ import annotations

from typing import Any

from domain.outbox.delivery import DELIVERY_EVENTS, Delivery
from projections.notifications.evolve import evolve
from projections.platform.projection import Batch, Projection

# Partitioned by recipient id rather than tenant, so one user's notifications are one
# indexed lookup; each row still carries its tenantId for visibility checks.
NOTIFICATIONS = "notification"


class NotificationProjection(Projection):
    """Every push with its delivery status, per recipient (other channels' deliveries
    leave no row here)."""

    name = "notifications"
    tables = (NOTIFICATIONS,)
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
            batch.put(NOTIFICATIONS, key, row["recipientId"], row)
