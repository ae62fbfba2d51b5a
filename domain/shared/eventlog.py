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

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    JSONTranscoder,
    Notification,
    ProcessRecorder,
    StoredEvent,
    Tracking,
)
from eventsourcing.utils import Environment, EnvType

from domain.shared.aggregate import CareLoopAggregate
from domain.shared.context import CommandContext
from domain.shared.payloads import register_payloads

A = TypeVar("A", bound=CareLoopAggregate)

METADATA_KEYS = ("actorId", "role", "tenantId", "correlationId", "causationId", "recordedAt")


def build_metadata(
    ctx: CommandContext, tenant_id: uuid.UUID | None, recorded_at: datetime
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "actorId": str(ctx.actor.user_id),
        "role": ctx.actor.role.value,
        "tenantId": str(tenant_id) if tenant_id else None,
        "correlationId": ctx.correlation_id,
        "causationId": ctx.causation_id,
        "recordedAt": recorded_at.isoformat(),
    }
    if ctx.action is not None:
        meta["action"] = ctx.action
        meta["actionStatus"] = ctx.action_status
    return meta


class TrackingConflictError(RuntimeError):
    """Another follower recorded this position first; nothing of this save was written."""


class EventLog(Application[uuid.UUID]):
    """The deployment's single application: one table, one sequence of positions."""

    name = "CareLoop"
    # Pages of 500 read ~6x faster than the library's default of 10.
    log_section_size = 500

    def __init__(self, env: EnvType | None = None) -> None:
        super().__init__(env)
        self._listeners: list[Callable[[int], None]] = []
        self._listeners_lock = threading.Lock()

    def construct_recorder(self) -> ApplicationRecorder:
        # A process recorder: the same events table, plus a tracking table whose rows a
        # reaction commits in the same transaction as the events it causes.
        return self.factory.process_recorder()

    @property
    def process_recorder(self) -> ProcessRecorder:
        recorder = self.recorder
        assert isinstance(recorder, ProcessRecorder)
        return recorder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_payloads(transcoder)

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
        tracking: Tracking | None = None,
    ) -> int | None:
        """Save the pending events of `aggregates` atomically, each stamped with metadata,
        and with them `tracking`: a follower's new position, which then commits if and
        only if these events do.

        Returns the highest position written, or None when there was nothing to write.
        Raises the library's RecordConflictError when another writer got there first,
        whether to an aggregate version or to this tracking position.
        """
        for aggregate in aggregates:
            self.stamp(aggregate, ctx, recorded_at, only_new=True)
        if tracking is None:
            recordings = self.save(*aggregates)
        else:
            processing: ProcessingEvent[uuid.UUID] = ProcessingEvent(tracking)
            processing.collect_events(*aggregates)
            if not processing.events:
                self.track(tracking)
                return None
            recordings = self._record(processing)
        if not recordings:
            return None
        position = max(r.notification.id for r in recordings)
        self._tell_listeners(position)
        return position

    @staticmethod
    def stamp(
        aggregate: CareLoopAggregate, ctx: CommandContext, at: datetime, only_new: bool
    ) -> None:
        """Stamp metadata onto the aggregate's pending events (those without any, when
        `only_new`)."""
        pending = aggregate.pending_events
        if only_new:
            pending = [event for event in pending if "metadata" not in vars(event)]
        if not pending:
            return
        meta = build_metadata(ctx, aggregate.tenant_id or ctx.actor.tenant_id, at)
        for event in pending:
            object.__setattr__(event, "metadata", meta)

    def track(self, tracking: Tracking) -> None:
        """Record a follower's position alone (events it reacted to without acting)."""
        try:
            self.process_recorder.insert_tracking(tracking)
        except IntegrityError as e:
            raise TrackingConflictError(str(e)) from e

    def tracked(self, follower: str) -> int:
        """How far `follower` has reacted: the position it last recorded, or 0."""
        return self.process_recorder.max_tracking_id(follower) or 0

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

    def find_many(self, aggregate_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
        """The current state of many aggregates, read in one query: the ones that exist.

        What `find` does one aggregate at a time (one round trip each), for the reactions
        that load the same few aggregates of each of fifty events. The library has no
        such query, so this is its two recorders' SQL; events decode through the
        application's mapper, as `find`'s do."""
        ids = list(dict.fromkeys(aggregate_ids))
        if not ids:
            return {}
        recorder = self.recorder
        table = getattr(recorder, "events_table_name", "stored_events")
        columns = "originator_id, originator_version, topic, state"
        rows: list[tuple[Any, int, str, bytes]] = []
        if self._on_sqlite:
            for start in range(0, len(ids), 500):
                chunk = [i.hex for i in ids[start : start + 500]]
                marks = ",".join("?" * len(chunk))
                statement = (
                    f"SELECT {columns} FROM {table} WHERE originator_id IN ({marks}) "
                    "ORDER BY originator_id, originator_version"
                )
                with recorder.datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
                    c.execute(statement, chunk)
                    rows += [(uuid.UUID(r[0]), r[1], r[2], r[3]) for r in c.fetchall()]
        else:
            schema = recorder.datastore.schema  # type: ignore[attr-defined]
            query = (
                f'SELECT {columns} FROM "{schema}"."{table}" WHERE originator_id = ANY(%s) '
                "ORDER BY originator_id, originator_version"
            )
            with recorder.datastore.get_connection() as conn, conn.cursor() as curs:  # type: ignore[attr-defined]
                curs.execute(query, (ids,))
                rows += [
                    (r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"]))
                    for r in curs.fetchall()
                ]
        found: dict[uuid.UUID, Any] = {}
        for originator_id, version, topic, state in rows:
            stored = StoredEvent(originator_id, version, topic, state)
            event = self.mapper.to_domain_event(stored)
            found[originator_id] = event.mutate(found.get(originator_id))  # type: ignore[attr-defined]
        return found

    @property
    def _on_sqlite(self) -> bool:
        return self.factory.__class__.__module__.endswith("sqlite")

    def position_of(self, aggregate_id: uuid.UUID, version: int = 1) -> int | None:
        """The log position of one stored event of an aggregate (its creation, by default),
        or None. The library exposes no such query, so this is its two recorders' SQL."""
        recorder = self.recorder
        table = getattr(recorder, "events_table_name", "stored_events")
        if self._on_sqlite:
            statement = f"SELECT rowid FROM {table} WHERE originator_id=? AND originator_version=?"
            with recorder.datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
                c.execute(statement, (aggregate_id.hex, version))
                row = c.fetchone()
            return int(row[0]) if row else None
        schema = recorder.datastore.schema  # type: ignore[attr-defined]
        query = (
            f'SELECT notification_id FROM "{schema}"."{table}" '
            "WHERE originator_id=%s AND originator_version=%s"
        )
        with recorder.datastore.get_connection() as conn, conn.cursor() as curs:  # type: ignore[attr-defined]
            curs.execute(query, (aggregate_id, version))
            found = curs.fetchone()
        return int(found["notification_id"]) if found else None

    def positioned_events(
        self, aggregate_id: uuid.UUID, after_version: int = 0
    ) -> list[tuple[int, DomainEventProtocol[uuid.UUID]]]:
        """An aggregate's stored events after `after_version`, oldest first, each with its
        log position: one query on the (originator_id, originator_version) key. The
        library's `select_events` drops the position, so this is its recorders' SQL."""
        recorder = self.recorder
        table = getattr(recorder, "events_table_name", "stored_events")
        columns = "originator_version, topic, state"
        rows: list[tuple[int, int, str, bytes]] = []
        if self._on_sqlite:
            statement = (
                f"SELECT rowid, {columns} FROM {table} "
                "WHERE originator_id=? AND originator_version>? ORDER BY originator_version"
            )
            with recorder.datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
                c.execute(statement, (aggregate_id.hex, after_version))
                rows = [(int(r[0]), int(r[1]), r[2], r[3]) for r in c.fetchall()]
        else:
            schema = recorder.datastore.schema  # type: ignore[attr-defined]
            query = (
                f'SELECT notification_id, {columns} FROM "{schema}"."{table}" '
                "WHERE originator_id=%s AND originator_version>%s ORDER BY originator_version"
            )
            with recorder.datastore.get_connection() as conn, conn.cursor() as curs:  # type: ignore[attr-defined]
                curs.execute(query, (aggregate_id, after_version))
                rows = [
                    (
                        int(r["notification_id"]),
                        int(r["originator_version"]),
                        r["topic"],
                        bytes(r["state"]),
                    )
                    for r in curs.fetchall()
                ]
        return [
            (position, self.mapper.to_domain_event(StoredEvent(aggregate_id, v, topic, state)))
            for position, v, topic, state in rows
        ]

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
