"""Pure fold of the notifications read model: one row per push, with the status a
recipient sees (the API's vocabulary, older than the outbox's)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.notifications.application import PUSH, RECORDED_RECEIPT
from domain.outbox.delivery import Delivery
from projections.deadlines.evolve import sort_key
from projections.platform.store import Doc

RECORDED = "recorded"
KEY = "_key"  # the sorted table's indexed field
_SEP = "|"
_NEWEST_FIRST = str.maketrans("0123456789abcdef", "fedcba9876543210")


def partition(recipient_id: str) -> tuple[str, str]:
    """The (after, below) bounds of one recipient's keys (`}` follows `|`)."""
    return f"{recipient_id}{_SEP}", f"{recipient_id}}}"


def listing_key(recipient_id: str, created_at: datetime, notification_id: str) -> str:
    """A recipient's notifications, newest first, ties by id descending: every character
    of the time and the id complemented, so one ascending index range reads them."""
    return _SEP.join(
        (
            recipient_id,
            sort_key(created_at).translate(_NEWEST_FIRST),
            notification_id.translate(_NEWEST_FIRST),
        )
    )


def evolve(row: Doc | None, event: Any) -> Doc | None:
    if isinstance(event, Delivery.Queued):
        if event.channel != PUSH:
            return None
        return {
            "id": str(event.originator_id),
            "tenantId": str(event.tenant_id),
            "recipientId": str(event.recipient_id),
            "title": event.payload["title"],
            "body": event.payload["body"],
            # A link's `url` is the placeholder `$link` until the outbox writes the token
            # in at send time; the row never shows it.
            "data": {k: v for k, v in event.payload["data"].items() if k != "url"},
            "createdAt": event.timestamp.isoformat(),
            "deliveredAt": None,
            "status": "queued",
            "attempts": 0,
            "retryAt": None,
            "lastError": None,
            KEY: listing_key(str(event.recipient_id), event.timestamp, str(event.originator_id)),
        }
    if row is None:
        return None
    if isinstance(event, Delivery.AttemptStarted):
        return {**row, "attempts": event.attempt}
    if isinstance(event, Delivery.Sent):
        recorded = event.receipt == [RECORDED_RECEIPT]
        return {
            **row,
            "status": RECORDED if recorded else "delivered",
            "deliveredAt": None if recorded else event.timestamp.isoformat(),
            "retryAt": None,
        }
    if isinstance(event, Delivery.Skipped):
        return {**row, "status": "no_device", "retryAt": None}
    if isinstance(event, Delivery.AttemptFailed):
        retry_at = event.retry_at
        return {
            **row,
            "status": "retrying" if retry_at else "failed",
            "retryAt": retry_at.isoformat() if retry_at else None,
            "lastError": event.error,
        }
    if isinstance(event, Delivery.Died):
        return {**row, "status": "failed", "retryAt": None}
    if isinstance(event, Delivery.Redelivered):
        return {**row, "status": "queued"}
    return row
