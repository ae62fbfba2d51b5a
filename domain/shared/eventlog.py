"""The one ordered log of a deployment, on `eventsourcing` 9.5.6.

Every aggregate of every bounded context is saved here, so every projection and process
manager sees one total order and tracks one position. Version 9.5.6 has no event metadata,
so CareLoop stamps a `metadata` mapping onto each pending event just before it is saved:
the library's mapper serialises an event's `vars()`, so the mapping is stored inside the
event's state, and on the way back the mapper restores it as the same attribute. The
aggregates' mutators only take the keyword arguments their methods name, so replay ignores it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Notification
from eventsourcing.utils import Environment, EnvType

from domain.shared.aggregate import CareLoopAggregate
from domain.shared.context import CommandContext

A = TypeVar("A", bound=CareLoopAggregate)

METADATA_KEYS = ("actorId", "role", "tenantId", "correlationId", "causationId", "recordedAt")


def build_metadata(
    ctx: CommandContext, tenant_id: uuid.UUID | None, recorded_at: datetime
) -> dict[str, Any]:
    return {
        "actorId": str(ctx.actor.user_id),
        "role": ctx.actor.role.value,
        "tenantId": str(tenant_id) if tenant_id else None,
        "correlationId": ctx.correlation_id,
        "causationId": ctx.causation_id,
        "recordedAt": recorded_at.isoformat(),
    }


class EventLog(Application[uuid.UUID]):
    """The deployment's single application: one table, one sequence of positions."""

    name = "CareLoop"
    # Pages of 500 read ~6x faster than the library's default of 10.
    log_section_size = 500

    def __init__(self, env: EnvType | None = None) -> None:
        super().__init__(env)
        self._listeners: list[Callable[[int], None]] = []
        self._listeners_lock = threading.Lock()

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        # Unlike the library default, never read os.environ: CareLoop's settings class is
        # the one place configuration comes from, and it passes everything in `env`.
        return Environment(name, dict(env or {}))

    # -- writing ---------------------------------------------------------------------

    def record(
        self,
        aggregates: Sequence[CareLoopAggregate],
        ctx: CommandContext,
        recorded_at: datetime,
    ) -> int | None:
        """Save the pending events of `aggregates` atomically, each stamped with metadata.

        Returns the highest position written, or None when there was nothing to write.
        Raises the library's RecordConflictError when another writer got there first.
        """
        for aggregate in aggregates:
            meta = build_metadata(ctx, aggregate.tenant_id or ctx.actor.tenant_id, recorded_at)
            for pending in aggregate.pending_events:
                object.__setattr__(pending, "metadata", meta)
        recordings = self.save(*aggregates)
        if not recordings:
            return None
        position = max(r.notification.id for r in recordings)
        self._tell_listeners(position)
        return position

    def add_listener(self, listener: Callable[[int], None]) -> None:
        """Called, in the writing thread, with the new head after each local commit."""
        with self._listeners_lock:
            self._listeners.append(listener)

    def _tell_listeners(self, position: int) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(position)

    # -- reading ---------------------------------------------------------------------

    def find(self, aggregate_id: uuid.UUID, version: int | None = None) -> Any | None:
        try:
            return self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            return None

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def read(
        self,
        after: int,
        limit: int,
        stop: int | None = None,
        topics: Iterable[str] = (),
    ) -> Sequence[Notification]:
        """Notifications with `after < position <= stop`, oldest first."""
        return self.recorder.select_notifications(
            start=after,
            limit=limit,
            stop=stop,
            topics=list(topics),
            inclusive_of_start=False,
        )

    def decode(self, notification: Notification) -> DomainEventProtocol[uuid.UUID]:
        return self.mapper.to_domain_event(notification)

    def stream(self, aggregate_id: uuid.UUID) -> list[DomainEventProtocol[uuid.UUID]]:
        return list(self.events.get(aggregate_id))


def metadata_of(event: object) -> Mapping[str, Any]:
    meta = getattr(event, "metadata", None)
    return meta if isinstance(meta, dict) else {}
