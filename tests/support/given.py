"""Given / when / then for aggregates, without a database.

`given(aggregate, *steps)` runs the steps, then rebuilds the aggregate from every event
so far, as the store would on the next load: the test's "when" acts on replayed state and
starts with no pending events. `new_events(aggregate)` is the "then": what the "when"
recorded, and nothing from the "given".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from domain.shared.aggregate import CareLoopAggregate

A = TypeVar("A", bound=CareLoopAggregate)

Step = Callable[[Any], object]


def replay(events: Sequence[Any]) -> Any:
    """The aggregate these events make, folded from nothing."""
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def given(aggregate: A, *steps: Step) -> A:
    for step in steps:
        step(aggregate)
    rebuilt = replay(aggregate.collect_events())
    assert isinstance(rebuilt, type(aggregate))
    return rebuilt


def new_events(aggregate: CareLoopAggregate) -> list[Any]:
    """The events recorded since `given` (or since the last call); clears them, as saving
    would."""
    return list(aggregate.collect_events())


def names(events: list[Any]) -> list[str]:
    return [type(e).__qualname__ for e in events]
