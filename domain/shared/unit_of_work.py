"""A unit of work: the aggregates one command loads and changes, saved atomically.

Loading goes through `get`, which is where tenant isolation is enforced for the whole
write side: an aggregate of another tenant is indistinguishable from one that does not
exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import TypeVar

from eventsourcing.persistence import Tracking

from domain.shared.aggregate import CareLoopAggregate
from domain.shared.clock import Clock, IdSource
from domain.shared.context import Actor, CommandContext
from domain.shared.errors import NotFoundError
from domain.shared.eventlog import EventLog

A = TypeVar("A", bound=CareLoopAggregate)


class UnitOfWork:
    def __init__(self, log: EventLog, ctx: CommandContext, clock: Clock, ids: IdSource) -> None:
        self.log = log
        self.ctx = ctx
        self._clock = clock
        self._ids = ids
        self.now: datetime = clock.now()
        self._changed: dict[uuid.UUID, CareLoopAggregate] = {}
        self._read: dict[uuid.UUID, object] = {}

    @property
    def actor(self) -> Actor:
        return self.ctx.actor

    def new_id(self) -> uuid.UUID:
        return self._ids.new_id()

    def find(self, cls: type[A], aggregate_id: uuid.UUID, shared: bool = False) -> A | None:
        """The aggregate, or None if it does not exist, is another type, or is in a
        tenant the actor may not see. With `shared`, a platform-level aggregate (no
        tenant: a global plan or exercise) is visible to every tenant too."""
        if aggregate_id in self._changed:
            cached = self._changed[aggregate_id]
            return cached if isinstance(cached, cls) else None
        if aggregate_id not in self._read:
            # One load per aggregate per command: later reads see the same object.
            self._read[aggregate_id] = self.log.find(aggregate_id)
        aggregate = self._read[aggregate_id]
        if not isinstance(aggregate, cls):
            return None
        if shared and aggregate.tenant_id is None:
            return aggregate
        if not self.actor.can_see_tenant(aggregate.tenant_id):
            return None
        return aggregate

    def preload(self, aggregate_ids: Iterable[uuid.UUID]) -> None:
        """Load many aggregates in one read, ahead of `find`/`get` (which then read
        nothing more for them). Tenant isolation still applies at `find`."""
        missing = [i for i in aggregate_ids if i not in self._read and i not in self._changed]
        if not missing:
            return
        found = self.log.find_many(missing)
        for aggregate_id in missing:
            self._read[aggregate_id] = found.get(aggregate_id)

    def get(
        self, cls: type[A], aggregate_id: uuid.UUID, what: str | None = None, shared: bool = False
    ) -> A:
        aggregate = self.find(cls, aggregate_id, shared)
        if aggregate is None:
            raise NotFoundError(f"No {what or cls.__name__.lower()} with id {aggregate_id}.")
        self._changed[aggregate_id] = aggregate
        return aggregate

    def add(self, aggregate: CareLoopAggregate) -> None:
        self._changed[aggregate.id] = aggregate

    def stamp(self, ctx: CommandContext) -> None:
        """Attribute the events pending so far (and not yet attributed) to `ctx`: one unit
        of work can carry several reactions, each naming its own cause."""
        for aggregate in self._changed.values():
            self.log.stamp(aggregate, ctx, self.now, only_new=True)

    def commit(self, tracking: Tracking | None = None) -> int | None:
        """Save every pending event atomically, with a follower's `tracking` position if
        given; the highest position written, or None."""
        changed = [a for a in self._changed.values() if a.pending_events]
        if not changed:
            if tracking is not None:
                self.log.track(tracking)
            return None
        return self.log.record(changed, self.ctx, self._clock.now(), tracking)
