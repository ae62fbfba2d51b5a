"""Queries of the notifications read model: a user's notifications are one index range
(docs/decisions/0033-indexed-reads.md)."""

from __future__ import annotations

from projections.notifications.evolve import KEY, partition
from projections.notifications.projection import NOTIFICATIONS, NotificationProjection
from projections.platform.store import Doc, ReadStore

PAGE = 100


class NotificationView:
    name = NotificationProjection.name

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def page(
        self, recipient_id: str, cursor: str | None, limit: int
    ) -> tuple[list[Doc], str | None]:
        """Up to `limit` of one user's notifications, newest first, after `cursor` (the
        previous page's next cursor: the key of its last row; one of another user starts
        over), and the next cursor, or None on the last page. Keyset pagination: a
        notification created meanwhile sorts before every page already read, so none is
        skipped or shown twice. The caller checks the tenant."""
        if limit < 1:
            raise ValueError("a page holds at least one row")
        start, below = partition(recipient_id)
        after = cursor if cursor is not None and start < cursor < below else start
        rows = self.store.page(NOTIFICATIONS, None, after, below, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (rows[-1][KEY] if more else None)

    def of_recipient(self, recipient_id: str, limit: int = PAGE) -> list[Doc]:
        """One user's newest notifications, newest first."""
        return self.page(recipient_id, None, limit)[0]

    def notification(self, notification_id: str) -> Doc | None:
        return self.store.get(NOTIFICATIONS, notification_id)
