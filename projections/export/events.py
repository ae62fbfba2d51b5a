"""Events as rows: position, originator, version, topic, type, timestamp, the metadata as
columns (domain/shared/eventlog.py `build_metadata`) and the payload as JSON text."""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa

from domain.privacy.personal import PersonalText
from domain.shared.eventlog import metadata_of
from projections.export.personal import PersonalMode, shown_value

_TS = pa.timestamp("us", tz="UTC")

# (metadata key, column, type): the keys every stored event carries, and the two of a
# command that names an audited action.
METADATA_COLUMNS: tuple[tuple[str, str, pa.DataType], ...] = (
    ("tenantId", "tenant_id", pa.string()),
    ("actorId", "actor_id", pa.string()),
    ("role", "role", pa.string()),
    ("correlationId", "correlation_id", pa.string()),
    ("causationId", "causation_id", pa.string()),
    ("recordedAt", "recorded_at", _TS),
    ("action", "action", pa.string()),
    ("actionStatus", "action_status", pa.int64()),
)
_COLUMNED = frozenset(key for key, _, _ in METADATA_COLUMNS)
# The envelope: what is a column of its own, not part of the payload.
_ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "metadata"})

EVENTS_SCHEMA = pa.schema(
    [
        ("position", pa.int64()),
        ("originator_id", pa.string()),
        ("originator_version", pa.int64()),
        ("topic", pa.string()),
        ("type", pa.string()),
        ("timestamp", _TS),
        *[(column, kind) for _, column, kind in METADATA_COLUMNS],
        # Metadata keys not listed above (none today), so a new key is never dropped.
        ("other_metadata", pa.string()),
        ("payload", pa.string()),
    ]
)


def type_name(topic: str) -> str:
    """`domain.workouts.workout:Workout.Finalized` -> `Workout.Finalized`."""
    return topic.rpartition(":")[2]


class EventRows:
    """Collects events as columns, for one record batch at a time."""

    def __init__(self, mode: PersonalMode) -> None:
        self.mode = mode
        self._columns: dict[str, list[Any]] = {name: [] for name in EVENTS_SCHEMA.names}

    def __len__(self) -> int:
        return len(self._columns["position"])

    def add(self, position: int, topic: str, event: object) -> None:
        state = vars(event)
        meta = metadata_of(event)
        c = self._columns
        c["position"].append(position)
        c["originator_id"].append(_text(state.get("originator_id")))
        c["originator_version"].append(state.get("originator_version"))
        c["topic"].append(topic)
        c["type"].append(type_name(topic))
        c["timestamp"].append(_instant(state.get("timestamp")))
        for key, column, kind in METADATA_COLUMNS:
            value = meta.get(key)
            if kind == _TS:
                value = _instant(value)
            elif kind == pa.int64():
                value = value if isinstance(value, int) else None
            else:
                value = _text(value)
            c[column].append(value)
        other = {k: v for k, v in meta.items() if k not in _COLUMNED}
        c["other_metadata"].append(self.json(other) if other else None)
        c["payload"].append(self.json({k: v for k, v in state.items() if k not in _ENVELOPE}))

    def batch(self) -> pa.RecordBatch:
        """The events added since the last batch, as one record batch; starts a new one."""
        batch = pa.RecordBatch.from_pydict(self._columns, schema=EVENTS_SCHEMA)
        for values in self._columns.values():
            values.clear()
        return batch

    def json(self, value: Mapping[str, Any]) -> str:
        try:
            return json.dumps(value, default=self._default, separators=(",", ":"))
        except TypeError:
            # A mapping with keys JSON cannot hold (a UUID, an int-keyed dict in a
            # payload): normalised the slow way, keys as text.
            return json.dumps(self._plain(value), default=self._default, separators=(",", ":"))

    def _default(self, value: Any) -> Any:
        if isinstance(value, PersonalText):
            return shown_value(value, self.mode)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        if isinstance(value, uuid.UUID | Decimal):
            return str(value)
        if isinstance(value, datetime | date | time):
            return value.isoformat()
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, set | frozenset):
            return sorted(value, key=repr)
        if isinstance(value, bytes):
            return base64.b64encode(value).decode("ascii")
        dump = getattr(value, "model_dump", None)  # a pydantic model
        if callable(dump):
            return dump(mode="json")
        if hasattr(value, "__dict__"):
            return {k: v for k, v in vars(value).items() if not k.startswith("_")}
        return str(value)

    def _plain(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {_key(k): self._plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._plain(v) for v in value]
        if isinstance(value, PersonalText) or not dataclasses.is_dataclass(value):
            return value
        return self._plain(self._default(value))


def _key(key: Any) -> str:
    if isinstance(key, enum.Enum):
        return str(key.value)
    return str(key)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _instant(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    return value if isinstance(value, datetime) else None
