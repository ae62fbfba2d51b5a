"""The deadlines read model: every pending deadline of every kind, indexed by due time.

It folds the events of the aggregates it is given (every nested event class that mixes
in `SetsDeadline`), so a context with timers registers its aggregate and nothing here
changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from domain.shared.deadlines import SetsDeadline
from projections.deadlines.evolve import evolve, key_of
from projections.platform.projection import Batch, Projection

DEADLINES = "deadline"


def deadline_events(aggregates: Iterable[type[Any]]) -> tuple[type[Any], ...]:
    """The event classes of `aggregates` that set or clear a deadline."""
    found = {
        value
        for aggregate in aggregates
        for value in vars(aggregate).values()
        if isinstance(value, type) and issubclass(value, SetsDeadline)
    }
    return tuple(sorted(found, key=lambda cls: cls.__qualname__))


class DeadlineProjection(Projection):
    name = "deadlines"
    tables = (DEADLINES,)
    sorted_by: ClassVar[Mapping[str, str]] = {DEADLINES: "sortKey"}

    def __init__(self, timed_aggregates: Iterable[type[Any]]) -> None:
        self.handles = deadline_events(timed_aggregates)

    def apply(self, batch: Batch, event: Any, position: int) -> None:
        key = key_of(event)
        row = evolve(batch.get(DEADLINES, key), event)
        if row is None:
            batch.delete(DEADLINES, key)
        else:
            batch.put(DEADLINES, key, row["tenantId"], row)
