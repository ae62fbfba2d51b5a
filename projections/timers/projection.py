from __future__ import annotations

from typing import Any

from domain.workouts.window import FeedbackWindow
from projections.platform.projection import Batch, Projection
from projections.timers.evolve import evolve

WINDOWS = "feedback_window"
# Only the open windows, so the sweep reads what it may have to fire and nothing else.
OPEN = "open_window"


class TimerProjection(Projection):
    """Coalescing windows and, separately, the open ones the sweep checks."""

    name = "timers"
    tables = (WINDOWS, OPEN)
    handles = (
        FeedbackWindow.Opened,
        FeedbackWindow.Extended,
        FeedbackWindow.Reopened,
        FeedbackWindow.Closed,
    )

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        key = str(event.originator_id)
        row = evolve(batch.get(WINDOWS, key), event)
        if row is None:
            return
        batch.put(WINDOWS, key, row["tenantId"], row)
        if row["open"]:
            batch.put(OPEN, key, None, row)
        else:
            batch.delete(OPEN, key)
