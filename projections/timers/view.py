from __future__ import annotations

from datetime import datetime

from projections.platform.store import Doc, ReadStore
from projections.timers.projection import OPEN, WINDOWS, TimerProjection


class TimerView:
    name = TimerProjection.name

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def due(self, now: datetime) -> list[Doc]:
        """Open windows whose deadline has passed, earliest first."""
        rows = [r for r in self.store.list(OPEN) if datetime.fromisoformat(r["deadline"]) <= now]
        return sorted(rows, key=lambda r: r["deadline"])

    def open_count(self) -> int:
        return len(self.store.list(OPEN))

    def window(self, window_id: str) -> Doc | None:
        return self.store.get(WINDOWS, window_id)
