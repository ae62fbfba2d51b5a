"""Snapshots for the history reads (domain/shared/eventlog.py, decision 0027), on an
SQLite file: taken at every multiple of the interval after a save,
restoring a state identical to a replay (types included), and never failing a save."""

from __future__ import annotations

import codecs
import enum
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.domain import event
from eventsourcing.persistence import Transcoding
from hypothesis import given
from hypothesis import strategies as st

from domain.shared.aggregate import CareLoopAggregate
from domain.shared.eventlog import EventLog, StateSnapshot, pack, same, unpack
from domain.shared.history import History

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


class Kind(enum.StrEnum):
    A = "a"


@dataclass(frozen=True)
class Span:
    days: tuple[int, ...]
    since: date


@dataclass(frozen=True)
class Secret:
    """Stands in for a sealed personal text: a type with a transcoding of its own."""

    text: str


class SecretAsRot13(Transcoding):
    type = Secret
    name = "test_secret"

    def encode(self, obj: Secret) -> str:
        return codecs.encode(obj.text, "rot13")

    def decode(self, data: str) -> Secret:
        return Secret(codecs.decode(data, "rot13"))


class Opaque:
    """A value a snapshot cannot restore attribute by attribute."""

    __slots__ = ("x",)

    def __init__(self, x: int) -> None:
        self.x = x


class Chart(CareLoopAggregate):
    """State JSON would lose: a tuple, a set, an int-keyed dict, enums, a dataclass with a
    tuple field, a date and a timedelta."""

    @event("Opened")
    def __init__(self, tenant_id: uuid.UUID | None, timestamp: datetime) -> None:
        self.tenant_id = tenant_id
        self.pair: tuple[int, str] = (0, "")
        self.tags: set[str] = set()
        self.by_number: dict[int, Level] = {}
        self.kind = Kind.A
        self.spans: list[Span] = []
        self.rest = timedelta(0)
        self.extra: Any = None

    @event("Noted")
    def note(self, n: int, timestamp: datetime) -> None:
        self.pair = (n, f"n{n}")
        self.tags.add(f"t{n % 3}")
        self.by_number[n] = Level.HIGH if n % 2 else Level.LOW
        self.spans.append(Span((n, n + 1), date(2026, 1, 1) + timedelta(days=n)))
        self.rest += timedelta(seconds=n)

    @event("Obscured")
    def obscure(self, timestamp: datetime) -> None:
        self.extra = Opaque(1)

    @event("Confided")
    def confide(self, secret: Secret, timestamp: datetime) -> None:
        self.extra = {"secret": secret}


def at(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def chart(log: EventLog, notes: int, per_save: int = 1) -> Chart:
    c = Chart(uuid.uuid4(), timestamp=T0)
    for n in range(1, notes + 1):
        c.note(n, timestamp=at(n))
        if n % per_save == 0:
            log.save(c)
    log.save(c)
    return c


def snapshot_versions(log: EventLog, aggregate_id: uuid.UUID) -> list[int]:
    return [s.originator_version for s in log.state_snapshots.get(aggregate_id)]


@pytest.fixture
def log(tmp_path: Path) -> Iterator[EventLog]:
    log = EventLog(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(tmp_path / "events.sqlite3"),
            "SNAPSHOT_INTERVAL": "5",
        }
    )
    yield log
    log.close()


def test_a_save_snapshots_each_multiple_of_the_interval_it_reaches(log: EventLog) -> None:
    c = chart(log, 11)  # versions 1..12, one save each
    assert snapshot_versions(log, c.id) == [5, 10]
    d = chart(log, 16, per_save=8)  # saves of 8 versions: one reaches 5, the next 10 and 15
    assert snapshot_versions(log, d.id) == [5, 10, 15]


def test_a_snapshot_restores_the_state_a_replay_gives_with_its_types(log: EventLog) -> None:
    c = chart(log, 12)
    for version in (5, 10):
        restored = log.nearest_snapshot(c.id, version + 2)
        replayed: Chart = log.repository.get(c.id, version=version)
        assert restored is not None and restored.version == version
        assert same(vars(restored), vars(replayed))
        assert type(restored.pair) is tuple and type(restored.kind) is Kind
        assert isinstance(restored.spans[0].days, tuple)
        assert next(iter(restored.by_number)) == 1  # an int key, not "1"
    assert log.repository.snapshot_store is None  # commands still replay from the events


def test_no_snapshot_at_a_version_below_the_first(log: EventLog) -> None:
    c = chart(log, 7)
    assert log.nearest_snapshot(c.id, 4) is None
    assert log.nearest_snapshot(c.id, None) is not None


def test_a_failing_snapshot_store_never_fails_the_save(
    log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(log.state_snapshots.recorder, "insert_events", refuse)
    c = chart(log, 12)
    assert log.repository.get(c.id).version == 13
    assert snapshot_versions(log, c.id) == []


def test_a_state_a_snapshot_cannot_hold_is_not_snapshotted_and_the_save_stands(
    log: EventLog,
) -> None:
    c = Chart(None, timestamp=T0)
    c.obscure(timestamp=at(1))
    for n in range(2, 6):
        c.note(n, timestamp=at(n))
    log.save(c)
    assert log.repository.get(c.id).version == 6
    assert snapshot_versions(log, c.id) == []


def test_a_value_with_a_transcoding_of_its_own_is_stored_by_it_as_in_the_events(
    log: EventLog,
) -> None:
    log.mapper.transcoder.register(SecretAsRot13())  # type: ignore[attr-defined]
    c = Chart(None, timestamp=T0)
    c.confide(Secret("hello patient"), timestamp=at(1))
    for n in range(2, 5):
        c.note(n, timestamp=at(n))
    log.save(c)
    [stored] = log.state_snapshots.recorder.select_events(c.id)
    assert b"hello patient" not in stored.state and b"uryyb cngvrag" in stored.state
    restored = log.nearest_snapshot(c.id)
    assert restored is not None and restored.extra == {"secret": Secret("hello patient")}


def test_an_unreadable_snapshot_means_a_replay_from_the_first_event(log: EventLog) -> None:
    c = chart(log, 6)
    stored = list(log.state_snapshots.recorder.select_events(c.id))
    log.state_snapshots.recorder.insert_events(
        [type(s)(c.id, s.originator_version + 1, "nowhere:Gone", s.state) for s in stored]
    )
    assert log.nearest_snapshot(c.id, None) is None
    history = History(log.positioned_events)
    assert (
        history.at_version(c.id, 7).state
        == History(log.positioned_events, snapshots=None).at_version(c.id, 7).state
    )


def test_history_reads_from_the_logs_snapshots_and_agrees_with_a_replay(log: EventLog) -> None:
    c = chart(log, 23)
    history = History(log.positioned_events)  # the log's snapshots, found from its method
    assert history._snapshots is not None
    for version in range(1, 25):
        expected = History(log.positioned_events, snapshots=None).at_version(c.id, version)
        assert history.at_version(c.id, version) == expected
        assert history.as_of(c.id, at(version - 1)) == expected


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.uuids()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.datetimes(timezones=st.just(UTC))
    | st.dates()
    | st.timedeltas()
    | st.binary(max_size=4)
    | st.sampled_from(Level)
    | st.sampled_from(Kind),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.frozensets(st.integers() | st.text(max_size=3), max_size=3)
        | st.sets(st.integers(), max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        | st.dictionaries(st.integers() | st.uuids() | st.sampled_from(Level), inner, max_size=3)
        | st.fixed_dictionaries({"_type_": inner, "_data_": inner})
        | st.builds(Span, st.lists(st.integers(), max_size=3).map(tuple), st.dates())
    ),
    max_leaves=12,
)


@given(value=values)
def test_any_value_packs_through_the_logs_json_and_back_the_same(value: Any) -> None:
    transcoder = EventLog().mapper.transcoder
    assert same(unpack(transcoder.decode(transcoder.encode(pack(value)))), value)


def test_same_tells_types_apart() -> None:
    assert not same((1,), [1])
    assert not same({1: "a"}, {"1": "a"})
    assert not same(Kind.A, "a")
    assert not same({"a": 1, "b": 2}, {"b": 2, "a": 1})  # the order renders differently
    assert same(Span((1,), date(2026, 1, 1)), Span((1,), date(2026, 1, 1)))
    assert same(float("nan"), float("nan"))
    assert same(Decimal("1.0"), Decimal("1.0"))


def test_a_snapshot_is_timestamped_with_the_aggregates_last_change(log: EventLog) -> None:
    c = chart(log, 3)
    assert StateSnapshot.take(c).timestamp == at(3)
