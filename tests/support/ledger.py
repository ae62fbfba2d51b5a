"""A test read model that records every event it is given: one row per log position,
counting how many times that position was applied, so tests can compare what a
projection saw with what the log holds and catch any double or missed application."""

from __future__ import annotations

from typing import Any, ClassVar

from projections.platform.projection import Batch, Projection
from projections.platform.store import ReadStore

TABLE = "ledger"


class Ledger(Projection):
    """Folds every event of the log (no topics: no filter)."""

    name = "ledger"
    tables = (TABLE,)
    handles: ClassVar[tuple[type[Any], ...]] = ()

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        key = f"{position:012d}"
        row = batch.get(TABLE, key)
        batch.put(
            TABLE,
            key,
            None,
            {
                "id": key,
                "position": position,
                "originator": str(event.originator_id),
                "topic": type(event).__qualname__,
                "applied": (row["applied"] if row else 0) + 1,
            },
        )


class SimulatedCrashError(RuntimeError):
    pass


class CrashingLedger(Ledger):
    """A ledger whose process dies while folding its `crash_on`-th event (1-based)."""

    def __init__(self, crash_on: int) -> None:
        self.crash_on = crash_on
        self.applied = 0

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        self.applied += 1
        if self.applied == self.crash_on:
            raise SimulatedCrashError(f"crashed while folding position {position}")
        super().apply(batch, event, position)


def ledger_rows(store: ReadStore) -> list[dict[str, Any]]:
    return store.list(TABLE)


def applied_counts(store: ReadStore) -> dict[int, int]:
    """Log position -> how many times the ledger applied it."""
    return {int(row["position"]): int(row["applied"]) for row in store.list(TABLE)}
