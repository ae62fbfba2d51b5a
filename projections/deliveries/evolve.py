"""Pure fold of the deliveries read model: every outbox delivery with its attempts, as
admins see it (`GET /v1/admin/deliveries`)."""

from __future__ import annotations

from typing import Any

from domain.outbox.delivery import Delivery, DeliveryStatus
from projections.deadlines.evolve import sort_key
from projections.platform.store import Doc


def listing_key(status: str, created_sort_key: str, delivery_id: str) -> str:
    """Rows sort by status, then age: a status filter is one index range."""
    return f"{status}|{created_sort_key}|{delivery_id}"


def _with_status(row: Doc, status: DeliveryStatus, next_at: Any = None) -> Doc:
    return {
        **row,
        "status": status.value,
        "nextAttemptAt": next_at.isoformat() if next_at is not None else None,
        "listingKey": listing_key(status.value, row["createdKey"], row["id"]),
    }


def _attempt(row: Doc, at: Any, outcome: str, detail: str | None) -> list[Doc]:
    return [*row["attempts"], {"at": at.isoformat(), "outcome": outcome, "detail": detail}]


def evolve(row: Doc | None, event: Any) -> Doc | None:
    if isinstance(event, Delivery.Queued):
        base: Doc = {
            "id": str(event.originator_id),
            "tenantId": str(event.tenant_id) if event.tenant_id else None,
            "channel": event.channel,
            "recipientId": str(event.recipient_id) if event.recipient_id else None,
            "createdAt": event.timestamp.isoformat(),
            "createdKey": sort_key(event.timestamp),
            "attempts": [],
        }
        return _with_status(base, DeliveryStatus.PENDING, event.timestamp)
    if row is None:
        return None
    if isinstance(event, Delivery.AttemptStarted):
        started = {**row, "attempts": _attempt(row, event.timestamp, "started", None)}
        return _with_status(started, DeliveryStatus.PENDING, event.lease_until)
    if isinstance(event, Delivery.Sent):
        detail = ", ".join(event.receipt) or None
        sent = {**row, "attempts": _attempt(row, event.timestamp, "sent", detail)}
        return _with_status(sent, DeliveryStatus.SENT)
    if isinstance(event, Delivery.AttemptFailed):
        failed = {**row, "attempts": _attempt(row, event.timestamp, "failed", event.error)}
        return _with_status(failed, DeliveryStatus.FAILED, event.retry_at)
    if isinstance(event, Delivery.Died):
        return _with_status(row, DeliveryStatus.DEAD)
    if isinstance(event, Delivery.Skipped):
        skipped = {**row, "attempts": _attempt(row, event.timestamp, "skipped", event.reason)}
        return _with_status(skipped, DeliveryStatus.SKIPPED)
    if isinstance(event, Delivery.Redelivered):
        return _with_status(row, DeliveryStatus.PENDING, event.timestamp)
    return row
