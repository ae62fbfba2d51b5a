"""The one ordered log of a deployment, on `eventsourcing` 9.5.6.

Every aggregate of every bounded context is saved here, so every projection and process
manager sees one total order and tracks one position. Version 9.5.6 has no event metadata,
so CareLoop stamps a `metadata` mapping onto each pending event just before it is saved:
the library's mapper serialises an event's `vars()`, so the mapping is stored inside the
event's state, and on the way back the mapper restores it as the same attribute. The
aggregates' mutators only take the keyword arguments their methods name, so replay ignores it.

After each commit, every aggregate that reached a multiple of `snapshot_interval` versions
gets a snapshot of its replayed state in the library's snapshot table, so a history read
replays at most that many events (docs/decisions/0027-history-snapshots.md). Commands
never read snapshots: they replay their aggregates from the events, as before.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import logging
import threading
import uuid
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Self, TypeVar

import orjson
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import (
    Aggregate,
    BaseAggregate,
    DomainEventProtocol,
    MutableOrImmutableAggregate,
    Snapshot,
)
from eventsourcing.persistence import (
    ApplicationRecorder,
    EventStore,
    IntegrityError,
    JSONTranscoder,
    Notification,
    ProcessRecorder,
    Recording,
    StoredEvent,
    Tracking,
    Transcoder,
    Transcoding,
    UUIDAsHex,
)
from eventsourcing.utils import Environment, EnvType, get_topic, resolve_topic

from domain.shared.aggregate import CareLoopAggregate
from domain.shared.context import CommandContext
from domain.shared.payloads import register_payloads

A = TypeVar("A", bound=CareLoopAggregate)

logger = logging.getLogger(__name__)

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
    # Every aggregate, of any type, is snapshotted at each multiple of this many versions
    # (0: never), so a history read replays at most this many events
    # (docs/decisions/0027-history-snapshots.md). The env key SNAPSHOT_INTERVAL overrides it.
    snapshot_interval = 200
    SNAPSHOT_INTERVAL = "SNAPSHOT_INTERVAL"

    def __init__(self, env: EnvType | None = None) -> None:
        super().__init__(env)
        self._listeners: list[Callable[[int], None]] = []
        self._listeners_lock = threading.Lock()
        interval = self.env.get(self.SNAPSHOT_INTERVAL)
        if interval is not None:
            self.snapshot_interval = int(interval)
        # The library's snapshot table (SQLite `stored_snapshots`, PostgreSQL
        # `careloop_snapshots` in the events' schema), created with the event tables when
        # CREATE_TABLE is on. The library's own snapshotting stays off
        # (IS_SNAPSHOTTING_ENABLED), so the repository, and with it every command, still
        # replays from the events; only the history reads these.
        self.state_snapshots: EventStore[uuid.UUID] = self.factory.event_store(
            mapper=self.mapper, recorder=self.factory.aggregate_recorder(purpose="snapshots")
        )

    # On PostgreSQL, concurrent saves share one transaction, one table lock and one WAL
    # flush (docs/decisions/0031-group-commit.md); "n" gives the library's own recorder.
    GROUP_COMMIT = "GROUP_COMMIT"

    def construct_recorder(self) -> ApplicationRecorder:
        # A process recorder: the same events table, plus a tracking table whose rows a
        # reaction commits in the same transaction as the events it causes.
        from eventsourcing.postgres import PostgresFactory
        from eventsourcing.utils import strtobool

        factory = self.factory
        if isinstance(factory, PostgresFactory) and strtobool(
            self.env.get(self.GROUP_COMMIT) or "y"
        ):
            from domain.shared.group_commit import process_recorder

            return process_recorder(factory)
        return factory.process_recorder()

    @property
    def process_recorder(self) -> ProcessRecorder:
        recorder = self.recorder
        assert isinstance(recorder, ProcessRecorder)
        return recorder

    def construct_transcoder(self) -> Transcoder:
        transcoder = FastJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(UUIDAsHexFast())  # the library's "uuid_hex", read faster
        register_payloads(transcoder)
        transcoder.register(PackedAsList())

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
            self._snapshot(recordings)
        if not recordings:
            return None
        position = max(r.notification.id for r in recordings)
        self._tell_listeners(position)
        return position

    def save(
        self,
        *objs: MutableOrImmutableAggregate[uuid.UUID] | DomainEventProtocol[uuid.UUID] | None,
        **kwargs: Any,
    ) -> list[Recording[uuid.UUID]]:
        """The library's save, then the snapshots it makes due (`_snapshot`)."""
        recordings = super().save(*objs, **kwargs)
        self._snapshot(recordings)
        return recordings

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

    # -- snapshots -------------------------------------------------------------------

    def _snapshot(self, recordings: Sequence[Recording[uuid.UUID]]) -> None:
        """Snapshot each aggregate these committed events took to a multiple of the
        interval. Never raises: the events are committed whatever happens here, and a
        missing snapshot only makes a history read replay further."""
        interval = self.snapshot_interval
        if interval <= 0:
            return
        due: dict[uuid.UUID, list[int]] = {}
        for recording in recordings:
            version = recording.domain_event.originator_version
            if version % interval == 0:
                due.setdefault(recording.domain_event.originator_id, []).append(version)
        for aggregate_id, versions in due.items():
            try:
                self.take_snapshots(aggregate_id, versions)
            except Exception:
                logger.warning(
                    "no snapshot of %s at version %s", aggregate_id, versions, exc_info=True
                )

    def take_snapshots(self, aggregate_id: uuid.UUID, versions: Iterable[int]) -> int:
        """Store the aggregate's state at each of `versions`, replayed from the stored
        events (from the nearest snapshot below), never taken from an object a command
        holds: a snapshot is exactly what a replay gives. Each is checked to restore
        identical before it is stored (`UnfaithfulSnapshotError` otherwise). Returns how
        many were stored."""
        wanted = sorted(set(versions))
        aggregate = self.nearest_snapshot(aggregate_id, wanted[0])
        start = aggregate.version if aggregate is not None else 0
        wanted = [v for v in wanted if v > start]
        if not wanted:
            return 0
        stored: list[StoredEvent] = []
        for event in self.events.get(aggregate_id, gt=start, lte=wanted[-1]):
            aggregate = event.mutate(aggregate)  # type: ignore[attr-defined]
            if aggregate.version in wanted:
                stored.append(self._faithful_snapshot(aggregate))
        if stored:
            self.state_snapshots.recorder.insert_events(stored)
        return len(stored)

    def _faithful_snapshot(self, aggregate: Any) -> StoredEvent:
        transcoded = getattr(self.mapper.transcoder, "types", _AS_IS)
        stored = self.mapper.to_stored_event(StateSnapshot.of(aggregate, transcoded))
        restored = self.mapper.to_domain_event(stored).mutate(None)  # type: ignore[attr-defined]
        if not same(vars(restored), vars(aggregate)):
            raise UnfaithfulSnapshotError(
                f"{type(aggregate).__name__} {aggregate.id} v{aggregate.version} does not "
                "restore identical from a snapshot"
            )
        return stored

    def nearest_snapshot(self, aggregate_id: uuid.UUID, version: int | None = None) -> Any | None:
        """The aggregate restored from its last snapshot at or before `version` (None: its
        last snapshot); None when it has none, or when it cannot be read (a missing table,
        a renamed class), so the caller replays from the first event instead."""
        try:
            found = list(self.state_snapshots.get(aggregate_id, desc=True, limit=1, lte=version))
            return found[0].mutate(None) if found else None  # type: ignore[attr-defined]
        except Exception:
            logger.warning("snapshot of %s unreadable, replaying", aggregate_id, exc_info=True)
            return None

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
        self, aggregate_id: uuid.UUID, after_version: int = 0, until_version: int | None = None
    ) -> list[tuple[int, DomainEventProtocol[uuid.UUID]]]:
        """An aggregate's stored events after `after_version` (up to `until_version`, when
        given), oldest first, each with its log position: one query on the
        (originator_id, originator_version) key. The library's `select_events` drops the
        position, so this is its recorders' SQL."""
        recorder = self.recorder
        table = getattr(recorder, "events_table_name", "stored_events")
        columns = "originator_version, topic, state"
        until = 2**63 - 1 if until_version is None else until_version
        rows: list[tuple[int, int, str, bytes]] = []
        if self._on_sqlite:
            statement = (
                f"SELECT rowid, {columns} FROM {table} WHERE originator_id=? "
                "AND originator_version>? AND originator_version<=? ORDER BY originator_version"
            )
            with recorder.datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
                c.execute(statement, (aggregate_id.hex, after_version, until))
                rows = [(int(r[0]), int(r[1]), r[2], r[3]) for r in c.fetchall()]
        else:
            schema = recorder.datastore.schema  # type: ignore[attr-defined]
            query = (
                f'SELECT notification_id, {columns} FROM "{schema}"."{table}" '
                "WHERE originator_id=%s AND originator_version>%s AND originator_version<=%s "
                "ORDER BY originator_version"
            )
            with recorder.datastore.get_connection() as conn, conn.cursor() as curs:  # type: ignore[attr-defined]
                curs.execute(query, (aggregate_id, after_version, until))
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


# -- reading stored events fast (docs/decisions/0034-catch-up-speed.md) -------------------


class FastJSONTranscoder(JSONTranscoder):
    """The library's JSON transcoder, reading with orjson.

    Writing is the library's own (`json`, compact separators, no ASCII escaping), so the
    stored format does not change at all, and code without this class reads every event
    this one writes. Reading parses with orjson, then restores transcoded values exactly
    as the library's `object_hook` would: innermost first, any dict of exactly the keys
    `_type_` and `_data_` through the transcoding it names. What orjson refuses but
    `json` reads (NaN and Infinity, integers beyond 64 bits) is read by `json`, as before.
    """

    def decode(self, data: bytes) -> Any:
        try:
            return self._restore(orjson.loads(data))
        except (orjson.JSONDecodeError, _BeyondInt64Error):
            return super().decode(data)

    def _restore(self, value: Any) -> Any:
        cls = type(value)
        if cls is dict:
            items: Iterable[tuple[Any, Any]] = value.items()  # same keys: stays valid
        elif cls is list:
            items = enumerate(value)
        else:
            if cls is float and not _FLOAT_SAFE > value > -_FLOAT_SAFE:
                raise _BeyondInt64Error
            return value
        names = self.names
        for key, item in items:
            kind = type(item)
            if kind is dict:
                if len(item) == 2 and "_type_" in item and "_data_" in item:
                    # A transcoded value, inlined (most are): its data first, then it.
                    data = item["_data_"]
                    kind = type(data)
                    if kind is dict or kind is list:
                        data = item["_data_"] = self._restore(data)
                    elif kind is float and not _FLOAT_SAFE > data > -_FLOAT_SAFE:
                        raise _BeyondInt64Error
                    transcoding = names.get(item["_type_"]) if type(item["_type_"]) is str else None
                    value[key] = (
                        self._decode_obj(item) if transcoding is None else transcoding.decode(data)
                    )
                else:
                    self._restore(item)  # an untagged dict is restored in place
            elif kind is list:
                self._restore(item)
            elif kind is float and not _FLOAT_SAFE > item > -_FLOAT_SAFE:
                raise _BeyondInt64Error
        if cls is dict and len(value) == 2 and "_type_" in value and "_data_" in value:
            return self._decode_obj(value)
        return value


# orjson reads an integer beyond 64 bits as a float (json: as an int). `json` writes no
# float of this size without an exponent, but orjson's float cannot tell, so any such
# float (or an infinity) is read again by `json`: rare, exact, and only slower.
_FLOAT_SAFE = float(2**63)


class _BeyondInt64Error(Exception):
    pass


_SAFE_UNKNOWN = uuid.SafeUUID.unknown
_new_object = object.__new__
_set_attribute = object.__setattr__


class UUIDAsHexFast(UUIDAsHex):
    """The library's `uuid_hex` (same name, same stored form), decoding a canonical
    32-digit hex without `UUID.__init__`'s parsing, and each id once: ids are most of an
    event's values, and the same tenant, patient and doctor ids recur from event to event
    (a UUID is immutable, so one object can stand for all of them)."""

    def decode(self, data: str) -> uuid.UUID:
        if type(data) is not str:
            return super().decode(data)
        try:
            return _UUIDS[data]
        except KeyError:
            pass
        if len(data) == 32 and data.isalnum():
            value = _new_object(uuid.UUID)
            _set_attribute(value, "int", int(data, 16))
            _set_attribute(value, "is_safe", _SAFE_UNKNOWN)
        else:
            value = super().decode(data)
        if len(_UUIDS) >= _UUIDS_KEPT:
            _UUIDS.clear()  # a bound on memory; racing threads at worst recompute
        _UUIDS[data] = value
        return value


_UUIDS: dict[str, uuid.UUID] = {}
_UUIDS_KEPT = 100_000


def metadata_of(event: object) -> Mapping[str, Any]:
    meta = getattr(event, "metadata", None)
    return meta if isinstance(meta, dict) else {}


# -- snapshots: an aggregate's state, stored so that it restores identical ----------------


class UnsnapshottableError(TypeError):
    """A value a snapshot cannot hold faithfully (an object with __slots__, a function)."""


class UnfaithfulSnapshotError(ValueError):
    """A snapshot that would not restore the state it was taken of; it is not stored."""


@dataclasses.dataclass(frozen=True)
class Packed:
    """A value JSON would lose, tagged with what it was: a tuple, set or frozenset, a dict
    with keys other than strings, an enum member, a date, time, timedelta or bytes, or an
    object (a dataclass or a plain class) as its class's topic and its attributes."""

    kind: str
    data: Any


class PackedAsList(Transcoding):
    type = Packed
    name = "careloop_packed"

    def encode(self, obj: Packed) -> list[Any]:
        return [obj.kind, obj.data]

    def decode(self, data: list[Any]) -> Packed:
        return Packed(data[0], data[1])


# Stored as themselves: JSON's own types, and those the library's transcoder restores.
# `pack` is told the transcoder's other types (payloads, sealed personal text), which
# then go through their own transcodings, as in the events.
_JSON = frozenset({type(None), bool, int, float, str})
_AS_IS = _JSON | {uuid.UUID, Decimal, datetime}
# The transcoder reads a dict of exactly these keys as a transcoded value.
_TAGS = frozenset({"_type_", "_data_"})


def _has_slots(cls: type) -> bool:
    return any("__slots__" in vars(c) for c in cls.__mro__[:-1])


def _fields(value: object) -> dict[str, Any]:
    """An object's attributes, when it is one a snapshot can restore attribute by
    attribute: a plain class's instance or a dataclass, not a builtin or slotted type."""
    cls = type(value)
    if cls.__module__ != "builtins" and not isinstance(value, type):
        if hasattr(value, "__dict__") and not _has_slots(cls):
            return dict(vars(value))
        if dataclasses.is_dataclass(value) and not hasattr(value, "__dict__"):
            return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise UnsnapshottableError(f"a snapshot cannot hold a {cls.__qualname__}")


def pack(value: Any, transcoded: Container[type] = _AS_IS) -> Any:
    """`value` as JSON and the library's transcoder would store it, with every value they
    would lose or refuse tagged (`Packed`), so that `unpack` gives an identical value.
    Values of the `transcoded` types are left to the transcoder's own transcodings: a
    sealed personal text stays sealed, as it is in the events."""
    cls = type(value)
    if cls in _JSON or cls in transcoded:
        return value
    if cls is list:
        return [pack(v, transcoded) for v in value]
    if cls is dict:
        if all(type(k) is str for k in value) and value.keys() != _TAGS:
            return {k: pack(v, transcoded) for k, v in value.items()}
        pairs = [[pack(k, transcoded), pack(v, transcoded)] for k, v in value.items()]
        return Packed("dict", pairs)
    if cls in (tuple, set, frozenset):
        return Packed(cls.__name__, [pack(v, transcoded) for v in value])
    if isinstance(value, enum.Enum):
        return Packed("enum", [get_topic(cls), pack(value.value, transcoded)])
    if cls in (date, time):
        return Packed(cls.__name__, value.isoformat())
    if cls is timedelta:
        return Packed("timedelta", [value.days, value.seconds, value.microseconds])
    if cls is bytes:
        return Packed("bytes", base64.b64encode(value).decode("ascii"))
    return Packed("object", [get_topic(cls), pack(_fields(value), transcoded)])


def _restore(topic: str, fields: dict[str, Any]) -> Any:
    # As the library restores aggregates and events: no __init__, attributes as stored.
    obj = object.__new__(resolve_topic(topic))
    for name, value in fields.items():
        object.__setattr__(obj, name, value)
    return obj


_UNPACK: dict[str, Callable[[Any], Any]] = {
    "dict": lambda pairs: {unpack(k): unpack(v) for k, v in pairs},
    "tuple": lambda items: tuple(unpack(v) for v in items),
    "set": lambda items: {unpack(v) for v in items},
    "frozenset": lambda items: frozenset(unpack(v) for v in items),
    "enum": lambda data: resolve_topic(data[0])(unpack(data[1])),
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "timedelta": lambda data: timedelta(days=data[0], seconds=data[1], microseconds=data[2]),
    "bytes": base64.b64decode,
    "object": lambda data: _restore(data[0], unpack(data[1])),
}


def unpack(value: Any) -> Any:
    """The value `pack` was given."""
    cls = type(value)
    if cls is list:
        return [unpack(v) for v in value]
    if cls is dict:
        return {k: unpack(v) for k, v in value.items()}
    if cls is Packed:
        return _UNPACK[value.kind](value.data)
    return value


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down: `Role.DOCTOR == "DOCTOR"` and
    `(1,) != [1]` are not the same state, and objects without `__eq__` are compared by
    their attributes."""
    cls = type(a)
    if cls is not type(b):
        return False
    if cls in (list, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if cls is dict:
        # In the same order, with keys of the same types: the state renders the same JSON.
        return list(a) == list(b) and all(
            type(k) is type(j) and same(a[k], b[j]) for k, j in zip(a, b, strict=True)
        )
    if cls is float and a != a:  # NaN
        return bool(b != b)
    if cls in _AS_IS or cls in (set, frozenset, date, time, timedelta, bytes):
        return bool(a == b)
    if isinstance(a, enum.Enum):
        return a is b
    if getattr(cls, "compared_by_value", False):  # PersonalText: opened or not, by its text
        return bool(a == b)
    try:
        return same(_fields(a), _fields(b))
    except UnsnapshottableError:
        return False


class StateSnapshot(Snapshot):
    """An aggregate at one version, as the library's snapshot (same table, same
    `take`/`mutate` protocol) but with the state packed (`pack`), so that tuples, sets,
    enums and int-keyed dicts restore as they were; timestamped with the aggregate's last
    change, so a snapshot depends on the events alone."""

    @classmethod
    def take(cls, aggregate: MutableOrImmutableAggregate[uuid.UUID]) -> Self:
        return cls.of(aggregate, _AS_IS)

    @classmethod
    def of(
        cls, aggregate: MutableOrImmutableAggregate[uuid.UUID], transcoded: Container[type]
    ) -> Self:
        """A snapshot of `aggregate`, leaving values of the `transcoded` types to the
        transcoder (`pack`)."""
        state = dict(vars(aggregate))
        # Kept as keys (the envelope has their values), so the state restores in order.
        for private in ("_id", "_version", "_pending_events"):
            state[private] = None
        packed = pack(state, transcoded)
        class_version = getattr(type(aggregate), "class_version", 1)
        if class_version > 1:
            packed["class_version"] = class_version
        return cls(
            originator_id=aggregate.id,
            originator_version=aggregate.version,
            timestamp=(
                aggregate.modified_on
                if isinstance(aggregate, Aggregate)
                else cls.create_timestamp()
            ),
            topic=get_topic(type(aggregate)),
            state=packed,
        )

    def mutate(self, _: None) -> BaseAggregate[uuid.UUID]:
        aggregate_cls = resolve_topic(self.topic)
        state = unpack(self.state)
        # As the library's snapshots: a newer class version upcasts the old state.
        from_version = state.pop("class_version", 1)
        while from_version < getattr(aggregate_cls, "class_version", 1):
            getattr(aggregate_cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        state["_id"] = self.originator_id
        state["_version"] = self.originator_version
        state["_pending_events"] = []
        aggregate: BaseAggregate[uuid.UUID] = object.__new__(aggregate_cls)
        object.__setattr__(aggregate, "__dict__", state)
        return aggregate
