"""Queries of the notifications read model."""

from __future__ import annotations

from datetime import datetime

from projections.notifications.projection import NOTIFICATIONS, NotificationProjection
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
