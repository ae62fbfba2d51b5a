"""Queries of the deliveries read model: a page of one status (or all), by age."""

from __future__ import annotations

from projections.deliveries.projection import DELIVERIES, DeliveryProjection
from projections.platform.store import Doc, ReadStore

_END = "\uffff"


class DeliveryView:
    name = DeliveryProjection.name

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def page(
        self,
        tenant_id: str | None,
        status: str | None,
        channel: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[Doc], str | None]:
        """Up to `limit` deliveries after `cursor` (a listing key), and the next cursor.

        A status is one index range; a channel filter reads on through the range until
        the page is full, so the page is honest even when few rows match."""
        after = cursor or (f"{status}|" if status else "")
        below = f"{status}|{_END}" if status else _END
        items: list[Doc] = []
        while len(items) < limit:
            rows = self.store.page(DELIVERIES, tenant_id, after, below, limit)
            if not rows:
                return items, None
            for row in rows:
                after = row["listingKey"]
                if channel is None or row["channel"] == channel:
                    items.append(row)
                    if len(items) == limit:
                        break
            if len(rows) < limit and len(items) < limit:
                return items, None
        return items, after

    def get(self, delivery_id: str) -> Doc | None:
        return self.store.get(DELIVERIES, delivery_id)
