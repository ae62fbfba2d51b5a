"""Queries of the notifications read model."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.notifications.notification import DeliveryStatus
from projections.notifications.projection import (
    NOTIFICATIONS,
    OUTBOX,
    NotificationProjection,
)
from projections.platform.store import Doc, ReadStore


class NotificationView:
    name = NotificationProjection.name

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def of_recipient(self, recipient_id: str) -> list[Doc]:
        """One user's notifications, newest first. The caller checks the tenant."""
        rows = self.store.list(NOTIFICATIONS, recipient_id)
        rows.sort(key=lambda n: (datetime.fromisoformat(n["createdAt"]), n["id"]), reverse=True)
        return rows

    def notification(self, notification_id: str) -> Doc | None:
        return self.store.get(NOTIFICATIONS, notification_id)

    def due(
        self, now: datetime, stale_after_seconds: float = 60.0, retry_grace_seconds: float = 5.0
    ) -> list[Doc]:
        """What a sweep should (re)deliver, oldest first: retries whose `retryAt` passed
        more than `retry_grace_seconds` ago, and notifications still queued
        `stale_after_seconds` after they were created. Both mean the message meant to
        deliver them was most likely lost; the grace keeps the sweep from racing the
        delayed message that is about to arrive (two attempts at once push twice).
        Rows are the outbox entries {id, tenantId, status, createdAt, retryAt}."""
        stale = timedelta(seconds=stale_after_seconds)
        grace = timedelta(seconds=retry_grace_seconds)
        due = []
        for entry in self.store.list(OUTBOX):
            at = _due_at(entry, stale, grace)
            if at is not None and at <= now:
                due.append((at, entry["id"], entry))
        due.sort(key=lambda d: (d[0], d[1]))
        return [entry for _, _, entry in due]


def _due_at(entry: Doc, stale: timedelta, grace: timedelta) -> datetime | None:
    if entry["status"] == DeliveryStatus.RETRYING.value and entry["retryAt"]:
        return datetime.fromisoformat(entry["retryAt"]) + grace
    if entry["status"] == DeliveryStatus.QUEUED.value:
        return datetime.fromisoformat(entry["createdAt"]) + stale
    return None
