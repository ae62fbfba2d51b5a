from __future__ import annotations

from typing import Any

from domain.notifications.notification import Notification
from projections.notifications.evolve import evolve, outbox_entry
from projections.platform.projection import Batch, Projection

# Partitioned by recipient id rather than tenant, so one user's notifications are one
# indexed lookup; each row still carries its tenantId for visibility checks.
NOTIFICATIONS = "notification"
# Only the notifications still queued or retrying, so the sweep never scans the history.
OUTBOX = "notification_outbox"


class NotificationProjection(Projection):
    """Every push notification with its delivery status, per recipient."""

    name = "notifications"
    tables = (NOTIFICATIONS, OUTBOX)
    handles = (
        Notification.Queued,
        Notification.Delivered,
        Notification.Recorded,
        Notification.DeliveryFailed,
    )

    def prepare(self, batch: Batch, events: list[Any]) -> None:
        batch.prefetch(NOTIFICATIONS, [str(e.originator_id) for e in events])

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        key = str(event.originator_id)
        row = evolve(batch.get(NOTIFICATIONS, key), event)
        if row is None:
            return
        batch.put(NOTIFICATIONS, key, row["recipientId"], row)
        entry = outbox_entry(row)
        if entry is None:
            batch.delete(OUTBOX, key)
        else:
            batch.put(OUTBOX, key, None, entry)
