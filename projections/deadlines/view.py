"""Queries of the deadlines read model: what is due, and when the next one is."""

from __future__ import annotations

from datetime import datetime

from domain.shared.deadlines import Deadline
from projections.deadlines.evolve import sort_key, to_deadline
from projections.deadlines.projection import DEADLINES, DeadlineProjection
from projections.platform.store import ReadStore


class DeadlineView:
    name = DeadlineProjection.name

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def due(self, now: datetime, limit: int = 1000) -> list[Deadline]:
        """Deadlines due at `now`, earliest first: reads only due rows (indexed)."""
        return [to_deadline(row) for row in self.store.upto(DEADLINES, sort_key(now), limit)]

    def next_due(self) -> datetime | None:
        row = self.store.first(DEADLINES)
        return None if row is None else datetime.fromisoformat(row["dueAt"])

    def get(self, key: str) -> Deadline | None:
        row = self.store.get(DEADLINES, key)
        return None if row is None else to_deadline(row)
