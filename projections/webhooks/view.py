"""Queries of the webhooks read model: every list is an index range of a sorted table."""

from __future__ import annotations

from projections.platform.store import Doc, ReadStore
from projections.webhooks.evolve import KEY, delivery_doc, key_range, public
from projections.webhooks.projection import (
    DELIVERIES,
    SUBSCRIPTIONS,
    TRIGGERS,
    WebhookProjection,
)

PAGE = 500
_SEP = "|"


class WebhookView:
    name = WebhookProjection.name

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def _range(self, table: str, prefix: str) -> list[Doc]:
        after, below = key_range(prefix)
        rows: list[Doc] = []
        while True:
            page = self.store.page(table, None, after, below, PAGE)
            rows.extend(page)
            if len(page) < PAGE:
                return rows
            after = page[-1][KEY]

    def subscription(self, subscription_id: str) -> Doc | None:
        """`{id, tenantId, url, events, active, createdAt}` of any tenant; never the
        secret (the read model does not hold it)."""
        row = self.store.get(SUBSCRIPTIONS, subscription_id)
        return None if row is None else public(row)

    def subscriptions(self, tenant_id: str) -> list[Doc]:
        """The tenant's subscriptions, active or not, oldest first."""
        return [public(r) for r in self._range(SUBSCRIPTIONS, f"{tenant_id}{_SEP}")]

    def subscriptions_of(self, tenant_id: str, trigger: str) -> list[str]:
        """Ids of the tenant's active subscriptions that want `trigger`: one index range
        of the trigger index."""
        prefix = f"{tenant_id}{_SEP}{trigger}{_SEP}"
        return [r["subscriptionId"] for r in self._range(TRIGGERS, prefix)]

    def deliveries(
        self, subscription_id: str, cursor: str | None, limit: int
    ) -> tuple[list[Doc], str | None]:
        """The subscription's deliveries, newest first, each with every attempt
        (`{id, event, status, attempts: [{at, outcome, detail}], nextAttemptAt,
        createdAt}`): up to `limit` after `cursor` (the previous page's next cursor; one
        of another subscription starts over), and the next cursor, or None on the last
        page."""
        if limit < 1:
            raise ValueError("a page holds at least one row")
        prefix = f"{subscription_id}{_SEP}"
        start, below = key_range(prefix)
        after = cursor if cursor is not None and cursor.startswith(prefix) else start
        rows = self.store.page(DELIVERIES, None, after, below, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return [delivery_doc(r) for r in rows], (rows[-1][KEY] if more else None)
