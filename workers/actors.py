"""CareLoop's Dramatiq actors, declared one way: bound to a broker and a runtime.

There is one kind: `fire_deadlines`, the wake-up for a chunk of due deadlines of one
kind, declared once per queue the deadline handlers name (`deadlines`, `outbox`), so that
slow deliveries never queue ahead of a window's deadline. A message is only a wake-up:
the deadlines stay in the deadlines read model until they fire, and the scheduler sends
them again if this message is lost.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import dramatiq

from domain.shared.deadlines import Deadline
from workers.deadlines import fire

if TYPE_CHECKING:
    from bootstrap.runtime import Runtime

WireDeadline = list[str]  # [aggregate id, due at (ISO), correlation id]


def to_wire(deadline: Deadline) -> WireDeadline:
    return [
        str(deadline.id),
        deadline.due_at.isoformat(),
        str(deadline.payload.get("correlationId") or ""),
    ]


def from_wire(kind: str, item: WireDeadline) -> Deadline:
    aggregate_id, due_at, correlation = item
    payload = {"correlationId": correlation} if correlation else {}
    return Deadline(kind, uuid.UUID(aggregate_id), datetime.fromisoformat(due_at), None, payload)


FireDeadlines = dramatiq.Actor[[str, list[WireDeadline]], None]


@dataclass(frozen=True)
class Actors:
    fire_deadlines: dict[str, FireDeadlines]  # by queue

    def for_kind(self, runtime: Runtime, kind: str) -> FireDeadlines:
        return self.fire_deadlines[runtime.deadline_handlers[kind].queue]


def declare_actors(broker: dramatiq.Broker, runtime: Runtime) -> Actors:
    def fire_deadlines(kind: str, items: list[WireDeadline]) -> None:
        fire(runtime.deadline_handlers, kind, [from_wire(kind, item) for item in items])

    queues = sorted({handler.queue for handler in runtime.deadline_handlers.values()})
    return Actors(
        {
            queue: dramatiq.actor(
                broker=broker,
                actor_name=f"fire_deadlines_{queue}",
                queue_name=queue,
                # A failed chunk is not retried by Dramatiq: its deadlines are still due,
                # and the scheduler sends them again.
                max_retries=0,
            )(fire_deadlines)
            for queue in queues
        }
    )
