"""An aggregate's history as JSON: its events, and its state at any version or time.

Nothing here knows an aggregate type. State is the aggregate's own attributes
(`vars(aggregate)` without the library's private fields), events are their own fields
without the envelope the log keeps (id, version, timestamp, metadata); both are rendered
by one generic function, so an aggregate or event added later answers too
(docs/decisions/0024-history-endpoints.md).
"""

from __future__ import annotations

import base64
import bisect
import copy
import dataclasses
import enum
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

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


# Where the events of one aggregate come from: (position, event) after a version.
Source = Callable[[uuid.UUID, int], Sequence[tuple[int, Any]]]


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """An aggregate at one version, rendered: immutable, so it can be cached and shared."""

    aggregate_id: uuid.UUID
    aggregate_type: str
    version: int
    recorded_at: datetime
    tenant_id: uuid.UUID | None
    state: dict[str, JSON]


@dataclasses.dataclass
class _Timeline:
    """What is known of one aggregate's stream: each version's timestamp, and the live
    aggregate at the last version read (so new events replay on top of it)."""

    timestamps: list[datetime]
    aggregate: Any
    snapshot: Snapshot


class NotYetError(LookupError):
    """The aggregate did not exist at that version or time (or at all)."""


class History:
    """Replays aggregates to a version or a time, caching what it has replayed.

    Events are immutable, so a rendered state at (aggregate, version) never goes stale;
    each read asks the log only for events after the last version it knows (one indexed
    query, empty when nothing changed). A read at an older version than the last known
    replays from the start once and is then cached, in an LRU bounded by `capacity`.
    """

    def __init__(self, source: Source, capacity: int = 1024, streams: int = 256) -> None:
        self._source = source
        self._capacity = capacity
        self._stream_capacity = streams
        self._states: OrderedDict[tuple[uuid.UUID, int], Snapshot] = OrderedDict()
        self._timelines: OrderedDict[uuid.UUID, _Timeline] = OrderedDict()
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forgets every cached state: what erasing a patient's key must call, or the
        cache would go on serving the plaintext it rendered before."""
        with self._lock:
            self._states.clear()
            self._timelines.clear()

    def current(self, aggregate_id: uuid.UUID) -> Snapshot:
        return self._timeline(aggregate_id).snapshot

    def at_version(self, aggregate_id: uuid.UUID, version: int) -> Snapshot:
        if version < 1:
            raise NotYetError(aggregate_id)
        timeline = self._timeline(aggregate_id)
        if version > len(timeline.timestamps):
            raise NotYetError(aggregate_id)
        return self._state(aggregate_id, version, timeline)

    def as_of(self, aggregate_id: uuid.UUID, at: datetime) -> Snapshot:
        """The state after the last event whose timestamp is at or before `at`."""
        timeline = self._timeline(aggregate_id)
        # Timestamps of one stream never decrease (the injected clock, one writer per
        # version), so the last event at or before `at` is found by bisection.
        version = bisect.bisect_right(timeline.timestamps, at)
        if version == 0:
            raise NotYetError(aggregate_id)
        return self._state(aggregate_id, version, timeline)

    def _timeline(self, aggregate_id: uuid.UUID) -> _Timeline:
        with self._lock:
            timeline = self._timelines.get(aggregate_id)
            if timeline is not None:
                self._timelines.move_to_end(aggregate_id)
        known = len(timeline.timestamps) if timeline else 0
        new = self._source(aggregate_id, known)
        if not new:
            if timeline is None:
                raise NotYetError(aggregate_id)
            return timeline
        aggregate = timeline.aggregate if timeline else None
        timestamps = list(timeline.timestamps) if timeline else []
        if timeline is not None:
            # The cached aggregate is shared with concurrent readers: replay on a copy.
            aggregate = copy.deepcopy(aggregate)
        for _, event in new:
            aggregate = event.mutate(aggregate)
            timestamps.append(event.timestamp)
        snapshot = render(aggregate_id, aggregate)
        fresh = _Timeline(timestamps, aggregate, snapshot)
        with self._lock:
            current = self._timelines.get(aggregate_id)
            if current is None or len(current.timestamps) < len(timestamps):
                self._timelines[aggregate_id] = fresh
                self._timelines.move_to_end(aggregate_id)
                while len(self._timelines) > self._stream_capacity:
                    self._timelines.popitem(last=False)
            self._remember(snapshot)
        return fresh

    def _state(self, aggregate_id: uuid.UUID, version: int, timeline: _Timeline) -> Snapshot:
        if version == timeline.snapshot.version:
            return timeline.snapshot
        key = (aggregate_id, version)
        with self._lock:
            cached = self._states.get(key)
            if cached is not None:
                self._states.move_to_end(key)
                return cached
        aggregate = None
        for _, event in self._source(aggregate_id, 0)[:version]:
            aggregate = event.mutate(aggregate)
        snapshot = render(aggregate_id, aggregate)
        with self._lock:
            self._remember(snapshot)
        return snapshot

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
