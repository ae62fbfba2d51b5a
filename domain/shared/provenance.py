"""Provenance: the chain of events that caused a thing, followed back through causation ids.

A thing (any aggregate) is explained by the event that created it; each event names its
immediate cause in its metadata's `causationId`:

- `event:<position>`: a process manager reacted to that event: follow it, then its cause;
- `deadline:<kind>:<aggregate id>@<due>`: a deadline fired: follow the event of that
  aggregate that set it (the latest one before the firing whose `next_deadline()` is due
  then; failing that, the aggregate's latest event before the firing), then its cause;
- `request:<id>`, None, or anything else: the chain ends there; the request itself is
  named by the oldest entry's `causationId`.

Pure: events come from a small reader (the event log in production, a list in tests).
See docs/decisions/0025-provenance.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

MAX_CHAIN = 100

EVENT_CAUSE = "event:"
DEADLINE_CAUSE = "deadline:"


class EventReader(Protocol):
    """Where provenance reads the log: two indexed queries."""

    def events_of(self, aggregate_id: uuid.UUID) -> Sequence[tuple[int, Any]]:
        """The aggregate's stored events with their log positions, oldest first."""
        ...

    def event_at(self, position: int) -> Any | None:
        """The stored event at that log position, or None."""
        ...


@dataclass(frozen=True)
class Step:
    """One event of a provenance chain, with the metadata that names who and why."""

    position: int
    aggregate_id: uuid.UUID
    aggregate_type: str
    type: str
    recorded_at: datetime
    actor_id: str | None
    role: str | None
    correlation_id: str | None
    causation_id: str | None


def step(position: int, event: Any) -> Step:
    meta = getattr(event, "metadata", None)
    meta = meta if isinstance(meta, dict) else {}
    type_name = type(event).__qualname__
    return Step(
        position=position,
        aggregate_id=event.originator_id,
        aggregate_type=type_name.split(".")[0],
        type=type_name,
        recorded_at=event.timestamp,
        actor_id=meta.get("actorId"),
        role=meta.get("role"),
        correlation_id=meta.get("correlationId"),
        causation_id=meta.get("causationId"),
    )


def trace(reader: EventReader, aggregate_id: uuid.UUID, limit: int = MAX_CHAIN) -> list[Step]:
    """The causal chain of the aggregate, oldest first, ending with the event that created
    it; empty if there is no such aggregate. At most `limit` steps; a cycle ends it."""
    events = reader.events_of(aggregate_id)
    return trace_from(reader, *events[0], limit=limit) if events else []


def trace_from(
    reader: EventReader, position: int, event: Any, limit: int = MAX_CHAIN
) -> list[Step]:
    """The causal chain ending with `event`, stored at `position`: `trace` for a caller
    that has read the thing's events already."""
    chain = [step(position, event)]
    seen = {position}
    while len(chain) < limit:
        found = cause_of(reader, chain[-1])
        if found is None or found[0] in seen:
            break
        seen.add(found[0])
        chain.append(step(*found))
    chain.reverse()
    return chain


def cause_of(reader: EventReader, effect: Step) -> tuple[int, Any] | None:
    """The event named by `effect`'s causation id, with its position; None at a request,
    a system path, an unreadable id or an event no longer found."""
    cause = effect.causation_id or ""
    if cause.startswith(EVENT_CAUSE):
        try:
            position = int(cause.removeprefix(EVENT_CAUSE))
        except ValueError:
            return None
        event = reader.event_at(position)
        return (position, event) if event is not None else None
    if cause.startswith(DEADLINE_CAUSE):
        parsed = parse_deadline_cause(cause)
        if parsed is None:
            return None
        kind, aggregate_id, due = parsed
        return deadline_setter(reader, kind, aggregate_id, due, before=effect.position)
    return None


def parse_deadline_cause(cause: str) -> tuple[str, uuid.UUID, datetime] | None:
    """`deadline:<kind>:<aggregate id>@<due ISO time>` -> (kind, id, due), or None."""
    key, at, due_text = cause.removeprefix(DEADLINE_CAUSE).rpartition("@")
    kind, colon, id_text = key.rpartition(":")
    if not at or not colon:
        return None
    try:
        return kind, uuid.UUID(id_text), datetime.fromisoformat(due_text)
    except ValueError:
        return None


def deadline_setter(
    reader: EventReader, kind: str, aggregate_id: uuid.UUID, due: datetime, before: int
) -> tuple[int, Any] | None:
    """The event of the aggregate that set the deadline that fired at position `before`:
    the latest earlier one that left the deadline due at `due`; failing that (an event
    stored before deadlines were named), the aggregate's latest earlier event."""
    earlier = [(p, e) for p, e in reader.events_of(aggregate_id) if p < before]
    for position, event in reversed(earlier):
        if _sets(event, kind, due):
            return position, event
    return earlier[-1] if earlier else None


def _sets(event: Any, kind: str, due: datetime) -> bool:
    next_deadline = getattr(event, "next_deadline", None)
    if not callable(next_deadline) or getattr(event, "deadline_kind", kind) != kind:
        return False
    try:
        deadline = next_deadline()
    except Exception:  # an old event missing a field its rule reads: not this one
        return False
    return deadline is not None and getattr(deadline, "due_at", None) == due
