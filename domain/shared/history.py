"""An aggregate's history as JSON: its events, and its state at any version or time.

Nothing here knows an aggregate type. State is the aggregate's own attributes
(`vars(aggregate)` without the library's private fields), events are their own fields
without the envelope the log keeps (id, version, timestamp, metadata); both are rendered
by one generic function, so an aggregate or event added later answers too
(docs/decisions/0024-history-endpoints.md). A read replays from the aggregate's nearest
stored snapshot, so a long stream's cold read stays short
(docs/decisions/0027-history-snapshots.md).
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import enum
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Protocol

from domain.privacy.personal import PersonalText, sealed_json

JSON = Any

# The envelope of a stored event: the log serves these beside `data`, not inside it.
ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "metadata"})


def camel(name: str) -> str:
    """`finalized_at` -> `finalizedAt`; a name already in camelCase is kept."""
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def to_json(value: object) -> JSON:
    """Any value an aggregate or event holds, as JSON: attribute and dataclass field names
    in camelCase; dict keys are data, so they are kept (as strings)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, PersonalText):
        # Kept sealed, as in a read-model row: whoever answers opens it (reveal), so no
        # cache holds a patient's plaintext and an erasure shows at once.
        return sealed_json(value) if value.sealed is not None else value.text
    if isinstance(value, float):
        return value
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {camel(f.name): to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(to_json(k)): to_json(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((to_json(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    dump = getattr(value, "model_dump", None)  # a pydantic model
    if callable(dump):
        return to_json(dump())
    if hasattr(value, "__dict__"):
        return attributes(value)
    return str(value)


def attributes(obj: object, leave_out: frozenset[str] = frozenset()) -> dict[str, JSON]:
    """An object's public attributes, rendered: private ones (`_id`, `_version`,
    `_pending_events`, ... of the library) and `leave_out` are not state."""
    return {
        camel(name): to_json(value)
        for name, value in vars(obj).items()
        if not name.startswith("_") and name not in leave_out
    }


def state_of(aggregate: object) -> dict[str, JSON]:
    return attributes(aggregate)


def data_of(event: object) -> dict[str, JSON]:
    return attributes(event, ENVELOPE)


def type_name(obj: object) -> str:
    """`Workout.Finalized`: an event's class named within its aggregate's."""
    return type(obj).__qualname__


class Source(Protocol):
    """Where the events of one aggregate come from: (position, event) after a version, up
    to another when given (`EventLog.positioned_events`)."""

    def __call__(
        self, aggregate_id: uuid.UUID, after_version: int, until_version: int | None = None, /
    ) -> Sequence[tuple[int, Any]]: ...


# The aggregate restored from its nearest snapshot at or below a version (None: its last),
# or None to replay from the first event (`EventLog.nearest_snapshot`).
Snapshots = Callable[[uuid.UUID, int | None], Any | None]


class _FromSource:
    """The default: the snapshots of the log the source is a method of, if it has any."""


FROM_SOURCE = _FromSource()


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """An aggregate at one version, rendered: immutable, so it can be cached and shared."""

    aggregate_id: uuid.UUID
    aggregate_type: str
    version: int
    recorded_at: datetime
    tenant_id: uuid.UUID | None
    state: dict[str, JSON]


@dataclasses.dataclass(frozen=True)
class _Stream:
    """What is known of one aggregate's stream: the live aggregate at the last version read
    (new events replay on a copy of it), rendered; and the timestamps of the versions seen
    so far (`stamps`, only ever added to, under the lock), which `asOf` bisects."""

    aggregate: Any
    snapshot: Snapshot
    stamps: dict[int, datetime]

    @property
    def version(self) -> int:
        return self.snapshot.version


class NotYetError(LookupError):
    """The aggregate did not exist at that version or time (or at all)."""


class History:
    """Replays aggregates to a version or a time, from their nearest stored snapshot, and
    caches what it has replayed.

    A read at version N starts from the aggregate's last snapshot at or below N (every
    `EventLog.snapshot_interval` versions) and replays the events after it, so a cold read
    of a long stream replays at most an interval's worth. The current state is the last
    snapshot plus the events after it; later reads ask the log only for events after the
    last version known (one indexed query, empty when nothing changed). An `asOf` time is
    found by bisecting the versions' timestamps, each read once with a point query.
    Events are immutable, so a rendered state at (aggregate, version) never goes stale: it
    is cached in an LRU bounded by `capacity`, and `streams` aggregates are tracked.
    """

    def __init__(
        self,
        source: Source,
        capacity: int = 1024,
        streams: int = 256,
        snapshots: Snapshots | _FromSource | None = FROM_SOURCE,
    ) -> None:
        if isinstance(snapshots, _FromSource):
            # `History(log.positioned_events)`: that log's snapshots, when it keeps them.
            snapshots = getattr(getattr(source, "__self__", None), "nearest_snapshot", None)
        self._source = source
        self._snapshots = snapshots
        self._capacity = capacity
        self._stream_capacity = streams
        self._states: OrderedDict[tuple[uuid.UUID, int], Snapshot] = OrderedDict()
        self._streams: OrderedDict[uuid.UUID, _Stream] = OrderedDict()
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forgets every cached state: what erasing a patient's key must call, or the
        cache would go on serving the plaintext it rendered before."""
        with self._lock:
            self._states.clear()
            self._streams.clear()

    def current(self, aggregate_id: uuid.UUID) -> Snapshot:
        return self._stream(aggregate_id).snapshot

    def at_version(self, aggregate_id: uuid.UUID, version: int) -> Snapshot:
        if version < 1:
            raise NotYetError(aggregate_id)
        stream = self._stream(aggregate_id)
        if version > stream.version:
            raise NotYetError(aggregate_id)
        return self._state(aggregate_id, version, stream)

    def as_of(self, aggregate_id: uuid.UUID, at: datetime) -> Snapshot:
        """The state after the last event whose timestamp is at or before `at`."""
        stream = self._stream(aggregate_id)
        version = self._version_at(aggregate_id, at, stream)
        if version == 0:
            raise NotYetError(aggregate_id)
        return self._state(aggregate_id, version, stream)

    def _stream(self, aggregate_id: uuid.UUID) -> _Stream:
        with self._lock:
            stream = self._streams.get(aggregate_id)
            if stream is not None:
                self._streams.move_to_end(aggregate_id)
        if stream is not None:
            new = self._source(aggregate_id, stream.version)
            if not new:
                return stream
            # The cached aggregate is shared with concurrent readers: replay on a copy.
            aggregate = self._replay(copy.deepcopy(stream.aggregate), new)
            stamps = stream.stamps
        else:
            aggregate = self._restore(aggregate_id, None)
            new = self._source(aggregate_id, aggregate.version if aggregate else 0)
            if aggregate is None and not new:
                raise NotYetError(aggregate_id)
            aggregate = self._replay(aggregate, new)
            stamps = {}
        snapshot = render(aggregate_id, aggregate)
        fresh = _Stream(aggregate, snapshot, stamps)
        with self._lock:
            self._learn(fresh, aggregate, new)
            current = self._streams.get(aggregate_id)
            if current is None or current.version < fresh.version:
                self._streams[aggregate_id] = fresh
                self._streams.move_to_end(aggregate_id)
                while len(self._streams) > self._stream_capacity:
                    self._streams.popitem(last=False)
            self._remember(snapshot)
        return fresh

    def _state(self, aggregate_id: uuid.UUID, version: int, stream: _Stream) -> Snapshot:
        if version == stream.version:
            return stream.snapshot
        key = (aggregate_id, version)
        with self._lock:
            cached = self._states.get(key)
            if cached is not None:
                self._states.move_to_end(key)
                return cached
        aggregate = self._restore(aggregate_id, version)
        new = self._source(aggregate_id, aggregate.version if aggregate else 0, version)
        aggregate = self._replay(aggregate, new)
        snapshot = render(aggregate_id, aggregate)
        with self._lock:
            self._learn(stream, aggregate, new)
            self._remember(snapshot)
        return snapshot

    def _restore(self, aggregate_id: uuid.UUID, version: int | None) -> Any | None:
        return self._snapshots(aggregate_id, version) if self._snapshots else None

    @staticmethod
    def _replay(aggregate: Any, events: Sequence[tuple[int, Any]]) -> Any:
        for _, event in events:
            aggregate = event.mutate(aggregate)
        return aggregate

    @staticmethod
    def _learn(stream: _Stream, aggregate: Any, events: Sequence[tuple[int, Any]]) -> None:
        # Under the lock: the timestamps a replay has just seen.
        stream.stamps[int(aggregate.version)] = aggregate.modified_on
        for _, event in events:
            stream.stamps[event.originator_version] = event.timestamp

    def _version_at(self, aggregate_id: uuid.UUID, at: datetime, stream: _Stream) -> int:
        """The last version recorded at or before `at` (0: none). Timestamps of one stream
        never decrease (the injected clock, one writer per version), so it is found by
        bisection, reading each timestamp it does not know yet with a point query."""
        if stream.snapshot.recorded_at <= at:
            return stream.version
        low, high = 0, stream.version - 1
        while low < high:
            middle = (low + high + 1) // 2
            if self._stamp(aggregate_id, middle, stream) <= at:
                low = middle
            else:
                high = middle - 1
        return low

    def _stamp(self, aggregate_id: uuid.UUID, version: int, stream: _Stream) -> datetime:
        with self._lock:
            known = stream.stamps.get(version)
        if known is not None:
            return known
        found = self._source(aggregate_id, version - 1, version)
        if not found:
            raise NotYetError(aggregate_id)
        stamp: datetime = found[0][1].timestamp
        with self._lock:
            stream.stamps[version] = stamp
        return stamp

    def _remember(self, snapshot: Snapshot) -> None:
        key = (snapshot.aggregate_id, snapshot.version)
        self._states[key] = snapshot
        self._states.move_to_end(key)
        while len(self._states) > self._capacity:
            self._states.popitem(last=False)


def render(aggregate_id: uuid.UUID, aggregate: Any) -> Snapshot:
    """An aggregate as a snapshot: its type, version, last change and state."""
    tenant = getattr(aggregate, "tenant_id", None)
    return Snapshot(
        aggregate_id=aggregate_id,
        aggregate_type=type_name(aggregate),
        version=int(aggregate.version),
        recorded_at=aggregate.modified_on,
        tenant_id=tenant if isinstance(tenant, uuid.UUID) else None,
        state=state_of(aggregate),
    )
