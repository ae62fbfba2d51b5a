"""Durable deadlines: the vocabulary every context uses for its timers.

A deadline is (kind, id, due time, payload): `id` names the aggregate whose deadline it
is, and an aggregate has at most one deadline of a kind. An aggregate sets, moves and
clears its deadline with its own events: an event class that mixes in `SetsDeadline`
says which deadline it leaves behind (`next_deadline()`, or None to clear it). The deadlines
read model folds those events into rows with an indexed due time; a worker fires what
falls due. Firing is a command that names the due time it was scheduled for, so a stale
or duplicate wake-up finds the deadline moved or gone and does nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol


@dataclass(frozen=True)
class Deadline:
    kind: str
    id: uuid.UUID
    due_at: datetime
    tenant_id: uuid.UUID | None = None
    payload: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return deadline_key(self.kind, self.id)


def deadline_key(kind: str, aggregate_id: uuid.UUID) -> str:
    return f"{kind}:{aggregate_id}"


class SetsDeadline:
    """Mixed into an aggregate event: the deadline of kind `deadline_kind` that the event
    leaves its aggregate with. The default clears it."""

    deadline_kind: ClassVar[str]

    def next_deadline(self) -> Deadline | None:
        return None


class Elapsing(Protocol):
    """An aggregate whose deadline fires through its own command: `elapse` records that
    the deadline it was scheduled for has passed, or does nothing if that deadline is no
    longer current (moved, cleared, fired already) or not yet due."""

    def elapse(self, scheduled_for: datetime, at: datetime) -> None: ...
