"""Pure fold of the notifications read model: one row per push notification."""

from __future__ import annotations

from typing import Any

from domain.notifications.notification import DeliveryStatus, Notification
from projections.platform.store import Doc

# Rows in these states still have delivery work ahead of them.
PENDING = frozenset({DeliveryStatus.QUEUED.value, DeliveryStatus.RETRYING.value})


def evolve(row: Doc | None, event: Any) -> Doc | None:
    if isinstance(event, Notification.Queued):
        return {
            "id": str(event.originator_id),
            "tenantId": str(event.tenant_id),
            "recipientId": str(event.recipient_id),
            "title": event.title,
            "body": event.body,
            "data": dict(event.data),
            "createdAt": event.timestamp.isoformat(),
            "deliveredAt": None,
            "status": DeliveryStatus.QUEUED.value,
            "attempts": 0,
            "retryAt": None,
            "lastError": None,
        }
    if row is None:
        return None
    if isinstance(event, Notification.Delivered):
        return {
            **row,
            "status": DeliveryStatus.DELIVERED.value,
            "deliveredAt": event.timestamp.isoformat(),
            "attempts": row["attempts"] + 1,
            "retryAt": None,
        }
    if isinstance(event, Notification.Recorded):
        status = (
            DeliveryStatus.NO_DEVICE if event.reason == "no_device" else DeliveryStatus.RECORDED
        )
        return {**row, "status": status.value, "retryAt": None}
    if isinstance(event, Notification.DeliveryFailed):
        retry_at = event.retry_at
        return {
            **row,
            "status": (DeliveryStatus.RETRYING if retry_at else DeliveryStatus.FAILED).value,
            "attempts": event.attempt,
            "retryAt": retry_at.isoformat() if retry_at else None,
            "lastError": event.error,
        }
    return row


def outbox_entry(row: Doc) -> Doc | None:
    """The sweep's index entry for a row with delivery work left, else None."""
    if row["status"] not in PENDING:
        return None
    return {
        "id": row["id"],
        "tenantId": row["tenantId"],
        "status": row["status"],
        "createdAt": row["createdAt"],
        "retryAt": row["retryAt"],
    }
